"""A mailing step by step in the organisers' workspace, against the real database: the message
and its preview as a chosen recipient, the test send, the audience and its count, send now or
schedule for the number confirmed, pause, resume and cancel, and the results."""

import base64
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from engage import links
from mailings.models import Delivery, Mailing, OutboundEmail, WebhookEvent
from mailings.selectors.mailings import message_preview
from mailings.selectors.recipients import recipients_eligible
from mailings.selectors.segments import segment_supporters
from mailings.services.sending import mailing_start
from tests.support.factories import (
    make_list,
    make_mailing,
    make_message,
    make_organisation,
    make_segment,
    make_sender,
    make_supporter,
    suppress,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client):
    host = make_organisation()
    user = get_user_model().objects.create_user("maya", "maya@hct.example", "pw")
    host.members.add(user)
    client.force_login(user)
    news = make_list(slug="news", name="Coalition news", organisation=host)
    grace = make_supporter("grace@example.org", first_name="Grace", subscribed_to=news)
    people = [grace] + [make_supporter(f"p{i}@example.org", first_name=f"P{i}", subscribed_to=news) for i in range(3)]
    make_supporter("bounced@example.org", subscribed_to=news)
    suppress("bounced@example.org")
    make_supporter("left@example.org", unsubscribed_from=news)
    make_supporter("never@example.org", opted_in=None, pending_on=news)  # asked, never confirmed
    make_supporter("optedin-only@example.org")  # opted in to the host, on no list
    sender = make_sender(organisation=host)
    segment = make_segment()
    message = make_message(sender=sender, subject="Rally for {{ first_name|default:\"all\" }}",
                           body="Hello {{ first_name|default:\"friend\" }},\n\nCome to the rally.")
    mailing = make_mailing(message=message, segment=segment, mailing_list=news)
    return {"host": host, "user": user, "news": news, "grace": grace, "people": people, "sender": sender,
            "segment": segment, "mailing": mailing}


def url(world, name, **kwargs):
    if name not in ("organise:mailings", "organise:mailing_new"):
        kwargs.setdefault("pk", world["mailing"].pk)
    return reverse(name, kwargs={"org": world["host"].slug, **kwargs})


def eligible(mailing):
    return recipients_eligible(
        segment_supporters(mailing.segment.definition), organisation=mailing.organisation,
        mailing_list=mailing.mailing_list, many=True,
    )


def preview(client, world, **fields):
    return client.post(url(world, "organise:mailing_preview"), data=json.dumps(fields), content_type="application/json")


# --- The list and a new mailing ------------------------------------------------------------------


def test_it_lists_mailings_by_state_with_a_new_mailing_button(client, world):
    sent = make_mailing(name="Last week's call", segment=world["segment"], message=make_message(sender=world["sender"]))
    Mailing.objects.filter(pk=sent.pk).update(status=Mailing.Status.SENT, finished_at=timezone.now())
    page = client.get(url(world, "organise:mailings")).content.decode()
    assert "New mailing" in page and reverse("organise:mailing_new", kwargs={"org": world["host"].slug}) in page
    assert page.index("Drafts") < page.index("Rally call") < page.index("Sent") < page.index("Last week&#x27;s call")


def test_a_new_mailing_is_a_draft_with_its_own_message(client, world):
    before = Mailing.objects.count()
    bad = client.post(url(world, "organise:mailing_new"), {"name": "", "sender": world["sender"].pk, "subject": "A\nB",
                                                           "segment": world["segment"].pk})
    assert bad.status_code == 400 and "one line" in bad.content.decode()
    assert Mailing.objects.count() == before
    response = client.post(url(world, "organise:mailing_new"), {
        "name": "Hand-in", "sender": world["sender"].pk, "subject": "We hand it in", "segment": world["segment"].pk,
    })
    mailing = Mailing.objects.get(name="Hand-in")
    assert response.status_code == 303 and response["Location"] == url(world, "organise:mailing_message", pk=mailing.pk)
    assert mailing.status == Mailing.Status.DRAFT and mailing.created_by == world["user"]
    assert mailing.message.subject == "We hand it in" and mailing.message.body == ""
    assert mailing.message_id != world["mailing"].message_id
    # A draft without a body cannot be sent yet, and says so.
    page = client.get(url(world, "organise:mailing", pk=mailing.pk)).content.decode()
    assert "Write the message first." in page and "Send to" not in page


