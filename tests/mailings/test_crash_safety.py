"""The proof: a 10,000-recipient mailing sent by real Celery workers (with embedded beat) on
Redis to the mock ESP, while the workers are stopped and restarted several times.

- SIGTERM (a deploy): every recipient gets exactly one message.
- SIGKILL (a crash): nobody ever gets two; the deliveries in flight at the kill become
  unknown (not resent blindly) and are settled against the ESP's own record, after which
  every recipient has exactly one message.
Nobody suppressed, unsubscribed or without consent receives anything.
"""

import tempfile
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from mailings.models import Delivery, Mailing
from mailings.services.sending import claims_sweep, mailing_start
from tests.support.factories import make_audience_bulk, make_list, make_mailing, make_supporter, suppress
from tests.support.workers import Worker, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 10_000


@pytest.fixture
def broker_queue():
    """A queue of this run's own on the Redis broker, published to by this process."""
    queue = f"muster-crash-{uuid.uuid4().hex[:10]}"
    eager, default_queue = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        app.conf.task_always_eager, app.conf.task_default_queue = eager, default_queue


@pytest.fixture
def worker(mock_esp, broker_queue, settings):
    """One worker process (2 pool processes, beat embedded) against this test's database."""
    db = connection.settings_dict
    settings.MAILINGS_CLAIM_TIMEOUT = timedelta(seconds=3)
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_KEY": "k", "MAILGUN_API_URL": f"{mock_esp.url}/v3",
                        "MAILGUN_SENDER_DOMAIN": "mail.muster.test"}
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        "DEBUG": "False",
        "SITE_URL": settings.SITE_URL,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
        "ANYMAIL_MAILGUN_API_KEY": "k",
        "ANYMAIL_MAILGUN_API_URL": f"{mock_esp.url}/v3",
        "ANYMAIL_MAILGUN_SENDER_DOMAIN": "mail.muster.test",
        "MAILINGS_CHUNK_SIZE": "100",
        "MAILINGS_SEND_LANES": "4",
        "MAILINGS_RATE_PER_SECOND": "1200",
        "MAILINGS_RATE_LIMIT_KEY_PREFIX": broker_queue,
        "MAILINGS_CLAIM_TIMEOUT_SECONDS": "3",
        "MAILINGS_SEARCH_DELAY_SECONDS": "0",
        "ANYMAIL_REQUESTS_TIMEOUT": "0.7",
        "MAILINGS_TICK_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory() as workdir:
        env["MUSTER_VAR_DIR"] = workdir
        process = Worker(env=env, queue=broker_queue, concurrency=2, beat=True, workdir=workdir, name="crash")
        try:
            yield process
        finally:
            process.stop()


def audience():
    news = make_list(slug="news")
    crowd = make_audience_bulk(RECIPIENTS, mailing_list=news)
    excluded = []
    for i in range(10):
        excluded.append(make_supporter(f"bounced{i}@example.org", subscribed_to=news))
        suppress(f"bounced{i}@example.org")
        excluded.append(make_supporter(f"left{i}@example.org", unsubscribed_from=news))
        excluded.append(make_supporter(f"never{i}@example.org", opted_in=False, subscribed_to=news))
    return news, crowd, excluded


def received(mock_esp, mailing):
    """{delivery id: copies} the mock ESP accepted for this mailing."""
    ids = set(Delivery.objects.filter(mailing=mailing).values_list("pk", flat=True))
    return {int(k): v for k, v in mock_esp.copies_snapshot().items() if int(k) in ids}


def assert_exactly_once(mock_esp, mailing, crowd, excluded):
    mailing.refresh_from_db()
    assert mailing.recipient_count == RECIPIENTS
    copies = received(mock_esp, mailing)
    assert len(copies) == RECIPIENTS and set(copies.values()) == {1}, Counter(copies.values())
    addresses = Counter(r.to for r in mock_esp.records_snapshot() if int(r.delivery_id) in copies)
    assert set(addresses) == {s.email for s in crowd} and set(addresses.values()) == {1}
    assert not {s.email for s in excluded} & {r.to for r in mock_esp.records_snapshot()}
    assert set(Delivery.objects.filter(mailing=mailing).values_list("status", flat=True)) == {Delivery.Status.SENT}


def start_mailing(mailing):
    mailing_start(mailing_id=mailing.pk)


def test_it_sends_exactly_once_through_sigterm_and_sigkill(mock_esp, worker, django_capture_on_commit_callbacks):
    news, crowd, excluded = audience()

    # --- SIGTERM three times mid-send: a deploy. ---
    mock_esp.configure(delay=0.05)
    deploy = make_mailing(mailing_list=news, name="Deploy")
    start_mailing(deploy)
    worker.start()
    for threshold in (1500, 4000, 6500):
        assert wait_until(lambda t=threshold: len(received(mock_esp, deploy)) >= t, timeout=60, interval=0.2), worker.log_tail()
        assert worker.terminate(timeout=60) == 0
        # A warm shutdown finishes its chunks: nothing is left half-sent.
        assert not Delivery.objects.filter(mailing=deploy, status__in=["claimed", "sending"]).exists()
        assert len(received(mock_esp, deploy)) < RECIPIENTS, "stopped too late to prove anything"
        worker.start()
    assert wait_until(lambda: Mailing.objects.get(pk=deploy.pk).status == Mailing.Status.SENT, timeout=60, interval=0.2), worker.log_tail()
    assert_exactly_once(mock_esp, deploy, crowd, excluded)

    # --- SIGKILL three times mid-send: a crash, with requests in flight. ---
    worker.terminate()
    mock_esp.configure(delay=0.25)
    crash = make_mailing(mailing_list=news, name="Crash")
    start_mailing(crash)
    worker.start()
    unknown_total = 0
    for threshold in (1500, 4000, 6500):
        assert wait_until(lambda t=threshold: len(received(mock_esp, crash)) >= t, timeout=60, interval=0.2), worker.log_tail()
        worker.kill()
        in_flight = set(Delivery.objects.filter(mailing=crash, status="sending").values_list("pk", flat=True))
        assert max(received(mock_esp, crash).values()) == 1  # nobody ever gets two
        # Past the claim timeout the sweeper calls them unknown, not queued: they may have left.
        wait_until(lambda: False, timeout=3.2)
        requeued, unknown = claims_sweep()
        assert unknown == len(in_flight)
        assert set(Delivery.objects.filter(mailing=crash, status="unknown").values_list("pk", flat=True)) >= in_flight
        unknown_total += unknown
        worker.start()  # its beat settles the unknown ones against the mock ESP's record
    assert unknown_total > 0, "no kill landed while a request was in flight"
    assert wait_until(lambda: Mailing.objects.get(pk=crash.pk).status == Mailing.Status.SENT, timeout=90), worker.log_tail()
    assert_exactly_once(mock_esp, crash, crowd, excluded)
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 600
