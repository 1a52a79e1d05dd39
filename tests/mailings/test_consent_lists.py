"""A list means consent to that list (docs/design.md, "One recipient filter"): a mailing on a list
reaches its subscribers only; one sent as an organisation reaches those whose latest consent to it
is an opt-in, and its unsubscribe withdraws that consent; an unsubscribe page says "unsubscribed"
only once it is on record; and each footer says truly why that recipient gets the email."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from engage import links
from engage.models import Consent, SubscriberImport, Subscription, SubscriptionEvent, Supporter
from engage.selectors import consents_current
from engage.services.consent import consent_record
from engage.services.imports import subscribers_import
from mailings.models import Delivery
from mailings.selectors.mailings import chunk_supporters_eligible, mailing_recipient_ids, segment_count
from mailings.selectors.recipients import recipients_reasons
from mailings.services.sending import mailing_start
from tests.support.factories import (
    make_list,
    make_mailing,
    make_message,
    make_organisation,
    make_partner,
    make_petition,
    make_segment,
    make_sender,
    make_signature,
    make_supporter,
)
from tests.support.web import path_of

pytestmark = pytest.mark.django_db

EVERYONE = {"all": []}


def start(mailing, capture):
    with capture(execute=True):
        mailing_start(mailing_id=mailing.pk)
    mailing.refresh_from_db()
    return mailing


def host_opt_in_only(email="grace@example.org", petition=None):
    """Someone who ticked the host's box on a petition and joined no list."""
    signature = make_signature(petition=petition or make_petition(), email=email, first_name="Grace", opt_in=True,
                               confirm=True)
    return Supporter.objects.get(pk=signature.supporter_id)


def mailing_records(esp):
    """What the ESP was given for mailings (not the signature confirmations)."""
    return [r for r in esp.records if r.delivery_id]


def link_in(text, kind):
    """The token of the email's unsubscribe page ("page") or one-click ("one-click") link."""
    if kind == "one-click":
        return re.search(r"https://muster\.test/unsubscribe/([^/\s]+)/one-click", text).group(1)
    return re.search(r"https://muster\.test/unsubscribe/([^/\s\"]+)/(?!one-click)", text).group(1)


def unsubscribe_page(token):
    return path_of(f"https://muster.test/unsubscribe/{token}/")


def one_click(token):
    return Client(enforce_csrf_checks=True).post(
        path_of(f"https://muster.test/unsubscribe/{token}/one-click"), data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )


# --- The seen case: consent to the host is not a subscription to its list -----------------------


def test_a_host_opt_in_alone_is_not_a_list_subscription_in_the_snapshot_the_count_or_the_chunk(
    mailgun, django_capture_on_commit_callbacks
):
    news = make_list()
    ada = make_supporter("ada@example.org", subscribed_to=news)
    grace = host_opt_in_only()
    assert consents_current(supporter=grace) == {news.organisation.pk: True}

    mailing = make_mailing(mailing_list=news, segment=make_segment(EVERYONE))
    assert set(mailing_recipient_ids(mailing=mailing).values_list("pk", flat=True)) == {ada.pk}
    assert segment_count(definition=EVERYONE, organisation=news.organisation, mailing_list=news)["eligible"] == 1
    assert set(chunk_supporters_eligible(mailing=mailing, supporter_ids=[ada.pk, grace.pk])) == {ada.pk}

    start(mailing, django_capture_on_commit_callbacks)
    assert {r.to for r in mailing_records(mailgun)} == {"ada@example.org"}
    assert not Delivery.objects.filter(supporter=grace).exists()
    # Sent as the host, with no list, she is a recipient: that is what she ticked.
    assert grace.pk in set(mailing_recipient_ids(mailing=make_mailing(segment=make_segment(EVERYONE))).values_list("pk", flat=True))