# --- Step 1: the message --------------------------------------------------------------------------


def test_the_preview_renders_the_merge_fields_for_the_chosen_recipient(client, world):
    grace = world["grace"]
    answer = preview(client, world, subject="News for {{ first_name }}", preheader="Read on",
                     body="Dear {{ first_name|default:\"friend\" }}, [unsubscribe]({{ unsubscribe_url }})", **{"as": grace.pk})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["subject"] == "News for Grace" and data["as"] == "grace@example.org" and data["preheader"] == "Read on"
    assert "Dear Grace," in data["html"] and "Dear Grace," in data["text"]
    # Her own unsubscribe link for this list: the link the send puts in her copy.
    assert links.mailing_links(grace, world["news"], world["host"]).unsubscribe_url in data["html"]
    # Exactly what the send's renderer makes of the same message for her.
    message = world["mailing"].message
    message.subject, message.preheader = "News for {{ first_name }}", "Read on"
    message.body = "Dear {{ first_name|default:\"friend\" }}, [unsubscribe]({{ unsubscribe_url }})"
    assert data["html"] == message_preview(message=message, supporter=grace, mailing_list=world["news"]).html

    nobody = preview(client, world, subject="News for {{ first_name }}", body="Dear {{ first_name|default:\"friend\" }}").json()
    assert nobody["subject"] == "News for " and "Dear friend" in nobody["html"] and nobody["as"] == ""
    # Someone who is not a recipient (suppressed) is not previewed as: the page says so.
    outsider = make_supporter("outsider@example.org", first_name="Olive", opted_in=False)
    other = preview(client, world, subject="Hi {{ first_name }}", body="x", **{"as": outsider.pk}).json()
    assert "Olive" not in other["html"] and "not among this mailing's recipients" in other["as_problem"]


def test_the_preview_refuses_a_merge_field_no_recipient_has(client, world):
    answer = preview(client, world, subject="Hi", body="Dear {{ favourite_colour }}")
    assert answer.status_code == 400 and "favourite_colour" in answer.json()["error"]


def test_the_message_page_saves_and_shows_the_preview_as_the_chosen_person(client, world):
    grace = world["grace"]
    page = client.get(url(world, "organise:mailing_message") + f"?as={grace.pk}").content.decode()
    assert "Hello Grace," in page and "Showing it as grace@example.org will get it." in page
    assert 'width="600"' in page and 'width="375"' in page and "{{ first_name }}" in page  # the picker
    found = client.get(url(world, "organise:mailing_message") + "?q=GRA").content.decode()
    assert f"?as={grace.pk}" in found
    assert client.get(url(world, "organise:mailing_recipients") + "?q=gra").json()["results"] == [
        {"id": grace.pk, "email": "grace@example.org", "name": "Grace Test"}
    ]
    # Not a recipient: not found.
    assert client.get(url(world, "organise:mailing_recipients") + "?q=bounced").json()["results"] == []

    fields = {"sender": world["sender"].pk, "subject": "Friday", "preheader": "", "body": "Come, {{ first_name }}."}
    bad = client.post(url(world, "organise:mailing_message"), {**fields, "body": "{{ nope }}"})
    assert bad.status_code == 400 and "nope" in bad.content.decode()
    world["mailing"].message.refresh_from_db()
    assert world["mailing"].message.subject.startswith("Rally")  # nothing written
    saved = client.post(url(world, "organise:mailing_message"), fields)
    assert saved.status_code == 303
    world["mailing"].message.refresh_from_db()
    assert (world["mailing"].message.subject, world["mailing"].message.body) == ("Friday", "Come, {{ first_name }}.")


def test_the_test_send_goes_to_the_organiser_only_rendered_as_the_chosen_person(client, world):
    grace = world["grace"]
    fields = {"sender": world["sender"].pk, "subject": "Friday, {{ first_name }}", "preheader": "",
              "body": "Come, {{ first_name }}.", "as": grace.pk, "action": "test"}
    response = client.post(url(world, "organise:mailing_message"), fields)
    assert response.status_code == 303
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["maya@hct.example"] and email.subject == "[Test] Friday, Grace" and "Come, Grace." in email.body
    test = OutboundEmail.objects.get()
    assert (test.kind, test.to_email, test.status) == ("mailing_test", "maya@hct.example", OutboundEmail.Status.SENT)
    assert not Delivery.objects.exists()  # nobody in the audience was sent anything
    assert "a test sent to maya@hct.example" in client.get(response["Location"]).content.decode()


