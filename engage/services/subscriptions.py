"""Switching a person's lists on and off, each change with its ledger row."""

from django.db import transaction
from django.utils import timezone

from engage.models import MailingList, Organisation, Subscription, SubscriptionEvent, Supporter
from engage.selectors import consents_current, host_organisations
from engage.services.consent import consent_record


def subscription_set(
    *, supporter: Supporter, mailing_list: MailingList, subscribed: bool, wording: str, source: str
) -> bool:
    """Switch one list on or off for one person, with a ledger row. True if it changed.

    Takes effect for every later send at once: sends read Subscription.status.
    """
    now = timezone.now()
    status = Subscription.Status.SUBSCRIBED if subscribed else Subscription.Status.UNSUBSCRIBED
    stamp = "subscribed_at" if subscribed else "unsubscribed_at"
    subscription, created = Subscription.objects.get_or_create(
        supporter=supporter, mailing_list=mailing_list, defaults={"status": status, "source": source[:200], stamp: now}
    )
    if not created:
        if subscription.status == status:
            return False
        subscription.status = status
        setattr(subscription, stamp, now)
        subscription.save(update_fields=["status", stamp])
    SubscriptionEvent.objects.create(
        supporter=supporter, mailing_list=mailing_list, status=status, wording=wording, source=source[:200]
    )
    return True


def unsubscribe(
    *, supporter: Supporter, mailing_list: MailingList | None, wording: str, source: str,
    organisation: Organisation | None = None,
) -> int:
    """Unsubscribe from one list; or (mailing_list None) from every list of `organisation`
    (None: of the host coalition), withdrawing consent to it too. Leaves a record even for a
    list the person was never on, or an organisation they never opted in to, so that no later
    mailing reaches them there (docs/design.md, "One recipient filter"). Safe to repeat: a
    second call writes nothing. Returns the number of changes."""
    with transaction.atomic(durable=True):
        if mailing_list is not None:
            return int(subscription_set(supporter=supporter, mailing_list=mailing_list, subscribed=False, wording=wording, source=source))
        organisations = [organisation] if organisation is not None else list(host_organisations())
        changes = 0
        lists = MailingList.objects.filter(
            organisation__in=organisations,
            subscriptions__supporter=supporter,
            subscriptions__status__in=[Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING],
        )
        for each in lists:
            changes += subscription_set(supporter=supporter, mailing_list=each, subscribed=False, wording=wording, source=source)
        current = consents_current(supporter=supporter)
        for each in organisations:
            if current.get(each.pk) is not False:
                consent_record(supporter=supporter, organisation=each, given=False, wording=wording, source=source)
                changes += 1
        return changes
