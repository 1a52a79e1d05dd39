"""The claim protocol in one process, step by step (docs/design.md, "Sending exactly once"):
fencing, the claim kept alive by a slow chunk, lanes held by leases, a mailing kept open by
unknown outcomes and reopened by reconciliation, and how a failed call is classified.
tests/mailings/test_faults.py tries the same with real workers, kills and blips."""

import threading
import uuid
from datetime import timedelta

import pytest
import requests
import urllib3
from anymail.exceptions import AnymailRequestsAPIError
from django.db import OperationalError, connection
from django.utils import timezone

from mailings import esp, sql
from mailings.models import Delivery, Mailing, SendLane
from mailings.services import sending
from mailings.services.sending import Lane, chunk_claim, chunk_send, claims_sweep, lanes_wake, mailings_tick
from tests.support.factories import make_list, make_mailing, make_supporter

pytestmark = pytest.mark.django_db


def people(n, news):
    return [make_supporter(f"person{i}@example.org", subscribed_to=news) for i in range(n)]


def started(news, django_capture_on_commit_callbacks, **kwargs):
    mailing = make_mailing(mailing_list=news, **kwargs)
    with django_capture_on_commit_callbacks(execute=False):  # no lanes: the test sends
        sending.mailing_start(mailing_id=mailing.pk)
    return mailing


def copies(esp_mock):
    counts = {}
    for record in esp_mock.records_snapshot():
        counts[record.delivery_id] = counts.get(record.delivery_id, 0) + 1
    return counts


def age_claims(seconds):
    Delivery.objects.exclude(claimed_at=None).update(claimed_at=timezone.now() - timedelta(seconds=seconds))


# --- Fencing -------------------------------------------------------------------------------


def test_marking_sending_takes_only_the_rows_the_claim_still_holds(mailgun, settings, django_capture_on_commit_callbacks):
    news = make_list(slug="news")
    people(4, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    old_token, rows = chunk_claim(mailing_id=mailing.pk, size=4)
    ids = [delivery_id for delivery_id, _ in rows]
    age_claims(settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() + 1)
    assert claims_sweep() == (4, 0)  # the holder looked dead
    new_token, _ = chunk_claim(mailing_id=mailing.pk, size=2)  # another worker took two
    assert sql.deliveries_mark_sending(token=old_token, delivery_ids=ids) == set()
    assert sql.deliveries_claim_renew(token=old_token, delivery_ids=ids) == set()
    assert len(sql.deliveries_mark_sending(token=new_token, delivery_ids=ids)) == 2


def test_a_stale_claim_holder_sends_nothing_the_sweeper_took_back(mailgun, settings, django_capture_on_commit_callbacks):
    """The whole chunk path, paused between its claim and its send for longer than the
    timeout (a stopped process, a long GC): the rows went to another worker, who sent them;
    the old holder sends none of them."""
    news = make_list(slug="news")
    people(3, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    real_take = sending.esp_limiter

    class PausedLimiter:
        def __init__(self, name):
            self.limiter = real_take(name)

        def take(self, n, max_wait):
            self.limiter.take(n, max_wait=max_wait)
            age_claims(settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() + 1)
            claims_sweep()
            sending.esp_limiter = real_take  # the other worker is not paused
            assert chunk_send(mailing_id=mailing.pk).sent == 3

    sending.esp_limiter = PausedLimiter
    try:
        assert chunk_send(mailing_id=mailing.pk).sent == 0
    finally:
        sending.esp_limiter = real_take
    assert set(copies(mailgun).values()) == {1} and len(copies(mailgun)) == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


@pytest.mark.postgres  # the sweeper's thread needs a connection of its own beside the sender's
@pytest.mark.django_db(transaction=True)
def test_a_slow_chunk_keeps_its_claim_alive_while_the_sweeper_runs(postmark, settings, monkeypatch):
    """One message per call at 0.06 s, a chunk lasting over three claim timeouts, and a sweeper
    running all the while in another thread: nothing is taken back, nobody gets two."""
    settings.MAILINGS_CLAIM_TIMEOUT = timedelta(seconds=0.4)
    settings.MAILINGS_SINGLE_GROUP_SIZE = 3
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.1}
    news = make_list(slug="news")
    people(24, news)
    mailing = make_mailing(mailing_list=news)
    monkeypatch.setattr(sending, "lanes_wake", lambda mailing_id: 0)  # the test sends
    sending.mailing_start(mailing_id=mailing.pk)
    postmark.configure(delay=0.06)
    stop, swept = threading.Event(), []

    def sweeper():
        while not stop.is_set():
            swept.append(claims_sweep())
            stop.wait(0.05)
        connection.close()

    thread = threading.Thread(target=sweeper)
    thread.start()
    try:
        result = chunk_send(mailing_id=mailing.pk)
    finally:
        stop.set()
        thread.join()
    assert result.sent == 24
    assert len(swept) > 20 and set(swept) == {(0, 0)}
    assert set(copies(postmark).values()) == {1} and len(copies(postmark)) == 24


# --- Finishing, reconciling, reopening ----------------------------------------------------------


def test_unknown_deliveries_keep_the_mailing_open_until_reconciled(mailgun, settings, django_capture_on_commit_callbacks):
    news = make_list(slug="news")
    people(3, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    token, rows = chunk_claim(mailing_id=mailing.pk, size=3)
    sql.deliveries_mark_sending(token=token, delivery_ids=[delivery_id for delivery_id, _ in rows])
    age_claims(settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() + 1)
    with django_capture_on_commit_callbacks(execute=False):
        result = mailings_tick()
    assert result["unknown"] == 3 and result["resent"] == 0  # inside Mailgun's search delay
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENDING
    assert not sending.mailing_finish_if_done(mailing_id=mailing.pk)

    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0)}
    with django_capture_on_commit_callbacks(execute=True):
        result = mailings_tick()
    assert result["resent"] == 3  # the ESP never had them: queued again and sent
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT
    assert set(copies(mailgun).values()) == {1} and len(copies(mailgun)) == 3