def test_a_user_without_an_email_is_told_and_sent_nothing(client, world):
    world["user"].email = ""
    world["user"].save()
    page = client.get(url(world, "organise:mailing_message")).content.decode()
    assert "has no email address" in page and "send a test to" not in page
    fields = {"sender": world["sender"].pk, "subject": "Friday", "preheader": "", "body": "Come.", "action": "test"}
    response = client.post(url(world, "organise:mailing_message"), fields)
    assert response.status_code == 400 and "no email address" in response.content.decode()
    assert not mail.outbox and not OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).exists()


def test_a_started_mailings_message_cannot_be_changed(client, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=world["mailing"].pk)
    response = client.post(url(world, "organise:mailing_message"),
                           {"sender": world["sender"].pk, "subject": "Changed", "preheader": "", "body": "Changed"})
    assert response.status_code == 409
    world["mailing"].message.refresh_from_db()
    assert world["mailing"].message.subject != "Changed"


# --- Step 2: the audience -----------------------------------------------------------------------------


def test_the_count_shown_is_the_recipient_filters(client, world):
    mailing = world["mailing"]
    on_list = eligible(mailing).count()
    assert on_list == 4  # Grace and P0-P2: not the suppressed, the unsubscribed, the never opted in
    page = client.get(url(world, "organise:mailing_audience")).content.decode()
    assert "4 people will receive it" in page
    assert reverse("organise:segments", kwargs={"org": world["host"].slug}) in page
    count = client.get(url(world, "organise:mailing_audience_count") + f"?segment={world['segment'].pk}&list={world['news'].pk}").json()
    assert count["eligible"] == on_list and count["label"] == "4 people will receive it"
    # As the organisation: everyone whose latest consent to it is an opt-in, on a list or not.
    as_org = client.get(url(world, "organise:mailing_audience_count") + f"?segment={world['segment'].pk}&list=").json()
    mailing.mailing_list = None
    assert as_org["eligible"] == eligible(mailing).count() == 6
    assert client.get(url(world, "organise:mailing_audience_count") + "?segment=x").status_code == 400
    assert client.get(url(world, "organise:mailing_audience_count") + f"?segment={world['segment'].pk}&list=99999").status_code == 400


def test_the_audience_is_saved_only_on_a_draft(client, world):
    other = make_segment({"all": [{"condition": "subscribed_to_list", "list": "news"}]}, name="News readers")
    response = client.post(url(world, "organise:mailing_audience"), {"segment": other.pk, "mailing_list": ""})
    assert response.status_code == 303
    world["mailing"].refresh_from_db()
    assert world["mailing"].segment == other and world["mailing"].mailing_list is None
    assert client.post(url(world, "organise:mailing_audience"), {"segment": "nope"}).status_code == 400
    Mailing.objects.filter(pk=world["mailing"].pk).update(status=Mailing.Status.SENDING)
    refused = client.post(url(world, "organise:mailing_audience"), {"segment": world["segment"].pk, "mailing_list": world["news"].pk})
    assert refused.status_code == 409
    world["mailing"].refresh_from_db()
    assert world["mailing"].segment == other


# --- Step 3: send now or schedule -----------------------------------------------------------------


def test_the_send_page_confirms_the_exact_number(client, world):
    page = client.get(url(world, "organise:mailing")).content.decode()
    assert "Send to 4 people" in page and 'name="expected" value="4"' in page


def test_a_changed_number_is_not_sent_but_asked_again(client, world, django_capture_on_commit_callbacks):
    make_supporter("late@example.org", subscribed_to=world["news"])  # joined since the page was shown
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url(world, "organise:mailing_send"), {"expected": "4"})
    assert response.status_code == 409 and not callbacks
    page = response.content.decode()
    assert "it was 4, it is now 5" in page and "Send to 5 people" in page
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.DRAFT and not Delivery.objects.exists()
    for bad in ("", "five", "-1", "99999999999999999999999"):
        assert client.post(url(world, "organise:mailing_send"), {"expected": bad}).status_code in (400, 409)
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.DRAFT


