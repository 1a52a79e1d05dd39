"""Test data for mailings, built through the services as the application builds it."""

from engage.models import MailingList, Subscription, Supporter, Suppression
from engage.services import consent_record, supporter_get_or_create
from engage.suppression import suppression_add
from mailings.models import Mailing, Message, Segment, Sender
from tests.factories import make_organisation


def make_sender(*, organisation=None):
    organisation = organisation or make_organisation()
    sender, _ = Sender.objects.get_or_create(
        organisation=organisation,
        defaults={
            "name": organisation.name,
            "bulk_email": "news@mail.muster.test",
            "transactional_email": "hello@muster.test",
            "reply_to": "replies@muster.test",
        },
    )
    return sender


def make_list(*, slug="news", organisation=None):
    organisation = organisation or make_organisation()
    mailing_list, _ = MailingList.objects.get_or_create(slug=slug, defaults={"name": slug.title(), "organisation": organisation})
    return mailing_list


def make_supporter(email, *, first_name="Ada", postcode="S70 2AB", country="GB", opted_in=True, organisation=None,
                   subscribed_to=None, unsubscribed_from=None):
    supporter, _ = supporter_get_or_create(
        email=email, first_name=first_name, last_name="Test", country=country, postcode=postcode
    )
    organisation = organisation or make_organisation()
    if opted_in is not None:
        consent_record(supporter=supporter, organisation=organisation, given=opted_in, wording="Keep me updated", source="test")
    for mailing_list, status in ((subscribed_to, Subscription.Status.SUBSCRIBED), (unsubscribed_from, Subscription.Status.UNSUBSCRIBED)):
        if mailing_list is not None:
            Subscription.objects.update_or_create(supporter=supporter, mailing_list=mailing_list, defaults={"status": status})
    return supporter


def suppress(email, reason=Suppression.Reason.HARD_BOUNCE):
    return suppression_add(email=email, reason=reason)


def make_message(*, body="Hello {{ first_name|default:\"friend\" }},\n\nCome to the rally.", subject="Rally on Friday", sender=None, **extra):
    return Message.objects.create(name=subject, sender=sender or make_sender(), subject=subject, body=body, **extra)


def make_segment(definition=None, *, name="Everyone"):
    return Segment.objects.create(name=name, definition=definition if definition is not None else {"all": []})


def make_mailing(*, message=None, segment=None, mailing_list=None, name="Rally call"):
    return Mailing.objects.create(
        name=name, message=message or make_message(), segment=segment or make_segment(), mailing_list=mailing_list
    )


def supporter_ids(queryset):
    return set(queryset.values_list("pk", flat=True))


__all__ = ["Supporter"]


def make_audience_bulk(n, *, mailing_list, organisation=None, prefix="crowd"):
    """n opted-in, subscribed supporters in three bulk INSERTs: the services write the same
    rows one by one, which is too slow for the 10,000-recipient tests."""
    from engage.models import Consent

    organisation = organisation or make_organisation()
    supporters = Supporter.objects.bulk_create(
        Supporter(email=f"{prefix}{i}@example.org", first_name=f"Name{i}", last_name="Crowd", country="GB", postcode="S70 2AB")
        for i in range(n)
    )
    Consent.objects.bulk_create(
        Consent(supporter=s, organisation=organisation, given=True, wording="Keep me updated", source="test") for s in supporters
    )
    Subscription.objects.bulk_create(
        Subscription(supporter=s, mailing_list=mailing_list, status=Subscription.Status.SUBSCRIBED) for s in supporters
    )
    return supporters