def test_unsubscribing_from_a_list_never_joined_is_recorded_and_keeps_her_off_it(client):
    news = make_list()
    grace = host_opt_in_only()
    token = links.unsubscribe_token(grace, news)

    page = client.get(unsubscribe_page(token))
    assert "You're unsubscribed" not in page.content.decode() and "Unsubscribe me from Coalition news." in page.content.decode()
    assert not Subscription.objects.filter(supporter=grace).exists()

    assert client.post(unsubscribe_page(token)).status_code == 303
    assert Subscription.objects.get(supporter=grace, mailing_list=news).status == Subscription.Status.UNSUBSCRIBED
    event = SubscriptionEvent.objects.get(supporter=grace, mailing_list=news)
    assert (event.status, event.source) == (Subscription.Status.UNSUBSCRIBED, "unsubscribe-link")
    assert "You're unsubscribed" in client.get(unsubscribe_page(token)).content.decode()

    # The record is what keeps her off: an organiser's import of her address onto the list
    # does not subscribe her, and a later mailing on the list does not reach her.
    _import(news, "grace@example.org")
    assert Subscription.objects.get(supporter=grace, mailing_list=news).status == Subscription.Status.UNSUBSCRIBED
    later = make_mailing(mailing_list=news, segment=make_segment(EVERYONE))
    assert grace.pk not in set(mailing_recipient_ids(mailing=later).values_list("pk", flat=True))
    # Her consent to the host itself is untouched: leaving a list is not leaving the organisation.
    assert consents_current(supporter=grace) == {news.organisation.pk: True}


def test_one_click_from_a_list_never_joined_records_the_opt_out_too():
    news = make_list()
    grace = host_opt_in_only()
    response = one_click(links.unsubscribe_token(grace, news))
    assert response.status_code == 200 and response.content == b"You are unsubscribed.\n"
    assert Subscription.objects.get(supporter=grace, mailing_list=news).status == Subscription.Status.UNSUBSCRIBED
    assert SubscriptionEvent.objects.filter(supporter=grace, mailing_list=news, source="one-click").count() == 1
    assert one_click(links.unsubscribe_token(grace, news)).status_code == 200  # again: nothing more written
    assert SubscriptionEvent.objects.filter(supporter=grace).count() == 1
    later = make_mailing(mailing_list=news, segment=make_segment(EVERYONE))
    assert grace.pk not in set(mailing_recipient_ids(mailing=later).values_list("pk", flat=True))


def _import(mailing_list, email):
    subscriber_import = SubscriberImport.objects.create(
        mailing_list=mailing_list, file_name="old.csv", consent_wording="Subscribed on our old site",
        consent_given_at=datetime(2019, 1, 1, tzinfo=UTC), column_map={"email": "Email"},
    )
    subscribers_import(subscriber_import=subscriber_import, data=f"Email\n{email}\n".encode())


# --- A mailing sent as an organisation -------------------------------------------------------------


def test_an_organisation_mailing_reaches_those_whose_latest_consent_is_an_opt_in():
    host = make_organisation()
    left = make_supporter("left@example.org")
    consent_record(supporter=left, organisation=host, given=False, wording="Stop", source="preferences")
    back = make_supporter("back@example.org", opted_in=False)
    consent_record(supporter=back, organisation=host, given=True, wording="Again", source="preferences")
    never = make_supporter("never@example.org", opted_in=None)
    mailing = make_mailing(segment=make_segment(EVERYONE))
    ids = [left.pk, back.pk, never.pk]
    assert set(mailing_recipient_ids(mailing=mailing).values_list("pk", flat=True)) == {back.pk}
    assert segment_count(definition=EVERYONE, organisation=host)["eligible"] == 1
    assert set(chunk_supporters_eligible(mailing=mailing, supporter_ids=ids)) == {back.pk}


@pytest.mark.parametrize("kind", ["page", "one-click"])
def test_an_organisation_mailings_unsubscribe_withdraws_consent_to_that_organisation(
    kind, mailgun, client, django_capture_on_commit_callbacks
):
    host, partner = make_organisation(), make_partner()
    petition = make_petition(organisation=partner)
    grace = host_opt_in_only(petition=petition)
    consent_record(supporter=grace, organisation=host, given=True, wording="Keep me updated", source="test")
    mailing = make_mailing(message=make_message(sender=make_sender(organisation=partner)), segment=make_segment(EVERYONE))
    start(mailing, django_capture_on_commit_callbacks)
    (record,) = mailing_records(mailgun)
    text = record.text() if kind == "page" else record.headers["List-Unsubscribe"]
    token = link_in(text, kind)

    if kind == "page":
        page = client.get(unsubscribe_page(token)).content.decode()
        assert "Stop all emails from We Own It." in page and "You're unsubscribed" not in page
        assert client.post(unsubscribe_page(token)).status_code == 303
        assert "You're unsubscribed" in client.get(unsubscribe_page(token)).content.decode()
    else:
        assert one_click(token).status_code == 200
    # Withdrawn from the organisation that sent it, and only from that one.
    assert consents_current(supporter=grace) == {partner.pk: False, host.pk: True}
    assert grace.pk not in set(mailing_recipient_ids(mailing=make_mailing(
        message=make_message(sender=make_sender(organisation=partner)), segment=make_segment(EVERYONE)
    )).values_list("pk", flat=True))


