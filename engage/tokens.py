"""Signed, expiring tokens for links in emails (docs/design.md, "Links carry signed tokens").

A token carries only a random nonce that the database looks up, never an id or an address,
and is signed with a salt per purpose so a token for one link is refused by every other.
"""

import secrets
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing


class TokenInvalid(Exception):
    """Tampered, foreign or malformed."""


class TokenExpired(Exception):
    pass


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


@lru_cache(maxsize=32)
def _signer(purpose: str, key: str, fallback_keys: tuple[str, ...]) -> signing.TimestampSigner:
    # A signer holds no state between calls, so one per purpose and key serves every token
    # of a mailing instead of being built (settings read, salt made) for each.
    return signing.TimestampSigner(key=key, fallback_keys=list(fallback_keys), salt=f"muster.{purpose}")


def _signer_for(purpose: str) -> signing.TimestampSigner:
    """The signer for this purpose under the current keys (tests may change them)."""
    return _signer(purpose, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


def token_make(*, purpose: str, nonce: str) -> str:
    return _signer_for(purpose).sign(nonce)


def token_read(*, purpose: str, token: str, max_age: timedelta) -> str:
    """The nonce inside a valid token, or TokenInvalid / TokenExpired."""
    signer = _signer_for(purpose)
    try:
        return signer.unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
