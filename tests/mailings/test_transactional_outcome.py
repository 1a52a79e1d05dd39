"""A transactional email whose outcome is unknown is never sent twice, and never lost.

Against the mock ESP through both anymail backends: a connection dropped after the ESP took
the request leaves the email `unknown`; neither the task's retry nor the owed sweep sends it
again, and the signature does not record it as sent. Beat asks the ESP's search once its
delay has passed: found, it is sent; never arrived, it is sent by the next try. A connection
that could not be opened (the request never written) is retried and sent once."""

import socket
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from celery.signals import task_retry

from mailings.models import Delivery, OutboundEmail
from mailings.services.sending import chunk_send, mailing_start
from mailings.services.transactional import EmailOutcomeUnknown, outbound_reconcile
from petitions import tasks as petition_tasks
from petitions.models import Signature
from petitions.services.signing import confirmations_owed_send, petition_sign, signature_confirmation_send
from tests.support.factories import make_list, make_mailing, make_petition, make_supporter

pytestmark = pytest.mark.django_db

ADDRESS = "ada@example.org"


@pytest.fixture(params=["postmark", "mailgun"])
def esp(request, settings):
    """The mock ESP behind one of the two backends (its fixture sets EMAIL_BACKEND)."""
    return request.getfixturevalue(request.param)


def confirmation_task(signature):
    """The confirmation task as a worker runs it, its retries included (at once, in the test)."""
    return petition_tasks.signature_confirmation_send.apply((signature.pk,), throw=False).get()


def drop_after_accepting(esp, monkeypatch, times=1, *, accept=True):
    """The mock ESP records the next `times` messages (or, with accept=False, does not), then
    closes the connection without an answer: the sender cannot tell whether they were taken."""
    handle = esp.server.handle
    remaining = [times]

    def accept_then_drop(method, target, body):
        dropping = method == "POST" and not target.startswith("/_mock/") and remaining[0] > 0
        if dropping and not accept:
            remaining[0] -= 1
            raise ConnectionAbortedError("the mock ESP dropped the connection before accepting")
        answer = handle(method, target, body)
        if dropping:
            remaining[0] -= 1
            raise ConnectionAbortedError("the mock ESP dropped the connection after accepting")
        return answer

    monkeypatch.setattr(esp.server, "handle", accept_then_drop)


def confirmation_unsettled(signature):
    """The confirmation as the task runs it once: told to try later, nothing recorded as sent."""
    with pytest.raises(EmailOutcomeUnknown):
        signature_confirmation_send(signature_id=signature.pk)
    signature.refresh_from_db()
    assert signature.confirmation_sent_at is None


def search_caught_up(settings):
    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0), "postmark": timedelta(0)}


def refused_url(esp, settings):
    """The ESP's API URL setting on a local port where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "POSTMARK_API_URL" if "POSTMARK_API_URL" in settings.ANYMAIL else "MAILGUN_API_URL"
    real = settings.ANYMAIL[key]
    return key, real, real.replace(esp.url, f"http://127.0.0.1:{port}")


def copies(esp):
    return sum(1 for record in esp.records_snapshot() if record.to == ADDRESS)


def pending_signature(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the confirmation is sent by the test
        result = petition_sign(
            petition=make_petition(), first_name="Ada", last_name="Lovelace", email=ADDRESS, country="GB",
            postcode="S70 2AB", opt_in=False,
        )
    return result.signature


def owed_sweep(signature, settings, django_capture_on_commit_callbacks):
    """Beat's sweep of confirmations never sent, once the signature is old enough for it."""
    Signature.objects.filter(pk=signature.pk).update(
        created_at=signature.created_at - settings.CONFIRM_OWED_AFTER - timedelta(minutes=1)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            return confirmations_owed_send()
    except Retry:  # eager here: the queued task was told to try later, as a worker's would be
        return 1


def test_it_never_sends_a_confirmation_twice_when_the_connection_drops_after_the_request(
    esp, monkeypatch, settings, django_capture_on_commit_callbacks
):
    signature = pending_signature(django_capture_on_commit_callbacks)
    drop_after_accepting(esp, monkeypatch)
    confirmation_unsettled(signature)
    outbound = OutboundEmail.objects.get(dedupe_key=f"signature-confirm:{signature.pk}")
    assert outbound.status == OutboundEmail.Status.UNKNOWN and outbound.attempts == 1
    assert copies(esp) == 1  # the ESP took it; the sender could not know

    # A re-delivered task, beat's owed sweep and an early reconciliation all leave it alone.
    confirmation_unsettled(signature)
    owed_sweep(signature, settings, django_capture_on_commit_callbacks)
    assert outbound_reconcile() == (0, 0)  # inside the ESP's search delay: not asked yet
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundEmail.Status.UNKNOWN, 1)
    assert copies(esp) == 1

    # Once the ESP's search has caught up, its record settles it: sent, and the task says so.
    search_caught_up(settings)
    assert outbound_reconcile() == (1, 0)
    outbound.refresh_from_db()
    assert outbound.status == OutboundEmail.Status.SENT and outbound.esp_message_id
    assert signature_confirmation_send(signature_id=signature.pk) is False
    signature.refresh_from_db()
    assert signature.confirmation_sent_at is not None
    assert copies(esp) == 1


