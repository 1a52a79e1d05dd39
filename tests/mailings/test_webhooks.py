"""ESP tracking webhooks through anymail's Postmark view: deliveries updated, a replay
changes nothing, hard bounces and complaints suppress, soft bounces suppress at the limit,
and the transactional stream obeys suppression but not an unsubscribe."""

import base64
import json

import pytest

from engage.models import Suppression
from engage.suppression import is_suppressed
from mailings.models import Delivery, OutboundEmail, WebhookEvent
from mailings.services.transactional import transactional_send
from tests.support.factories import make_list, make_mailing, make_petition, make_supporter

pytestmark = pytest.mark.django_db

SECRET = "muster:webhook-secret"
URL = "/anymail/postmark/tracking/"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    # Only a configured ESP's webhook answers (mailings.webhook_urls).
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"


def post(client, payload, secret=SECRET):
    auth = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(URL, data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth)


@pytest.fixture
def delivery():
    news = make_list(slug="news")
    supporter = make_supporter("ada@example.org", subscribed_to=news)
    mailing = make_mailing(mailing_list=news)
    return Delivery.objects.create(mailing=mailing, supporter=supporter, status=Delivery.Status.SENT, esp_message_id="m-1")


def event(delivery, record_type, **extra):
    payload = {
        "RecordType": record_type, "MessageID": "m-1", "Recipient": delivery.supporter.email,
        "Metadata": {"delivery_id": str(delivery.pk), "mailing_id": str(delivery.mailing_id)},
        "DeliveredAt": "2026-11-24T10:00:00Z", "ReceivedAt": "2026-11-24T10:05:00Z", "MessageStream": "broadcast",
    }
    payload.update(extra)
    return payload


def bounce(delivery, kind, bounce_id):
    return event(delivery, "Bounce", Type=kind, TypeCode=1, ID=bounce_id, Email=delivery.supporter.email,
                 BouncedAt="2026-11-24T10:01:00Z", Name=kind, Description="", Details="", Inactive=True, CanActivate=True)


def test_it_refuses_requests_without_the_secret(client, delivery):
    assert post(client, event(delivery, "Delivery"), secret="muster:wrong").status_code == 400
    assert client.post(URL, data="{}", content_type="application/json").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_records_delivery_open_and_click_once_even_when_replayed(client, delivery):
    for payload in (event(delivery, "Delivery"), event(delivery, "Open"), event(delivery, "Click")):
        assert post(client, payload).status_code == 200
        assert post(client, payload).status_code == 200  # the ESP delivers it again
    delivery.refresh_from_db()
    assert delivery.outcome == Delivery.Outcome.DELIVERED
    assert delivery.opened_at and delivery.clicked_at
    assert WebhookEvent.objects.count() == 3


def test_it_suppresses_on_a_hard_bounce_for_every_later_send(client, delivery):
    assert post(client, bounce(delivery, "HardBounce", 101)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.outcome == Delivery.Outcome.BOUNCED
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE
    # The transactional stream stops too.
    sent = transactional_send(
        dedupe_key="confirm:1", kind="signature_confirm", supporter=delivery.supporter,
        template="petitions/email/confirm", context={"petition": make_petition(), "confirm_url": "https://x", "pending": True},
    )
    assert sent is False
    assert OutboundEmail.objects.get().status == OutboundEmail.Status.SUPPRESSED


def test_it_suppresses_on_a_complaint(client, delivery):
    assert post(client, event(delivery, "SpamComplaint", Type="SpamComplaint", ID=7, Email=delivery.supporter.email,
                              BouncedAt="2026-11-24T10:01:00Z")).status_code == 200
    delivery.refresh_from_db()
    assert delivery.outcome == Delivery.Outcome.COMPLAINED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


def test_it_counts_soft_bounces_and_suppresses_at_the_limit(client, delivery, settings):
    settings.MAILINGS_SOFT_BOUNCE_LIMIT = 3
    for bounce_id in (1, 2):
        post(client, bounce(delivery, "SoftBounce", bounce_id))
    post(client, bounce(delivery, "SoftBounce", 2))  # a replay does not count
    assert not is_suppressed(delivery.supporter.email)
    delivery.refresh_from_db()
    assert delivery.outcome == Delivery.Outcome.DEFERRED
    post(client, bounce(delivery, "SoftBounce", 3))
    assert Suppression.objects.get().reason == Suppression.Reason.SOFT_BOUNCES


def test_it_ignores_a_delivery_id_that_does_not_belong_to_the_mailing_named(client, delivery):
    payload = event(delivery, "Delivery")
    payload["Metadata"]["mailing_id"] = str(delivery.mailing_id + 1)
    assert post(client, payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.outcome == ""


def test_it_still_sends_transactional_email_after_a_marketing_unsubscribe(delivery):
    from engage.services.subscriptions import unsubscribe

    unsubscribe(supporter=delivery.supporter, mailing_list=None, wording="Stop", source="test")
    sent = transactional_send(
        dedupe_key="confirm:2", kind="signature_confirm", supporter=delivery.supporter,
        template="petitions/email/confirm", context={"petition": make_petition(), "confirm_url": "https://x", "pending": True},
    )
    assert sent is True
    outbound = OutboundEmail.objects.get()
    assert outbound.status == OutboundEmail.Status.SENT and outbound.stream == OutboundEmail.Stream.TRANSACTIONAL
