"""A real Celery worker on the Redis broker sends the confirmation email through anymail."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from config.celery import app
from petitions.models import Signature
from tests.support.factories import make_petition, sign_data
from tests.support.workers import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_worker():
    app.conf.task_always_eager = False
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def test_it_sends_the_confirmation_from_a_worker(client, real_worker):
    petition = make_petition()
    response = client.post(f"/p/{petition.slug}/sign", sign_data())
    assert response.status_code == 303
    assert wait_until(lambda: len(mail.outbox) == 1, timeout=15), "the worker sent no email"
    message = mail.outbox[0]
    assert message.to == ["ada@example.org"]
    # anymail's test backend records what it would have posted to the ESP.
    assert message.anymail_test_params["metadata"]["kind"] == "signature_confirm"
    assert message.anymail_status.status == {"sent"}
    assert wait_until(lambda: Signature.objects.filter(confirmation_sent_at__isnull=False).exists(), timeout=15)
