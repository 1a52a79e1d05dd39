"""The consent ledger (append-only: the latest row is the current state), and the wording
the forms show, which the ledgers record word for word."""

from django.utils import timezone

from engage.models import Consent, MailingList, Organisation, Subscription, SubscriptionEvent, Supporter
from engage.selectors import consent_current
from engage.services.partner_notices import partner_notice_withdrawal


def consent_record(*, supporter: Supporter, organisation: Organisation, given: bool, wording: str, source: str) -> Consent:
    """Append one opt-in or opt-out to the ledger. An opt-out also switches off every list of
    that organisation the person is on, each with its ledger row: a subscription is consent to
    its list alone, and withdrawing from the organisation ends them all (docs/design.md, "One
    recipient filter"). An opt-out that withdraws a current opt-in is also noted for the
    organisation, which may hold the person (docs/design.md, "Partners hear about withdrawals
    and erasures")."""
    withdrawing = not given and consent_current(supporter=supporter, organisation=organisation)
    row = Consent.objects.create(
        supporter=supporter, organisation=organisation, given=given, wording=wording, source=source[:200]
    )
    if not given:
        _lists_switch_off(supporter=supporter, organisation=organisation, wording=wording, source=source)
    if withdrawing:
        partner_notice_withdrawal(supporter=supporter, organisation=organisation)
    return row


def _lists_switch_off(*, supporter: Supporter, organisation: Organisation, wording: str, source: str) -> None:
    live = Subscription.objects.filter(
        supporter=supporter, mailing_list__organisation=organisation,
        status__in=[Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING],
    )
    list_ids = list(live.values_list("mailing_list_id", flat=True))
    if not list_ids:
        return
    Subscription.objects.filter(supporter=supporter, mailing_list_id__in=list_ids, status__in=[
        Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING,
    ]).update(
        status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now()
    )
    SubscriptionEvent.objects.bulk_create([
        SubscriptionEvent(supporter=supporter, mailing_list_id=list_id, status=Subscription.Status.UNSUBSCRIBED,
                          wording=wording, source=source[:200])
        for list_id in list_ids
    ])


def organisation_opt_in_wording(organisation: Organisation) -> str:
    return f"Keep me updated by email by {organisation.name} about its campaigns. I can unsubscribe at any time."


def organisation_opt_out_wording(organisation: Organisation) -> str:
    return f"Stop all emails from {organisation.name}."


def list_opt_out_wording(mailing_list: MailingList) -> str:
    return f"Unsubscribe me from {mailing_list.name}."


def unsubscribe_wording(mailing_list: MailingList | None, host: Organisation | None) -> str:
    """What an unsubscribe link's button says: one list, or (None) everything from the host."""
    if mailing_list is not None:
        return list_opt_out_wording(mailing_list)
    return organisation_opt_out_wording(host) if host else "Unsubscribe me from every list."


ONE_CLICK_WORDING = "One-click unsubscribe from the email's List-Unsubscribe header (RFC 8058)."
