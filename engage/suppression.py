"""The suppression list: addresses never to be mailed, imported or subscribed again.

An address is kept only as a keyed hash (HMAC-SHA256 under SUPPRESSION_HASH_KEY) of its
normalised form, so the row can outlive the erasure of everything else about the person and
still reveals nothing if the table leaks. This is the one place that computes the hash; the
writes (suppression_add, supporters_email_hash_fill) are in engage.services.suppression.

    email_digest(email)        -> the 32-byte hash, as Supporter.email_hash stores it
    email_hash(email)          -> its 64-character hex, as Suppression.email_hash stores it
    is_suppressed(email)       -> True if the address is on the list (bulk mail, imports)
    requested_email_blocked(email) -> True if even a confirmation the person just asked for
                                  is not sent (docs/design.md, "What each suppression stops")
    suppressed_hashes(hashes)  -> which of these hex hashes are on the list
"""

import hashlib
import hmac

from django.conf import settings

from engage.models import Suppression
from engage.normalise import normalise_email


def email_digest(email: str) -> bytes:
    """The same value for every spelling of one address ("Ada@Example.org " too)."""
    return hmac.new(settings.SUPPRESSION_HASH_KEY.encode(), normalise_email(email).encode(), hashlib.sha256).digest()


def email_hash(email: str) -> str:
    return email_digest(email).hex()


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def suppressed_hashes(hashes: list[str]) -> set[str]:
    """Which of these hashes are suppressed: one query for a batch (imports)."""
    return set(Suppression.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True))


# A confirmation the person asked for by signing, subscribing or joining again is sent despite
# these reasons: an erased person may come back as new, and a complaint was about mail they did
# not want, not the one email that proves they want this. A bounce (the mailbox does not take
# mail) and an organiser's decision still stop it. docs/design.md, "What each suppression stops".
REQUESTED_EMAIL_ALLOWED = frozenset({Suppression.Reason.ERASED, Suppression.Reason.COMPLAINT})


def suppression_reason(email: str) -> str | None:
    return Suppression.objects.filter(email_hash=email_hash(email)).values_list("reason", flat=True).first()


def requested_email_blocked(email: str) -> bool:
    reason = suppression_reason(email)
    return reason is not None and reason not in REQUESTED_EMAIL_ALLOWED
