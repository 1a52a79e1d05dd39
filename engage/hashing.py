"""The suppression key as HMAC-SHA256's two pads (RFC 2104), so PostgreSQL can compute
engage.suppression.email_hash with its built-in sha256(). Imports nothing from Django, so
settings can use it too (each PostgreSQL connection is given the pads when it starts)."""

import hashlib

# The session setting that carries the pads (hex) to the trigger that stores each supporter's
# hash (engage migration 0005).
PADS_SETTING = "muster.email_hash_pads"


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer keys: 64 bytes each."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_pads_hex(key: str) -> str:
    """The inner pad then the outer pad, as 256 hex digits: the value of PADS_SETTING."""
    inner, outer = hmac_pads(key.encode())
    return (inner + outer).hex()
