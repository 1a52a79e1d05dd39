"""Sending a mailing: snapshot, claim, send, record (docs/design.md, "Mailings are snapshotted, claimed, sent and recorded"). Beat's tick keeps it going.

- The snapshot is one INSERT … SELECT of the segment through recipients_eligible into
  Delivery rows, unique per (mailing, supporter).
- A worker claims a chunk in a short transaction (SELECT … FOR UPDATE SKIP LOCKED on
  PostgreSQL, then a conditional UPDATE to `claimed` with a claim token). Rows are marked
  `sending` just before the ESP call, and `sent` with the ESP's message id after it; no
  transaction is open during the call.
- A crash leaves `claimed` rows (never handed over: the sweeper queues them again) or
  `sending` rows (maybe accepted: the sweeper marks them `unknown`, and they are settled by
  asking the ESP, never by sending blindly again).

Nothing moves past a recipient before the recipient's row says `sent`, and an error in the
middle of a chunk costs only the rows still unsent, which go back to the queue.
"""

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from engage.queueing import queue
from engage.services.suppression import supporters_email_hash_fill
from mailings import esp, sql
from mailings.bulk_messages import Recipient, batch_message, recipient_for, single_message
from mailings.models import Delivery, Mailing
from mailings.ratelimit import RateLimited, esp_limiter
from mailings.selectors import mailings as selectors
from mailings.selectors.mailings import IN_FLIGHT

logger = logging.getLogger(__name__)


class MailingStateError(Exception):
    """The mailing is not in a state that allows this; the message says why."""


def lanes_queue(mailing_id: int) -> None:
    """Wake MAILINGS_SEND_LANES workers for this mailing. The Delivery rows are the queue;
    a task only says "there is work", so one task too many claims nothing and stops."""
    from mailings import tasks

    for _ in range(settings.MAILINGS_SEND_LANES):
        queue(tasks.mailing_send_chunk, mailing_id)


# --- Start and snapshot ----------------------------------------------------------------------


def mailing_start(*, mailing_id: int) -> Mailing:
    """Start sending now: snapshot the recipients into deliveries and wake the workers.

    The status change and the snapshot are one transaction, so a mailing is never `sending`
    without its deliveries; starting twice (a re-delivered task, beat and a click) does
    nothing the second time."""
    # Most missing hashes are stored first, a batch per transaction, so the snapshot's own
    # transaction does not hold a million supporter rows locked while it runs.
    _email_hashes_fill()
    now = timezone.now()
    with transaction.atomic(durable=True):
        started = Mailing.objects.filter(
            pk=mailing_id, status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]
        ).update(status=Mailing.Status.SENDING, started_at=now, last_activity_at=now)
        mailing = selectors.mailing_for_start(mailing_id=mailing_id)
        if not started:
            raise MailingStateError(f"The mailing is {mailing.get_status_display().lower()}: it cannot be started.")
        mailing.recipient_count = deliveries_snapshot(mailing=mailing)
        mailing.save(update_fields=["recipient_count"])
        transaction.on_commit(lambda: lanes_queue(mailing_id))
    return mailing


def snapshot_statement(*, mailing: Mailing) -> tuple[str, list]:
    """The snapshot's INSERT … SELECT (SQL and parameters), also for the benchmark's EXPLAIN."""
    return sql.snapshot_insert_statement(mailing_id=mailing.pk, eligible=selectors.mailing_recipient_ids(mailing=mailing))


def deliveries_snapshot(*, mailing: Mailing) -> int:
    """Insert one queued Delivery per eligible recipient in one INSERT … SELECT; run twice,
    it adds nobody twice. Returns the number of deliveries the mailing now has.

    Run it in the transaction that moves the mailing to `sending` (mailing_start): that
    transaction holds the mailing's row, so two snapshots of one mailing never overlap, and
    the unique (supporter, mailing) constraint would turn one that did into an error, never
    into a second row.

    Every supporter's suppression hash is stored just before the INSERT (the check compares
    stored hashes only): a row another program wrote in the instant between is checked again
    when its chunk is claimed."""
    _email_hashes_fill()
    sql.snapshot_insert(mailing_id=mailing.pk, eligible=selectors.mailing_recipient_ids(mailing=mailing))
    return selectors.delivery_count(mailing=mailing)