def test_the_confirmed_number_is_sent(client, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(world, "organise:mailing_send"), {"expected": "4"})
    assert response.status_code == 303
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.SENT and world["mailing"].recipient_count == 4
    assert Delivery.objects.filter(mailing=world["mailing"], status=Delivery.Status.SENT).count() == 4
    assert client.post(url(world, "organise:mailing_send"), {"expected": "4"}).status_code in (400, 409)


def test_nobody_to_send_to_is_refused(client, world):
    empty = make_segment({"all": [{"condition": "postcode", "prefix": "ZZ9"}]}, name="Nobody")
    Mailing.objects.filter(pk=world["mailing"].pk).update(segment=empty)
    response = client.post(url(world, "organise:mailing_send"), {"expected": "0"})
    assert response.status_code == 400 and "Nobody would receive" in response.content.decode()


def test_scheduling_validates_the_time(client, world):
    for value, message in (("", "Enter the date and time"), ("tomorrow", "Enter the date and time"),
                           ("2026-02-30T10:00", "Enter the date and time"), ("2020-01-01T09:00", "has passed")):
        response = client.post(url(world, "organise:mailing_schedule"), {"at": value, "expected": "4"})
        assert response.status_code == 400 and message in response.content.decode(), value
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.DRAFT
    at = timezone.localtime() + timedelta(days=2)
    response = client.post(url(world, "organise:mailing_schedule"), {"at": at.strftime("%Y-%m-%dT%H:%M"), "expected": "4"})
    assert response.status_code == 303
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.SCHEDULED
    assert world["mailing"].scheduled_at == at.replace(second=0, microsecond=0)
    assert "Unschedule" in client.get(url(world, "organise:mailing")).content.decode()
    assert client.post(url(world, "organise:mailing_action", action="unschedule")).status_code == 303
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == Mailing.Status.DRAFT and world["mailing"].scheduled_at is None


# --- While it sends ------------------------------------------------------------------------------------


@pytest.fixture
def sending(world, django_capture_on_commit_callbacks):
    """The mailing started (its deliveries snapshotted and queued), no chunk sent yet."""
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=world["mailing"].pk)
    world["mailing"].refresh_from_db()
    return world["mailing"]


def test_pause_resume_and_cancel_change_the_state(client, world, sending, django_capture_on_commit_callbacks):
    page = client.get(url(world, "organise:mailing")).content.decode()
    assert 'data-progress' in page and 'id="mailing-progress-bar"' in page
    assert client.post(url(world, "organise:mailing_action", action="pause")).status_code == 303
    sending.refresh_from_db()
    assert sending.status == Mailing.Status.PAUSED
    assert client.post(url(world, "organise:mailing_action", action="pause")).status_code == 409  # already paused
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(url(world, "organise:mailing_action", action="resume")).status_code == 303
    sending.refresh_from_db()
    assert sending.status == Mailing.Status.SENDING
    # Cancel asks first, and changes nothing until confirmed.
    ask = client.post(url(world, "organise:mailing_action", action="cancel"))
    assert ask.status_code == 200 and "Yes, cancel the mailing" in ask.content.decode()
    sending.refresh_from_db()
    assert sending.status == Mailing.Status.SENDING
    assert client.post(url(world, "organise:mailing_action", action="cancel"), {"confirm": "yes"}).status_code == 303
    sending.refresh_from_db()
    assert sending.status == Mailing.Status.CANCELLED
    assert Delivery.objects.filter(mailing=sending, status=Delivery.Status.CANCELLED).count() == 4
    assert client.post(url(world, "organise:mailing_action", action="explode")).status_code == 404


def test_the_progress_endpoint_counts_the_deliveries(client, world, sending):
    first, second, *_rest = Delivery.objects.filter(mailing=sending).order_by("id")
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.SENT, sent_at=timezone.now())
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.Status.FAILED, last_error="550 mailbox full")
    Mailing.objects.filter(pk=sending.pk).update(started_at=timezone.now() - timedelta(minutes=1))
    progress = client.get(url(world, "organise:mailing_progress")).json()
    assert (progress["total"], progress["sent"], progress["failed"], progress["queued"], progress["done"]) == (4, 1, 1, 2, 2)
    assert progress["percent"] == 50.0 and progress["live"] is True and progress["status"] == "sending"
    assert progress["rate_per_minute"] == pytest.approx(2.0, rel=0.1) and progress["seconds_left"] == pytest.approx(60, abs=6)
    assert progress["problems"] == [{"id": second.pk, "status": "failed", "status_label": "Failed",
                                     "email": second.supporter.email, "error": "550 mailbox full"}]


