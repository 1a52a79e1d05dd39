"""The suppression list: addresses never to be mailed, imported or subscribed again.

An address is kept only as a keyed hash (HMAC-SHA256 under SUPPRESSION_HASH_KEY) of its
normalised form, so the row can outlive the erasure of everything else about the person and
still reveals nothing if the table leaks.

    email_hash(email)          -> the 64-character hex value stored in Suppression.email_hash
    is_suppressed(email)       -> True if the address is on the list
    suppression_add(email=..., reason=Suppression.Reason.HARD_BOUNCE)   (idempotent)
"""

import hashlib
import hmac

from django.conf import settings

from engage.models import Suppression
from engage.normalise import normalise_email


def email_hash(email: str) -> str:
    """The same value for every spelling of one address ("Ada@Example.org " too)."""
    return hmac.new(
        settings.SUPPRESSION_HASH_KEY.encode(), normalise_email(email).encode(), hashlib.sha256
    ).hexdigest()


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def suppressed_hashes(hashes: list[str]) -> set[str]:
    """Which of these hashes are suppressed: one query for a batch (imports)."""
    return set(Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True))


def suppression_add(*, email: str, reason: str) -> Suppression:
    """Suppress an address. Suppressing it again keeps the first reason and date."""
    suppression, _ = Suppression.objects.get_or_create(email_hash=email_hash(email), defaults={"reason": reason})
    return suppression