def test_it_sends_a_confirmation_the_esp_never_received_once_its_search_says_so(
    esp, monkeypatch, settings, django_capture_on_commit_callbacks
):
    signature = pending_signature(django_capture_on_commit_callbacks)
    drop_after_accepting(esp, monkeypatch, accept=False)
    confirmation_unsettled(signature)
    assert copies(esp) == 0
    search_caught_up(settings)
    assert outbound_reconcile() == (0, 1)
    assert confirmation_task(signature) is True
    outbound = OutboundEmail.objects.get(dedupe_key=f"signature-confirm:{signature.pk}")
    assert (outbound.status, outbound.attempts) == (OutboundEmail.Status.SENT, 2)
    assert copies(esp) == 1
    owed_sweep(signature, settings, django_capture_on_commit_callbacks)
    assert copies(esp) == 1


def test_it_retries_a_confirmation_whose_connection_never_opened_and_sends_it_once(
    esp, settings, django_capture_on_commit_callbacks
):
    signature = pending_signature(django_capture_on_commit_callbacks)
    key, real, refused = refused_url(esp, settings)
    settings.ANYMAIL = {**settings.ANYMAIL, key: refused}
    failures = []

    def network_back(sender=None, **kwargs):
        """The task's first attempt failed (recorded, retryable); the ESP is reachable again."""
        failures.append(OutboundEmail.objects.get(dedupe_key=f"signature-confirm:{signature.pk}").status)
        settings.ANYMAIL = {**settings.ANYMAIL, key: real}

    task_retry.connect(network_back, weak=False)
    try:
        assert confirmation_task(signature) is True
    finally:
        task_retry.disconnect(network_back)
    assert failures == [OutboundEmail.Status.FAILED]
    outbound = OutboundEmail.objects.get(dedupe_key=f"signature-confirm:{signature.pk}")
    assert (outbound.status, outbound.attempts) == (OutboundEmail.Status.SENT, 2)
    assert copies(esp) == 1
    owed_sweep(signature, settings, django_capture_on_commit_callbacks)
    assert copies(esp) == 1


def test_it_records_a_read_timeout_as_unknown_and_settles_it_by_the_esps_record(
    esp, settings, django_capture_on_commit_callbacks
):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.3}
    signature = pending_signature(django_capture_on_commit_callbacks)
    esp.configure(delay=1.0)  # accepted, then answered too late
    confirmation_unsettled(signature)
    esp.configure(delay=0)
    outbound = OutboundEmail.objects.get(dedupe_key=f"signature-confirm:{signature.pk}")
    assert (outbound.status, outbound.attempts) == (OutboundEmail.Status.UNKNOWN, 1)
    confirmation_unsettled(signature)
    search_caught_up(settings)
    assert outbound_reconcile() == (1, 0)
    assert confirmation_task(signature) is False
    assert copies(esp) == 1


def test_a_mailing_takes_the_same_view_of_a_dropped_connection(esp, monkeypatch, django_capture_on_commit_callbacks):
    """The bulk path asks the same question: its dropped call's deliveries are unknown, for
    the ESP's record to settle, not queued again."""
    news = make_list()
    make_supporter(ADDRESS, subscribed_to=news)
    mailing = make_mailing(mailing_list=news)
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=mailing.pk)
    drop_after_accepting(esp, monkeypatch)
    assert chunk_send(mailing_id=mailing.pk).sent == 0
    assert list(Delivery.objects.values_list("status", flat=True)) == [Delivery.Status.UNKNOWN]
    assert chunk_send(mailing_id=mailing.pk).claimed == 0
    assert copies(esp) == 1


def test_an_email_left_sending_by_a_dead_worker_is_settled_and_sent_once(
    esp, settings, django_capture_on_commit_callbacks
):
    """The worker died during the call (the row says `sending`, forever): past the claim
    timeout it is unknown, the ESP's search settles it, and the owed task sends it once."""
    from mailings.services.transactional import outbound_sweep

    signature = pending_signature(django_capture_on_commit_callbacks)
    OutboundEmail.objects.create(
        dedupe_key=f"signature-confirm:{signature.pk}", kind="signature_confirm", supporter=signature.supporter,
        to_email=ADDRESS, status=OutboundEmail.Status.SENDING, attempts=1,
    )
    assert outbound_sweep() == 0  # it may still be in its call
    OutboundEmail.objects.update(created_at=signature.created_at - settings.MAILINGS_CLAIM_TIMEOUT - timedelta(seconds=1))
    assert outbound_sweep() == 1
    confirmation_unsettled(signature)
    search_caught_up(settings)
    assert outbound_reconcile() == (0, 1)  # it never reached the ESP
    assert confirmation_task(signature) is True
    assert copies(esp) == 1
