"""Test data, built through the services as the application builds it. The defaults describe one
coalition: the host Health Campaigns Together, its partner We Own It, the list Coalition news, the
petition Scrap the ICP contract and Ada Lovelace, who signs and subscribes."""

from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone

from engage.models import Consent, MailingList, Organisation, Subscription, Supporter, Suppression
from engage.services.consent import consent_record
from engage.services.supporters import supporter_get_or_create
from engage.services.suppression import suppression_add
from mailings.models import Mailing, Message, Segment, Sender
from petitions.models import Cosponsorship, Petition, Signature
from petitions.selectors import cosponsorships_active
from petitions.services.lifecycle import petition_save, petition_set_status
from petitions.services.signing import petition_sign, signature_confirm

# --- organisations and organisers ---------------------------------------------------------------


def make_organisation(*, slug="health-campaigns-together", name="Health Campaigns Together", kind=Organisation.Kind.HOST,
                      origins=""):
    organisation, _ = Organisation.objects.get_or_create(
        slug=slug, defaults={"name": name, "kind": kind, "allowed_origins": origins}
    )
    return organisation


def make_partner(*, slug="we-own-it", name="We Own It", origins="https://weownit.org.uk"):
    """A coalition partner; `origins` are the sites that may frame its embed and call the sign API."""
    return make_organisation(slug=slug, name=name, kind=Organisation.Kind.PARTNER, origins=origins)


def make_other_partner(*, origins="https://keepournhspublic.com"):
    """A second partner, Keep Our NHS Public: what one partner may see, the other may not."""
    return make_partner(slug="keep-our-nhs-public", name="Keep Our NHS Public", origins=origins)


def make_organiser(*, username="organiser", email="organiser@muster.test", password="pw"):
    """An organiser: staff with every permission, as the admin's users are."""
    return get_user_model().objects.create_superuser(username, email, password)


# --- petitions and signatures -------------------------------------------------------------------


def make_petition(*, slug="scrap-the-icp-contract", title="Scrap the ICP contract", status=Petition.Status.OPEN, goal=100,
                  organisation=None):
    petition = Petition(
        organisation=organisation or make_organisation(),
        slug=slug,
        title=title,
        target="Department of Health and Social Care",
        body="Keep our NHS **public**.<script>alert(1)</script>",
        goal=goal,
        closes_at=timezone.now() + timedelta(days=30),
    )
    petition_save(petition=petition)
    if status != Petition.Status.DRAFT:
        petition_set_status(petition=petition, status=status)
    return petition


def make_cosponsorship(*, petition, organisation, active=True):
    return Cosponsorship.objects.create(petition=petition, organisation=organisation, active=active)


def sign_data(**overrides):
    """Ada's answers to the person fields every public form shares (sign, subscribe, join)."""
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "country": "GB",
        "postcode": "s70 2ab",
        "opt_in": "",
        "source": "",
        "website": "",
    }
    data.update(overrides)
    return data


@contextmanager
def _commit_callbacks(execute: bool):
    """Run what the code defers until its transaction commits (emails, the count), as a real
    request's commit would; a TestCase never commits, so otherwise it never runs."""
    if execute:
        with TestCase.captureOnCommitCallbacks(execute=True):
            yield
    else:
        yield


def make_signature(*, petition, email="ada@example.org", first_name="Ada", last_name="Lovelace", country="GB",
                   postcode="S70 2AB", opt_in=False, boxes=(), confirm=False, on_commit=True, **extra) -> Signature:
    """A signature stored by petition_sign, as the sign view stores it. `boxes` are the slugs of
    the co-sponsors whose box was ticked. With `on_commit`, what signing (and confirming) defers
    to its commit runs too: the confirmation email is sent. `confirm` then confirms it as the
    emailed link does. `extra` goes to petition_sign (source, partner, ip, hold_reason)."""
    ticked = [c for c in cosponsorships_active(petition=petition) if c.organisation.slug in boxes] if boxes else ()
    with _commit_callbacks(on_commit):
        signature = petition_sign(
            petition=petition, first_name=first_name, last_name=last_name, email=email, country=country,
            postcode=postcode, opt_in=opt_in, cosponsor_opt_ins=ticked, **extra,
        ).signature
    if confirm:
        with _commit_callbacks(on_commit):
            confirmed = signature_confirm(signature=signature)
        assert confirmed, f"the signature of {email} was not confirmed"
    return signature


# --- lists and supporters -----------------------------------------------------------------------


def make_list(*, slug="coalition-news", name="", organisation=None, public=True, consent_wording=""):
    """A mailing list, named after its slug unless told ("coalition-news": "Coalition news")."""
    mailing_list, _ = MailingList.objects.get_or_create(
        slug=slug,
        defaults={
            "name": name or slug.replace("-", " ").capitalize(), "organisation": organisation or make_organisation(),
            "public": public, "consent_wording": consent_wording,
        },
    )
    return mailing_list


def make_supporter(email, *, first_name="Ada", postcode="S70 2AB", country="GB", opted_in=True, organisation=None,
                   subscribed_to=None, unsubscribed_from=None, pending_on=None):
    """A supporter with, unless `opted_in` is None, a consent row for `organisation` (the host),
    given or withdrawn; subscribed to one list, unsubscribed from another, and asked for a
    third without confirming (`pending_on`), if told."""
    supporter, _ = supporter_get_or_create(
        email=email, first_name=first_name, last_name="Test", country=country, postcode=postcode
    )
    for mailing_list, status in ((subscribed_to, Subscription.Status.SUBSCRIBED), (unsubscribed_from, Subscription.Status.UNSUBSCRIBED),
                                 (pending_on, Subscription.Status.PENDING)):
        if mailing_list is not None:
            Subscription.objects.update_or_create(supporter=supporter, mailing_list=mailing_list, defaults={"status": status})
    # After the subscriptions, as in life: a withdrawal switches off the organisation's lists.
    if opted_in is not None:
        consent_record(supporter=supporter, organisation=organisation or make_organisation(), given=opted_in,
                       wording="Keep me updated", source="test")
    return supporter


def make_audience_bulk(n, *, mailing_list, organisation=None, prefix="crowd"):
    """n opted-in, subscribed supporters in three bulk INSERTs: the services write the same
    rows one by one, which is too slow for the 10,000-recipient tests."""
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


def suppress(email, reason=Suppression.Reason.HARD_BOUNCE):
    return suppression_add(email=email, reason=reason)


def supporter_ids(queryset):
    return set(queryset.values_list("pk", flat=True))


# --- mailings -----------------------------------------------------------------------------------


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


def make_message(*, body="Hello {{ first_name|default:\"friend\" }},\n\nCome to the rally.", subject="Rally on Friday", sender=None, **extra):
    return Message.objects.create(name=subject, sender=sender or make_sender(), subject=subject, body=body, **extra)


def make_segment(definition=None, *, name="Everyone"):
    return Segment.objects.create(name=name, definition=definition if definition is not None else {"all": []})


def make_mailing(*, message=None, segment=None, mailing_list=None, name="Rally call"):
    return Mailing.objects.create(
        name=name, message=message or make_message(), segment=segment or make_segment(), mailing_list=mailing_list
    )