# --- Afterwards -------------------------------------------------------------------------------------------


def test_the_results_match_the_deliveries_and_events(client, world, sending):
    start = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=3)
    Mailing.objects.filter(pk=sending.pk).update(status=Mailing.Status.SENT, started_at=start, finished_at=start)
    rows = list(Delivery.objects.filter(mailing=sending).order_by("id"))
    hour = timedelta(hours=1)
    for i, d in enumerate(rows):
        Delivery.objects.filter(pk=d.pk).update(
            status=Delivery.Status.SENT, sent_at=start, outcome=Delivery.Outcome.DELIVERED if i < 3 else Delivery.Outcome.BOUNCED,
            outcome_at=start + (hour if i == 0 else timedelta(0)),
        )
    Delivery.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(opened_at=start + hour, clicked_at=start + 2 * hour)
    Delivery.objects.filter(pk=rows[2].pk).update(opened_at=start + 2 * hour, unsubscribed_at=start + 2 * hour)
    petition_url, report_url = "https://example.org/petition", "https://example.org/report"
    for n, (delivery, link) in enumerate([(rows[0], petition_url), (rows[0], petition_url), (rows[1], petition_url),
                                          (rows[0], report_url)]):
        WebhookEvent.objects.create(esp="test", event_id=f"click-{n}", event_type="clicked", delivery=delivery, url=link,
                                    occurred_at=start + 2 * hour)
    page = client.get(url(world, "organise:mailing"))
    text = page.content.decode()
    assert "Results" in text and 'id="table-hourly"' in text and 'id="table-links"' in text
    hourly = client.get(url(world, "organise:mailing") + "?csv=hourly")
    lines = b"".join(hourly.streaming_content).decode().strip().splitlines()
    assert lines[0].split(",") == ["Hour", "Sent", "Delivered", "Bounced", "Opened", "Clicked", "Unsubscribed", "Complaints"]
    table = [line.split(",") for line in lines[1:]]
    assert len(table) == 3  # the start's hour to the last event's
    assert [row[1:] for row in table] == [["4", "2", "1", "0", "0", "0", "0"], ["0", "1", "0", "2", "0", "0", "0"],
                                          ["0", "0", "0", "1", "2", "1", "0"]]
    totals = client.get(url(world, "organise:mailing_progress")).json()
    for column, name in enumerate(["sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained"], 1):
        assert sum(int(row[column]) for row in table) == totals[name], name
    ranked = b"".join(client.get(url(world, "organise:mailing") + "?csv=links").streaming_content).decode().strip().splitlines()
    # Ranked by people, not clicks: two people clicked the petition (three clicks), one the report.
    assert ranked[1:] == [f"{petition_url},2,3", f"{report_url},1,1"]
    assert client.get(url(world, "organise:mailing") + "?csv=nope").status_code == 404


# --- The click URL, from the ESP's webhook -------------------------------------------------------------


def test_a_click_event_stores_its_link_without_a_recipients_token(client, world, settings, sending):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "muster:webhook-secret"}
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    delivery = Delivery.objects.filter(mailing=sending).first()
    auth = "Basic " + base64.b64encode(b"muster:webhook-secret").decode()
    unsubscribe = links.mailing_links(delivery.supporter, world["news"], world["host"]).unsubscribe_url
    for n, link in enumerate(["https://example.org/petition?ref=mail", unsubscribe]):
        payload = {"RecordType": "Click", "MessageID": f"m-{n}", "Recipient": delivery.supporter.email,
                   "OriginalLink": link, "ReceivedAt": "2026-11-24T10:05:00Z", "ClickLocation": "HTML",
                   "Metadata": {"delivery_id": str(delivery.pk), "mailing_id": str(sending.pk)}, "MessageStream": "broadcast"}
        response = client.post("/anymail/postmark/tracking/", data=json.dumps(payload), content_type="application/json",
                               HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200
    urls = sorted(WebhookEvent.objects.filter(event_type="clicked").values_list("url", flat=True))
    assert urls == ["https://example.org/petition?ref=mail", "https://muster.test/unsubscribe/…"]
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None