def _email_hashes_fill() -> None:
    # Until a batch stores none: what is left is being rewritten right now.
    while supporters_email_hash_fill():
        pass


# --- Claiming and recording -----------------------------------------------------------------


def chunk_claim(*, mailing_id: int, size: int) -> tuple[uuid.UUID, list[tuple[int, int | None]]]:
    """Claim up to `size` queued deliveries for this worker: (claim token, [(delivery id,
    supporter id)]). Two workers never claim the same row: PostgreSQL skips rows another
    transaction has locked, and the conditional UPDATE re-checks the status everywhere."""
    token = uuid.uuid4()
    return token, sql.deliveries_claim(mailing_id=mailing_id, size=size, token=token)


def _record(token: uuid.UUID, delivery_ids: list[int], status: str, error: str = "") -> None:
    if not delivery_ids:
        return
    fields = {"status": status, "last_error": error[:500]}
    if status == Delivery.Status.QUEUED:
        fields.update(claim_token=None, claimed_at=None)
    Delivery.objects.filter(sql.ids_q(delivery_ids), claim_token=token, status__in=IN_FLIGHT).update(**fields)


def _claimed_requeue(token: uuid.UUID, delivery_ids: list[int], *, attempt_undo: bool = False) -> None:
    """Rows of this claim not handed to the ESP go back to the queue. Found by id: the claim
    token has no index, and a filter on it alone reads every delivery of the mailing."""
    fields = {"status": Delivery.Status.QUEUED, "claim_token": None, "claimed_at": None}
    if attempt_undo:
        fields["attempts"] = F("attempts") - 1
    Delivery.objects.filter(sql.ids_q(delivery_ids), claim_token=token, status=Delivery.Status.CLAIMED).update(**fields)


def _requeue_or_fail(token: uuid.UUID, delivery_ids: list[int], error: str) -> None:
    """Not accepted by the ESP: back to the queue, unless tried too often."""
    Delivery.objects.filter(
        sql.ids_q(delivery_ids), claim_token=token, status__in=IN_FLIGHT, attempts__gte=settings.MAILINGS_MAX_ATTEMPTS
    ).update(status=Delivery.Status.FAILED, last_error=error[:500])
    _record(token, delivery_ids, Delivery.Status.QUEUED, error)


def _send_error(token: uuid.UUID, delivery_ids: list[int], error: Exception) -> None:
    text = repr(error)
    if esp.outcome_unknown(error):
        _record(token, delivery_ids, Delivery.Status.UNKNOWN, text)
    elif esp.permanent_refusal(error):
        _record(token, delivery_ids, Delivery.Status.FAILED, text)
    else:
        _requeue_or_fail(token, delivery_ids, text)
    logger.warning("mailing send failed for %d deliveries: %s", len(delivery_ids), text)


def _touch(mailing_id: int) -> None:
    Mailing.objects.filter(pk=mailing_id).update(last_activity_at=timezone.now())


# --- One chunk ------------------------------------------------------------------------------


@dataclass
class ChunkResult:
    claimed: int = 0
    sent: int = 0
    retry_in: float | None = None  # rate limited: try again after this many seconds

    @property
    def more(self) -> bool:
        return self.claimed > 0 or self.retry_in is not None


def chunk_send(*, mailing_id: int) -> ChunkResult:
    """Claim one chunk of a sending mailing, send it, record the outcome of every row."""
    mailing = selectors.mailing_sending_get(mailing_id=mailing_id)
    if mailing is None:
        return ChunkResult()
    token, claimed = chunk_claim(mailing_id=mailing_id, size=esp.chunk_size())
    if not claimed:
        return ChunkResult()
    result = ChunkResult(claimed=len(claimed))
    recipients = _chunk_recipients(mailing, token, claimed)
    if not recipients:
        _touch(mailing_id)
        return result
    try:
        esp_limiter(esp.esp_name()).take(len(recipients), max_wait=settings.MAILINGS_RATE_MAX_WAIT_SECONDS)
    except RateLimited as limited:
        # Hand the rows back rather than hold them across a long wait.
        _claimed_requeue(token, [delivery_id for delivery_id, _ in claimed], attempt_undo=True)
        result.retry_in = limited.wait
        return result
    connection = esp.bulk_connection()
    if esp.send_mode() == "batch":
        result.sent = _send_batch(mailing, token, recipients, connection)
    else:
        result.sent = _send_singles(mailing, token, recipients, connection)
    _touch(mailing_id)
    return result


