"""ESP tracking webhooks through anymail's Mailgun view, which checks Mailgun's HMAC signature
with ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY on top of the basic-auth WEBHOOK_SECRET; and an ESP's
"unsubscribed" event, which takes the person off the list at once for every later send."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from engage.models import Subscription, SubscriptionEvent, Supporter
from mailings.models import Delivery, Mailing, WebhookEvent
from mailings.selectors.recipients import recipients_eligible
from mailings.services.sending import chunk_send, deliveries_snapshot
from mailings.services.webhooks import ESP_UNSUBSCRIBE_WORDING
from tests.support.factories import make_list, make_mailing, make_segment, make_supporter

pytestmark = pytest.mark.django_db

SECRET = "muster:webhook-secret"
SIGNING_KEY = "key-mailgun-webhook-signing-test"
URL = "/anymail/mailgun/tracking/"


@pytest.fixture(autouse=True)
def webhook_keys(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    # Only a configured ESP's webhook answers (mailings.webhook_urls).
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"


def signed(event_data, *, key=SIGNING_KEY, token="a" * 50):
    """Mailgun's webhook body: the event, and a signature over timestamp + token."""
    timestamp = str(int(time.time()))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}


def post(client, body, secret=SECRET):
    auth = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(URL, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth)


@pytest.fixture
def news():
    return make_list(slug="news")


@pytest.fixture
def delivery(news):
    supporter = make_supporter("ada@example.org", subscribed_to=news)
    mailing = make_mailing(mailing_list=news)
    return Delivery.objects.create(mailing=mailing, supporter=supporter, status=Delivery.Status.SENT, esp_message_id="<m-1@mock>")


def event_data(delivery, event, **extra):
    data = {
        "event": event, "timestamp": time.time(), "id": "evt-1", "recipient": delivery.supporter.email,
        "message": {"headers": {"message-id": "m-1@mock"}},
        "user-variables": {"delivery_id": str(delivery.pk), "mailing_id": str(delivery.mailing_id)},
    }
    data.update(extra)
    return data


def test_it_applies_an_event_with_a_valid_mailgun_signature(client, delivery):
    assert post(client, signed(event_data(delivery, "delivered"))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.outcome == Delivery.Outcome.DELIVERED
    assert WebhookEvent.objects.get().esp == "mailgun"


def test_it_refuses_an_event_signed_with_another_key_or_tampered_with(client, delivery):
    assert post(client, signed(event_data(delivery, "delivered"), key="key-someone-else")).status_code == 400
    tampered = signed(event_data(delivery, "delivered"))
    tampered["signature"]["timestamp"] = str(int(tampered["signature"]["timestamp"]) + 1)
    assert post(client, tampered).status_code == 400
    unsigned = signed(event_data(delivery, "delivered"))
    del unsigned["signature"]
    assert post(client, unsigned).status_code == 400
    delivery.refresh_from_db()
    assert delivery.outcome == ""
    assert not WebhookEvent.objects.exists()


def test_it_refuses_a_valid_signature_without_the_webhook_secret(client, delivery):
    assert post(client, signed(event_data(delivery, "delivered")), secret="muster:wrong").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_recognises_a_replayed_event_by_mailguns_token(client, delivery):
    body = signed(event_data(delivery, "opened"), token="b" * 50)
    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_an_esp_unsubscribe_takes_the_person_off_the_list_for_every_later_send(client, news, delivery, mailgun, django_capture_on_commit_callbacks):
    ada = delivery.supporter
    bob = make_supporter("bob@example.org", subscribed_to=news)
    # A mailing already snapshotted before the event, and one started after it.
    queued = make_mailing(mailing_list=news, name="Already queued")
    deliveries_snapshot(mailing=queued)
    Mailing.objects.filter(pk=queued.pk).update(status=Mailing.Status.SENDING)

    assert post(client, signed(event_data(delivery, "unsubscribed"))).status_code == 200

    assert Subscription.objects.get(supporter=ada, mailing_list=news).status == Subscription.Status.UNSUBSCRIBED
    ledger = SubscriptionEvent.objects.filter(supporter=ada, mailing_list=news).latest("created_at")
    assert ledger.status == Subscription.Status.UNSUBSCRIBED and ledger.wording == ESP_UNSUBSCRIBE_WORDING
    assert ledger.source == "esp:mailgun"
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    everyone = Supporter.objects.all()
    assert set(recipients_eligible(everyone, organisation=news.organisation, mailing_list=news)) == {bob}

    while chunk_send(mailing_id=queued.pk).claimed:
        pass
    assert Delivery.objects.get(mailing=queued, supporter=ada).status == Delivery.Status.SKIPPED
    later = make_mailing(mailing_list=news, segment=make_segment({"condition": "subscribed_to_list", "list": "news"}), name="Later")
    assert deliveries_snapshot(mailing=later) == 1
    assert [r.to for r in mailgun.records] == [bob.email]
