"""Only the configured ESPs' tracking webhooks answer: every other ESP anymail knows, and every
inbound URL, is a 404; a configured one whose keys are missing, or sent a payload it cannot read,
is a 4xx, never a 500."""

import base64
import json

import pytest
from anymail import urls as anymail_urls

from mailings.webhook_urls import configured_esps

pytestmark = pytest.mark.django_db

SECRET = "muster:webhook-secret"
AUTH = "Basic " + base64.b64encode(SECRET.encode()).decode()
EVERY_ESP_URL = sorted({"/anymail/" + str(p.pattern).lstrip("^").rstrip("$").replace("(_mime)?", "") for p in anymail_urls.urlpatterns})


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.MAILINGS_BULK_EMAIL_BACKEND = ""
    settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND = ""


def post(client, url):
    return client.post(url, data=json.dumps({}), content_type="application/json", HTTP_AUTHORIZATION=AUTH)


def test_it_names_the_esps_of_every_configured_backend(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND = "mailings.backends.OutboxEmailBackend"
    assert configured_esps() == {"postmark", "mailgun"}


def test_no_esp_url_answers_when_none_is_configured(client):
    assert len(EVERY_ESP_URL) > 20  # amazon_ses, brevo, mailgun, postmark, sendgrid, …
    for url in EVERY_ESP_URL:
        assert post(client, url).status_code == 404, url


def test_only_the_configured_esps_urls_answer(client, settings):
    settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    for url in EVERY_ESP_URL:
        status = post(client, url).status_code
        if url.startswith("/anymail/postmark/tracking"):
            assert status in (200, 400), (url, status)
        else:
            assert status == 404, (url, status)


ESPS = sorted({url.split("/")[2] for url in EVERY_ESP_URL})


@pytest.mark.parametrize("esp", ESPS)
def test_a_configured_esp_without_its_keys_or_given_nonsense_is_never_a_500(client, settings, esp):
    settings.MAILINGS_BULK_EMAIL_BACKEND = f"anymail.backends.{esp}.EmailBackend"
    for url in (u for u in EVERY_ESP_URL if u.startswith(f"/anymail/{esp}/")):
        for body in ({}, [], {"type": 1, "event-data": None}):
            status = client.post(url, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=AUTH)
            assert status.status_code < 500, (url, body, status.status_code)
            if "inbound" in url:
                assert status.status_code == 404, url


def test_a_configured_esp_missing_its_signing_key_is_a_404(client, settings):
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {key: value for key, value in settings.ANYMAIL.items() if not key.startswith("MAILGUN")}
    assert post(client, "/anymail/mailgun/tracking/").status_code == 404


def test_a_bug_in_musters_own_receiver_is_not_hidden(client, settings, monkeypatch):
    from mailings import webhooks

    def broken(**kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(webhooks, "tracking_event_apply", broken)
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    client.raise_request_exception = False
    body = {"RecordType": "Delivery", "MessageID": "m-1", "Recipient": "ada@example.org", "DeliveredAt": "2026-01-01T00:00:00Z"}
    response = client.post("/anymail/postmark/tracking/", data=json.dumps(body), content_type="application/json",
                           HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 500