def _chunk_recipients(mailing: Mailing, token: uuid.UUID, claimed: list[tuple[int, int | None]]) -> list[Recipient]:
    """The claimed rows still eligible, as recipients; the others are recorded skipped. The
    rule is checked again at send time: someone may have unsubscribed since the snapshot.

    The suppression check compares stored hashes only, so the chunk's supporters without one
    (their row written or emptied by another program since the snapshot) get it first, here:
    a suppressed address whose hash went missing is then dropped, and an unsuppressed one
    still sent. Normally one indexed query that finds nothing. A row rewritten again in the
    instant between is left out, never sent unchecked (chunk_supporters_eligible)."""
    supporter_ids = [sid for _, sid in claimed if sid is not None]
    supporters_email_hash_fill(supporter_ids=supporter_ids)
    supporters = selectors.chunk_supporters_eligible(mailing=mailing, supporter_ids=supporter_ids)
    recipients = [recipient_for(did, supporters[sid], mailing) for did, sid in claimed if sid in supporters]
    _record(token, [did for did, sid in claimed if sid not in supporters], Delivery.Status.SKIPPED)
    return recipients


def _send_batch(mailing: Mailing, token: uuid.UUID, recipients: list[Recipient], connection) -> int:
    message = batch_message(mailing, recipients)
    message.connection = connection
    ids = [r.delivery_id for r in recipients]
    sql.deliveries_mark_sending(token=token, delivery_ids=ids)
    try:
        esp.connection_open(connection)
        message.send()
    except Exception as error:
        _send_error(token, ids, error)
        return 0
    finally:
        connection.close()
    accepted = esp.accepted(message)
    sent = {r.delivery_id: accepted[r.supporter.email] for r in recipients if r.supporter.email in accepted}
    sql.deliveries_sent_record(token=token, sent=sent)
    _record(token, [i for i in ids if i not in sent], Delivery.Status.FAILED, "refused by the ESP")
    return len(sent)


def _send_singles(mailing: Mailing, token: uuid.UUID, recipients: list[Recipient], connection) -> int:
    """One API call per message, in small groups: a group is marked `sending` before its
    first call and recorded after its last, so a crash leaves at most a group unknown."""
    sent_total = 0
    group_size = settings.MAILINGS_SINGLE_GROUP_SIZE
    esp.connection_open(connection)
    try:
        for start in range(0, len(recipients), group_size):
            sent_total += _send_group(mailing, token, recipients[start:start + group_size], connection)
        # Any row of this claim never marked for sending goes back to the queue.
        _claimed_requeue(token, [r.delivery_id for r in recipients])
    finally:
        connection.close()
    return sent_total


def _send_group(mailing: Mailing, token: uuid.UUID, group: list[Recipient], connection) -> int:
    sql.deliveries_mark_sending(token=token, delivery_ids=[r.delivery_id for r in group])
    marked_at = time.monotonic()
    # Stop well before the sweeper would call the group abandoned.
    budget = settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() / 2
    sent: dict[int, str] = {}
    failed: list[int] = []
    for index, recipient in enumerate(group):
        if time.monotonic() - marked_at > budget:
            _record(token, [r.delivery_id for r in group[index:]], Delivery.Status.QUEUED, "")
            break
        message = single_message(mailing, recipient)
        message.connection = connection
        try:
            message.send()
        except Exception as error:
            _send_error(token, [recipient.delivery_id], error)
            continue
        accepted = esp.accepted(message)
        if recipient.supporter.email in accepted:
            sent[recipient.delivery_id] = accepted[recipient.supporter.email]
        else:
            failed.append(recipient.delivery_id)
    sql.deliveries_sent_record(token=token, sent=sent)
    _record(token, failed, Delivery.Status.FAILED, "refused by the ESP")
    return len(sent)


# --- Sweeping and settling ------------------------------------------------------------------


