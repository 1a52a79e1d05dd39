"""The organisers' pages: live segment count, preview, test send, the mailing page and its
progress endpoint, and mobilisation from a petition."""

import json

import pytest
from django.core import mail

from mailings.models import Delivery, Mailing
from tests.support.factories import (
    make_list,
    make_mailing,
    make_message,
    make_petition,
    make_sender,
    make_signature,
    make_supporter,
    suppress,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def organiser(client, organiser):
    """The shared organiser (tests/conftest.py), logged in: every page here is an organiser's."""
    client.force_login(organiser)
    return organiser


def test_it_counts_a_segment_live_and_explains_mistakes(client, organiser):
    news = make_list(slug="news")
    make_supporter("a@example.org", subscribed_to=news)
    make_supporter("b@example.org", subscribed_to=news)
    suppress("b@example.org")
    url = "/admin/mailings/segment/count/"
    body = {"definition": json.dumps({"condition": "subscribed_to_list", "list": "news"}), "organisation": news.organisation_id, "list": news.pk}
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.json() == {"matching": 2, "eligible": 1}
    bad = client.post(url, data=json.dumps({"definition": '{"condition": "nope"}'}), content_type="application/json")
    assert bad.status_code == 400 and "Unknown condition" in bad.json()["error"]
    assert client.post(url, data="not json", content_type="application/json").status_code == 400


def test_it_refuses_to_save_a_broken_segment_or_message(client, organiser):
    response = client.post("/admin/mailings/segment/add/", {"name": "x", "description": "", "definition": '{"any": []}'})
    assert response.status_code == 200 and "at least one condition" in response.content.decode()
    response = client.post("/admin/mailings/message/add/", {
        "name": "x", "sender": make_sender().pk, "subject": "Hi", "preheader": "", "reply_to": "",
        "body": "Hello {{ frist_name }}", "merge_values": "{}",
    })
    assert response.status_code == 200 and "Unknown merge field" in response.content.decode()


def test_it_previews_as_a_chosen_recipient_and_sends_a_test_to_the_organiser(client, organiser):
    message = make_message()
    make_supporter("grace@example.org", first_name="Grace")
    page = client.get(f"/admin/mailings/message/{message.pk}/preview/", {"as": "grace@example.org"}).content.decode()
    assert "Hello Grace," in page and "/preferences/" in page
    response = client.post(f"/admin/mailings/message/{message.pk}/test-send/", {"as": "grace@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["organiser@muster.test"]
    assert mail.outbox[0].subject == "[Test] Rally on Friday" and "Hello Grace," in mail.outbox[0].body
    suppress("organiser@muster.test")
    client.post(f"/admin/mailings/message/{message.pk}/test-send/")
    assert len(mail.outbox) == 1  # a suppressed address is sent nothing, test or not


def test_it_sends_pauses_and_reports_progress_from_the_mailing_page(client, organiser, django_capture_on_commit_callbacks):
    news = make_list(slug="news")
    for i in range(3):
        make_supporter(f"p{i}@example.org", subscribed_to=news)
    mailing = make_mailing(mailing_list=news)
    page = client.get(f"/admin/mailings/mailing/{mailing.pk}/change/").content.decode()
    assert "3 recipients now" in page and "Send now" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/admin/mailings/mailing/{mailing.pk}/do/send/").status_code == 302
    progress = client.get(f"/admin/mailings/mailing/{mailing.pk}/progress/").json()
    assert progress["status"] == "sent" and progress["sent"] == 3 and progress["total"] == 3 and progress["percent"] == 100
    client.post(f"/admin/mailings/mailing/{mailing.pk}/do/pause/")  # not sending any more: refused with a message
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT
    schedule = client.post(f"/admin/mailings/mailing/{make_mailing(mailing_list=news, name='Later').pk}/do/schedule/", {"date": "2099-01-01", "time": "09:00"})
    assert schedule.status_code == 302 and Mailing.objects.get(name="Later").status == Mailing.Status.SCHEDULED


def test_it_creates_a_mobilisation_mailing_to_confirmed_opted_in_signers(client, organiser, django_capture_on_commit_callbacks):
    petition = make_petition()
    make_sender(organisation=petition.organisation)
    for email, opt_in, confirm in (("yes@example.org", True, True), ("quiet@example.org", False, True), ("pending@example.org", True, False)):
        make_signature(petition=petition, email=email, first_name="S", last_name="T", opt_in=opt_in, confirm=confirm, on_commit=False)
    response = client.post("/admin/petitions/petition/", {"action": "email_signers", "_selected_action": [petition.pk]})
    assert response.status_code == 302
    mailing = Mailing.objects.get()
    assert mailing.segment.definition == {"condition": "signed_petition", "petition": petition.slug}
    assert mailing.message.merge_values["petition_url"].endswith(f"/p/{petition.slug}/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/mailings/mailing/{mailing.pk}/do/send/")
    assert list(Delivery.objects.values_list("supporter__email", flat=True)) == ["yes@example.org"]
    assert Delivery.objects.get().status == Delivery.Status.SENT


def test_it_needs_a_sender_before_mobilising(client, organiser):
    petition = make_petition()
    response = client.post("/admin/petitions/petition/", {"action": "email_signers", "_selected_action": [petition.pk]}, follow=True)
    assert "has no sender yet" in response.content.decode()
    assert not Mailing.objects.exists()


def test_the_mailing_page_says_how_many_await_reconciliation_and_why(client, organiser, settings, django_capture_on_commit_callbacks):
    from mailings.services.sending import mailing_start

    news = make_list(slug="news")
    for i in range(3):
        make_supporter(f"p{i}@example.org", subscribed_to=news)
    mailing = make_mailing(mailing_list=news)
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=mailing.pk)
    Delivery.objects.filter(mailing=mailing).update(status=Delivery.Status.UNKNOWN)
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    page = client.get(f"/admin/mailings/mailing/{mailing.pk}/change/")
    assert "3 deliveries await reconciliation" in page.content.decode()
    progress = client.get(f"/admin/mailings/mailing/{mailing.pk}/progress/").json()
    assert progress["unknown"] == 3 and "30 minutes after" in progress["unknown_reason"]