def test_an_organisation_unsubscribe_for_someone_who_never_opted_in_records_an_opt_out(client):
    host = make_organisation()
    never = make_supporter("never@example.org", opted_in=None)
    token = links.unsubscribe_token(never, None, host)
    assert "You're unsubscribed" not in client.get(unsubscribe_page(token)).content.decode()
    client.post(unsubscribe_page(token))
    assert list(Consent.objects.filter(supporter=never).values_list("organisation_id", "given", "source")) == [
        (host.pk, False, "unsubscribe-link")
    ]
    assert "You're unsubscribed" in client.get(unsubscribe_page(token)).content.decode()


# --- The footer's reason, per recipient ------------------------------------------------------------


def _footer_people():
    host = make_organisation()
    news = make_list()
    first = make_petition()
    second = make_petition(slug="save-our-a-e", title="Save our A&E")
    ada = host_opt_in_only("ada@example.org", petition=first)
    bob = host_opt_in_only("bob@example.org", petition=second)
    for person in (ada, bob):
        Subscription.objects.create(supporter=person, mailing_list=news, status=Subscription.Status.SUBSCRIBED)
    return host, news, {ada.email: "Scrap the ICP contract", bob.email: "Save our A&E"}


def _assert_footers(esp, titles, *, mailing_list):
    assert {r.to for r in mailing_records(esp)} == set(titles)
    for record in mailing_records(esp):
        if mailing_list is None:
            reason = ("You are receiving this because you asked Health Campaigns Together to keep you updated when "
                      f"you signed the petition “{titles[record.to]}”.")
        else:
            reason = "You are receiving this because you subscribed to Coalition news."
        assert reason in record.text()
        assert reason.replace("&", "&amp;") in record.html()
        assert "asked to hear from us" not in record.text()
        for other in set(titles.values()) - {titles[record.to]}:
            assert other not in record.text()


@pytest.mark.parametrize("esp_fixture", ["mailgun", "postmark"])
def test_the_footer_names_the_petition_where_each_recipient_opted_in(esp_fixture, request, django_capture_on_commit_callbacks):
    esp = request.getfixturevalue(esp_fixture)
    _, _, titles = _footer_people()
    start(make_mailing(segment=make_segment(EVERYONE)), django_capture_on_commit_callbacks)
    _assert_footers(esp, titles, mailing_list=None)


@pytest.mark.parametrize("esp_fixture", ["mailgun", "postmark"])
def test_the_footer_names_the_list_of_a_list_mailing(esp_fixture, request, django_capture_on_commit_callbacks):
    esp = request.getfixturevalue(esp_fixture)
    _, news, titles = _footer_people()
    start(make_mailing(mailing_list=news, segment=make_segment(EVERYONE)), django_capture_on_commit_callbacks)
    _assert_footers(esp, titles, mailing_list=news)


def test_the_reasons_of_a_chunk_cost_one_query_however_many_recipients():
    host, news, _ = _footer_people()
    for i in range(20):
        make_supporter(f"p{i}@example.org")  # opted in through another path ("test")
    ids = list(Supporter.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        reasons = recipients_reasons(organisation=host, mailing_list=None, supporter_ids=ids)
    # The ledger once, and the petitions its sources name once.
    assert len(queries) == 2
    assert len(reasons) == 22
    assert reasons[Supporter.objects.get(email="p0@example.org").pk] == (
        "You are receiving this because you agreed to hear from Health Campaigns Together: “Keep me updated”"
    )
    with CaptureQueriesContext(connection) as queries:
        recipients_reasons(organisation=host, mailing_list=news, supporter_ids=ids)
    assert len(queries) == 0
