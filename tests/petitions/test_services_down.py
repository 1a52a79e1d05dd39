"""docs/design.md, "Stored first, sent when the service is back": nothing a supporter submitted is lost because Redis is down."""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from config.celery import app
from petitions import tasks
from petitions.models import Signature
from tests.support.factories import make_petition, sign_data

DEAD_REDIS = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
DEAD_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": DEAD_REDIS,
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def dead_broker():
    """Point the Celery app at a broker that refuses connections, then restore it."""
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = DEAD_REDIS, False
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)
def test_a_signature_is_kept_when_the_broker_is_down_and_its_email_sent_later(client, dead_broker):
    petition = make_petition()
    response = client.post(f"/p/{petition.slug}/sign", sign_data())
    assert response.status_code == 303
    signature = Signature.objects.get()
    assert signature.status == Signature.Status.PENDING
    assert mail.outbox == []

    # The broker is back: beat's sweeper sends what is owed, once.
    app.conf.task_always_eager = True
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + settings.CONFIRM_OWED_AFTER + timedelta(minutes=1)):
        tasks.confirmations_owed_send.delay()
        tasks.confirmations_owed_send.delay()
    assert len(mail.outbox) == 1
    assert "/confirm/" in mail.outbox[0].body


@pytest.mark.django_db
@override_settings(CACHES=DEAD_CACHE, SIGN_RATE_PER_IP_PETITION=["1/60s"])
def test_signing_and_counting_work_when_the_cache_is_down(client, django_capture_on_commit_callbacks):
    petition = make_petition()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"/p/{petition.slug}/sign", sign_data())
        # The limits cannot be counted, so nobody is held for want of them.
        second = client.post(f"/p/{petition.slug}/sign", sign_data(email="bob@example.org"))
    assert first.status_code == second.status_code == 303
    assert list(Signature.objects.values_list("status", flat=True)) == ["pending", "pending"]
    assert len(mail.outbox) == 2

    page = client.get(petition.get_absolute_url())
    assert page.status_code == 200
    api = client.get(f"/api/petitions/{petition.slug}")
    assert api.status_code == 200
    assert api.json()["signature_count"] == 0

    path = mail.outbox[0].body.split("https://muster.test", 1)[1].split()[0]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(path).status_code == 303
    tasks.counts_reconcile.delay()
    assert client.get(f"/api/petitions/{petition.slug}").json()["signature_count"] == 1