def test_reconciliation_reopens_a_mailing_marked_sent_too_early(mailgun, settings, django_capture_on_commit_callbacks):
    """Mailings finished by an earlier release with unknown rows left: the rows the ESP never
    had are sent, not stranded."""
    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0)}
    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    Delivery.objects.update(status=Delivery.Status.UNKNOWN, claim_token=uuid.uuid4(), claimed_at=timezone.now() - timedelta(hours=1))
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.SENT, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert mailings_tick()["resent"] == 2
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT
    assert len(copies(mailgun)) == 2 and set(copies(mailgun).values()) == {1}


def test_reconciliation_keeps_a_cancelled_mailings_rows_cancelled(mailgun, settings, django_capture_on_commit_callbacks):
    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0)}
    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    Delivery.objects.update(status=Delivery.Status.UNKNOWN, claim_token=uuid.uuid4(), claimed_at=timezone.now() - timedelta(hours=1))
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True):
        mailings_tick()
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.CANCELLED}
    assert copies(mailgun) == {}


def test_the_mailing_page_says_why_it_waits(mailgun, settings, django_capture_on_commit_callbacks):
    from mailings.selectors.mailings import mailing_progress

    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    assert mailing_progress(mailing=mailing)["unknown_reason"] == ""
    Delivery.objects.update(status=Delivery.Status.UNKNOWN)
    assert "2 deliveries await reconciliation" in mailing_progress(mailing=mailing)["unknown_reason"]
    settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"  # no search to ask
    assert "until you decide" in mailing_progress(mailing=mailing)["unknown_reason"]


# --- Lanes ---------------------------------------------------------------------------------


def test_a_lane_has_one_chain_and_a_lapsed_one_is_replaced(mailgun, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.MAILINGS_SEND_LANES = 2
    queued = []
    monkeypatch.setattr(sending, "queue", lambda task, *args: queued.append(args))
    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    assert lanes_wake(mailing.pk) == 2
    assert lanes_wake(mailing.pk) == 0  # both held: nothing doubled (two beats, a click)
    (_, lane0, chain0), (_, lane1, chain1) = queued
    first = Lane(mailing_id=mailing.pk, number=lane0, chain=uuid.UUID(chain0))
    assert first.hold()
    assert not Lane(mailing_id=mailing.pk, number=lane0, chain=uuid.uuid4()).hold()  # a second chain stops
    SendLane.objects.filter(number=lane0).update(renewed_at=timezone.now() - settings.MAILINGS_LANE_LEASE - timedelta(seconds=1))
    assert lanes_wake(mailing.pk) == 1  # its worker died: beat replaces it
    assert not first.hold()  # the old chain, if it was only slow, stops at its next chunk
    assert queued[-1][1] == lane0 and queued[-1][2] != chain0


def test_beat_replaces_a_lost_lane_within_a_lease(mailgun, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.MAILINGS_SEND_LANES = 1
    queued = []
    monkeypatch.setattr(sending, "queue", lambda task, *args: queued.append(args))
    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    lanes_wake(mailing.pk)
    assert mailings_tick()["woken"] == 0  # the lane's chain is alive
    SendLane.objects.update(renewed_at=timezone.now() - settings.MAILINGS_LANE_LEASE - timedelta(seconds=1))
    assert mailings_tick()["woken"] == 1
    assert len(queued) == 2


# --- Classifying a failed call and recording through a blip ---------------------------------------


def connection_error(reason):
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


@pytest.mark.parametrize(("error", "unknown"), [
    (requests.ReadTimeout("read timed out"), True),
    (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))), True),
    (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionAbortedError())), True),
    (requests.exceptions.ChunkedEncodingError("broken answer"), True),
    (requests.ConnectTimeout("connect timed out"), False),
    (connection_error(urllib3.exceptions.NewConnectionError(None, "refused")), False),
    (connection_error(urllib3.exceptions.NameResolutionError("esp.invalid", None, OSError("no such host"))), False),
    (ValueError("an answer that is not JSON"), False),
])
def test_a_failed_call_is_unknown_once_the_request_may_have_left(error, unknown):
    wrapped = RuntimeError("an error raised from it")
    wrapped.__cause__ = error
    # anymail re-raises a requests error as a subclass of both, with its own message
    as_anymail = type("AnymailRequestsAPIError", (AnymailRequestsAPIError, type(error)), {})("Error posting to …")
    as_anymail.__cause__ = error
    assert esp.outcome_unknown(error) is unknown
    assert esp.outcome_unknown(wrapped) is unknown
    assert esp.outcome_unknown(as_anymail) is unknown


def test_an_answer_is_recorded_through_a_short_database_blip(mailgun, monkeypatch, django_capture_on_commit_callbacks):
    news = make_list(slug="news")
    people(2, news)
    mailing = started(news, django_capture_on_commit_callbacks)
    real, failures = sql.deliveries_sent_record, [2]
    monkeypatch.setattr(connection, "close", lambda: None)  # the test's transaction holds the connection

    def blip(**kwargs):
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(sql, "deliveries_sent_record", blip)
    assert chunk_send(mailing_id=mailing.pk).sent == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_a_task_outlives_its_claims_in_the_broker(settings):
    """A killed worker's task returns to the queue only after Redis's visibility timeout: by
    then its claims were swept long ago, so the re-delivered task finds nothing of its own."""
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.MAILINGS_CLAIM_TIMEOUT.total_seconds()
