"""The preference page: what a person switches on and off, and the emailed link to it."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from engage.emails import email_send
from engage.links import preferences_url
from engage.models import Subscription, Supporter
from engage.queueing import queue
from engage.selectors import (
    consents_current,
    preference_lists,
    preference_organisations,
    subscription_statuses,
    supporters_by_email,
)
from engage.services.consent import (
    consent_record,
    list_opt_out_wording,
    organisation_opt_in_wording,
    organisation_opt_out_wording,
)
from engage.services.subscriptions import subscription_set
from engage.services.supporters import PREFERENCES_SOURCE
from engage.suppression import is_suppressed

# At most one "here is your preferences link" email per address per interval.
PREFERENCES_LINK_INTERVAL = timedelta(minutes=15)


def preferences_update(
    *, supporter: Supporter, list_ids_on: set[int], organisation_ids_on: set[int], source: str = PREFERENCES_SOURCE
) -> int:
    """Apply the preference page's boxes; only what changed writes ledger rows.

    Only lists and organisations the page shows can change. Switching a list on records the
    consent its box's wording gives, to that list alone; withdrawing consent from an
    organisation also switches off all its lists (consent_record), and wins over a list
    switched on in the same form (the more protective reading). Returns the number of changes.
    """
    changes = 0
    with transaction.atomic(durable=True):
        consents = consents_current(supporter=supporter)
        statuses = subscription_statuses(supporter=supporter)
        organisations = preference_organisations(supporter=supporter, consents=consents)
        withdrawn = {org.pk for org in organisations if consents.get(org.pk) and org.pk not in organisation_ids_on}
        for org in organisations:
            wanted, current = org.pk in organisation_ids_on, consents.get(org.pk, False)
            if wanted and not current:
                consent_record(supporter=supporter, organisation=org, given=True, wording=organisation_opt_in_wording(org), source=source)
                changes += 1
            elif current and not wanted:
                consent_record(supporter=supporter, organisation=org, given=False, wording=organisation_opt_out_wording(org), source=source)
                changes += 1
        for each in preference_lists(supporter=supporter):
            wanted = each.pk in list_ids_on and each.organisation_id not in withdrawn
            current = statuses.get(each.pk) == Subscription.Status.SUBSCRIBED
            if wanted == current:
                continue
            changes += subscription_set(
                supporter=supporter, mailing_list=each, subscribed=wanted,
                wording=each.opt_in_wording if wanted else list_opt_out_wording(each), source=source,
            )
    return changes


def preferences_link_request(*, email: str) -> bool:
    """Email a link to the preference page if this address is a supporter (and not
    suppressed). The caller answers the same either way."""
    from engage import tasks

    supporter = supporters_by_email(email).first()
    if supporter is None or is_suppressed(supporter.email):
        return False
    queue(tasks.preferences_link_send, supporter.pk)
    return True


def preferences_link_send(*, supporter_id: int) -> bool:
    """Send the preferences link asked for, at most once per PREFERENCES_LINK_INTERVAL."""
    supporter = Supporter.objects.filter(pk=supporter_id).first()
    if supporter is None:
        return False
    window = int(timezone.now().timestamp() // PREFERENCES_LINK_INTERVAL.total_seconds())
    return email_send(
        dedupe_key=f"preferences-link:{supporter.pk}:{window}",
        kind="preferences_link",
        supporter=supporter,
        template="engage/email/preferences_link",
        context={"preferences_url": preferences_url(supporter)},
    )