def claims_sweep() -> tuple[int, int]:
    """Claims older than MAILINGS_CLAIM_TIMEOUT belong to a worker that died: rows it never
    handed to the ESP go back to the queue; rows it had handed over become `unknown`.
    Returns (queued again, marked unknown)."""
    cutoff = timezone.now() - settings.MAILINGS_CLAIM_TIMEOUT
    requeued = Delivery.objects.filter(status=Delivery.Status.CLAIMED, claimed_at__lt=cutoff).update(
        status=Delivery.Status.QUEUED, claim_token=None, claimed_at=None
    )
    unknown = Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff).update(
        status=Delivery.Status.UNKNOWN, last_error="the worker stopped during the ESP call"
    )
    return requeued, unknown


def unknown_reconcile(*, limit: int = 2000) -> tuple[int, int]:
    """Settle unknown deliveries by asking the ESP whether it accepted each one: accepted ->
    sent with its message id; never accepted -> queued again. Only rows unknown for
    MAILINGS_RECONCILE_AFTER are asked about, as an ESP's search lags behind its API.
    ESPs without such a search leave them for the organiser. Returns (sent, queued)."""
    if not esp.has_lookup():
        return 0, 0
    cutoff = timezone.now() - settings.MAILINGS_CLAIM_TIMEOUT - settings.MAILINGS_RECONCILE_AFTER
    found = requeued = 0
    for delivery_id, token in selectors.deliveries_unknown_due(before=cutoff, limit=limit):
        try:
            message_id = esp.delivery_lookup(delivery_id)
        except esp.LookupFailed:
            logger.warning("ESP lookup failed; unknown deliveries wait for the next sweep", exc_info=True)
            break
        settled = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.UNKNOWN, claim_token=token)
        if message_id is not None:
            found += settled.update(status=Delivery.Status.SENT, esp_message_id=message_id[:200], sent_at=timezone.now(), last_error="")
        else:
            requeued += settled.update(status=Delivery.Status.QUEUED, claim_token=None, claimed_at=None, last_error="")
    return found, requeued


def mailing_finish_if_done(*, mailing_id: int) -> bool:
    """A sending mailing with nothing queued or in flight is sent (unknown rows may remain,
    for the organiser to resend or drop)."""
    if selectors.deliveries_pending_exist(mailing_id=mailing_id):
        return False
    return bool(
        Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENDING).update(
            status=Mailing.Status.SENT, finished_at=timezone.now()
        )
    )


# --- Beat -----------------------------------------------------------------------------------


def mailings_tick() -> dict:
    """Beat, every MAILINGS_TICK_SECONDS: hash new supporters' addresses for the suppression
    check, start scheduled mailings that are due, return abandoned claims, settle unknown
    outcomes with the ESP, wake stalled mailings and mark finished ones sent. Safe to run
    twice or concurrently."""
    hashed = supporters_email_hash_fill()
    now = timezone.now()
    started = _scheduled_start(now=now)
    requeued, unknown = claims_sweep()
    found, resent = unknown_reconcile()
    woken, finished = _sending_watch(now=now)
    return {"hashed": hashed, "started": started, "requeued": requeued, "unknown": unknown, "reconciled": found,
            "resent": resent, "woken": woken, "finished": finished}


def _scheduled_start(*, now) -> int:
    started = 0
    for mailing_id in selectors.mailings_scheduled_due(now=now):
        try:
            mailing_start(mailing_id=mailing_id)
            started += 1
        except MailingStateError:
            pass  # started by another tick
    return started


def _sending_watch(*, now) -> tuple[int, int]:
    """Mark sent the sending mailings that are done; wake those that stalled. (woken, finished)"""
    woken = finished = 0
    stalled_before = now - settings.MAILINGS_STALL_AFTER
    for mailing_id, last_activity in selectors.mailings_sending_activity():
        if mailing_finish_if_done(mailing_id=mailing_id):
            finished += 1
        elif last_activity is None or last_activity < stalled_before:
            # No chunk recorded for a while: its workers died (their tasks wait for Redis's
            # visibility timeout) or the queue was lost. Claims are idempotent: wake new ones.
            Mailing.objects.filter(pk=mailing_id).update(last_activity_at=now)
            lanes_queue(mailing_id)
            woken += 1
    return woken, finished
