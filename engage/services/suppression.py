"""Writes of suppression hashes: the suppression list itself, and the fallback that stores the
hash of a supporter's address where nobody stored it (Supporter.email_hash)."""

from engage.models import Supporter, Suppression
from engage.sql import ids_q, supporters_email_hash_write
from engage.suppression import email_digest, email_hash


def suppression_add(*, email: str, reason: str) -> Suppression:
    """Suppress an address. Suppressing it again keeps the first reason and date."""
    suppression, _ = Suppression.objects.get_or_create(email_hash=email_hash(email), defaults={"reason": reason})
    return suppression


def suppression_erased_lift(*, email: str) -> int:
    """An erased person who came back and confirmed by the emailed link is a new supporter by
    their own act: the erasure's suppression no longer stands for them. Other reasons stay."""
    return Suppression.objects.filter(email_hash=email_hash(email), reason=Suppression.Reason.ERASED).delete()[0]


def supporters_email_hash_fill(*, supporter_ids: list[int] | None = None, limit: int = 20_000) -> int:
    """Store the hash of up to `limit` supporters that have none (only among `supporter_ids` if
    given): rows written by another program (psql, a script), or emptied to re-key the list.
    Muster's own writers store it with the address (engage.models.Supporter).

    The rows are read, hashed here, and each written back only if its address is still the one
    read and its hash still empty, so an address changed meanwhile never gets the old one's
    hash. Called by beat's tick, by a mailing's snapshot and for each claimed chunk before its
    recipients are checked (mailings.services.sending). Returns how many were stored."""
    todo = Supporter.objects.filter(email_hash__isnull=True)
    if supporter_ids is not None:
        todo = todo.filter(ids_q(Supporter, supporter_ids))
    rows = todo.order_by("pk").values_list("pk", "email")[:limit]
    return supporters_email_hash_write([(pk, email, email_digest(email)) for pk, email in rows])
