"""Signed, expiring tokens for links in emails (DESIGN rule 7).

A token carries only a random nonce that the database looks up, never an id or an address,
and is signed with a salt per purpose so a token for one link is refused by every other.
"""

import secrets
from datetime import timedelta

from django.core import signing


class TokenInvalid(Exception):
    """Tampered, foreign or malformed."""


class TokenExpired(Exception):
    pass


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def token_make(*, purpose: str, nonce: str) -> str:
    return signing.TimestampSigner(salt=f"muster.{purpose}").sign(nonce)


def token_read(*, purpose: str, token: str, max_age: timedelta) -> str:
    """The nonce inside a valid token, or TokenInvalid / TokenExpired."""
    signer = signing.TimestampSigner(salt=f"muster.{purpose}")
    try:
        return signer.unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
