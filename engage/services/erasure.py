"""Deleting a person and everything every app holds about them (engage.personal_data holds
the registry of what the apps above engage hold).

Erasure deletes the Supporter row last, so every foreign key with on_delete=CASCADE goes with
it, and every SET_NULL (a signature) keeps its anonymous remainder.
"""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet

from engage.audit import audit_record
from engage.models import Affiliate, Supporter, Suppression
from engage.personal_data import sources
from engage.selectors import supporters_unattached
from engage.services.partner_notices import partner_notices_erasure
from engage.services.suppression import suppression_add


def _admin_log_scrub(supporters: QuerySet) -> None:
    """The admin's history names an object by its str(), which for a supporter is the address."""
    rows = list(supporters.values_list("pk", "email"))
    emails = [email for _, email in rows]
    supporter_type = ContentType.objects.get_for_model(Supporter)
    LogEntry.objects.filter(content_type=supporter_type, object_id__in=[str(pk) for pk, _ in rows]).update(
        object_repr="(erased)", change_message=""
    )
    LogEntry.objects.filter(object_repr__in=emails).update(object_repr="(erased)")
    # Other objects may name the address inside their str() ("confirmation to ada@…"). Each
    # search reads the whole history, so it is done for an erasure at someone's request (a
    # few people), not for the thousands the retention rule deletes in a batch.
    if len(rows) <= 20:
        for email in emails:
            LogEntry.objects.filter(object_repr__icontains=email).update(object_repr="(erased)")


def supporters_delete(*, supporters: QuerySet) -> int:
    """Delete these people and everything every app holds about them; what must outlive them
    (a signature's petition, country and postcode area) is kept by its app, anonymous.

    Call inside a transaction: the erasers and the deletion stand or fall together.
    """
    ids = list(supporters.values_list("pk", flat=True))
    supporters = Supporter.objects.filter(pk__in=ids)
    for source in sources():
        source.erase(supporters)
    # Pending affiliations were never confirmed by anyone but this person; confirmed ones are
    # the organisation's, and lose only their contact (SET_NULL).
    Affiliate.objects.filter(contact__in=supporters, status=Affiliate.Status.PENDING).delete()
    _admin_log_scrub(supporters)
    supporters.delete()
    return len(ids)


def supporter_erase(*, supporter: Supporter, request_or_actor=None, organisation=None) -> None:
    """Erase a person at their request or an organiser's: their address stays only as a keyed
    hash in the suppression list, so it is never imported, subscribed or mailed again. The
    partners they opted in to are told, and for them alone the address is kept until they have
    it (docs/design.md, "Partners hear about withdrawals and erasures").

    An organiser's erasure (`request_or_actor`, for `organisation`) is audited in the same
    transaction, naming the person by id only: their address is what is being erased."""
    with transaction.atomic(durable=True):
        suppression_add(email=supporter.email, reason=Suppression.Reason.ERASED)
        partner_notices_erasure(supporter=supporter)
        pk = supporter.pk
        supporters_delete(supporters=Supporter.objects.filter(pk=pk))
        if request_or_actor is not None:
            audit_record(request_or_actor=request_or_actor, organisation=organisation, action="supporter.erased",
                         target=("engage.supporter", pk, ""))


def supporters_delete_unattached(*, supporter_ids: list[int]) -> int:
    """Delete those of these people of whom nothing else is held (engage.selectors.supporters_unattached)."""
    ids = supporters_unattached(supporter_ids=supporter_ids)
    if not ids:
        return 0
    with transaction.atomic():
        supporters_delete(supporters=Supporter.objects.filter(pk__in=ids))
    return len(ids)
