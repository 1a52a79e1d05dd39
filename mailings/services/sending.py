"""Sending a mailing: snapshot, claim, send, record (docs/design.md, "Mailings are snapshotted, claimed, sent and recorded"). Beat's tick keeps it going.

- The snapshot is one INSERT … SELECT of the segment through recipients_eligible into
  Delivery rows, unique per (mailing, supporter).
- A worker claims a chunk in a short transaction (SELECT … FOR UPDATE SKIP LOCKED on
  PostgreSQL, then a conditional UPDATE to `claimed` with a claim token). Rows are marked
  `sending` just before the ESP call, and `sent` with the ESP's message id after it; no
  transaction is open during the call.
- Only the holder of a row's current claim hands it to the ESP: marking rows `sending` says
  which rows it still holds, and only those are sent. A live holder renews its claim every
  quarter of MAILINGS_CLAIM_TIMEOUT (by the database's clock), so the sweeper takes back only
  the claims of workers that stopped (docs/design.md, "Sending exactly once").
- A crash leaves `claimed` rows (never handed over: the sweeper queues them again) or
  `sending` rows (maybe accepted: the sweeper marks them `unknown`, and they are settled by
  asking the ESP once its search has caught up, never by sending blindly again).
- A mailing is sent only when every delivery is settled; `unknown` ones keep it open.
- Each mailing is sent by MAILINGS_SEND_LANES chains of chunk tasks, each holding a lane's
  lease; beat replaces a chain whose lease lapsed (its worker died, the broker lost its task).

Nothing moves past a recipient before the recipient's row says `sent`, and an error in the
middle of a chunk costs only the rows still unsent, which go back to the queue.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Now
from django.utils import timezone

from engage.queueing import queue
from engage.services.suppression import supporters_email_hash_fill
from mailings import esp, sql
from mailings.bulk_messages import Recipient, batch_message, recipient_for, single_message
from mailings.models import Delivery, Mailing, SendLane
from mailings.ratelimit import RateLimited, esp_limiter
from mailings.selectors import mailings as selectors
from mailings.selectors.mailings import IN_FLIGHT
from mailings.selectors.recipients import recipients_reasons

logger = logging.getLogger(__name__)


class MailingStateError(Exception):
    """The mailing is not in a state that allows this; the message says why."""


def db_ago(delta: timedelta) -> ExpressionWrapper:
    """The database's time `delta` ago: every worker and the sweeper compare against one clock."""
    return ExpressionWrapper(Now() - Value(delta, output_field=DurationField()), output_field=DateTimeField())


# --- Lanes ----------------------------------------------------------------------------------


@dataclass
class Lane:
    """A chain of chunk tasks holding lane `number` of a mailing (mailings.models.SendLane)."""

    mailing_id: int
    number: int
    chain: uuid.UUID
    renewed: float = 0.0
    lost: bool = False

    def hold(self) -> bool:
        """Take or renew the lease: ours already, released, or lapsed. False: another chain has it."""
        self.renewed = time.monotonic()
        held = SendLane.objects.filter(mailing_id=self.mailing_id, number=self.number).filter(
            Q(chain=self.chain) | Q(renewed_at__isnull=True) | Q(renewed_at__lt=db_ago(settings.MAILINGS_LANE_LEASE))
        ).update(chain=self.chain, renewed_at=Now())
        self.lost = not held
        return bool(held)

    def keep_alive(self) -> None:
        if not self.lost and time.monotonic() - self.renewed >= settings.MAILINGS_LANE_LEASE.total_seconds() / 3:
            self.hold()

    def release(self) -> None:
        SendLane.objects.filter(mailing_id=self.mailing_id, number=self.number, chain=self.chain).update(renewed_at=None)


def lanes_wake(mailing_id: int) -> int:
    """Start a chain of chunk tasks in each of the mailing's MAILINGS_SEND_LANES lanes that
    has none (never started, released, or its lease lapsed). The Delivery rows are the queue;
    a task only says "there is work", so a chain with nothing to claim stops. Returns how many
    chains were started."""
    from mailings import tasks

    SendLane.objects.bulk_create(
        [SendLane(mailing_id=mailing_id, number=n) for n in range(settings.MAILINGS_SEND_LANES)], ignore_conflicts=True
    )
    started = 0
    for number in range(settings.MAILINGS_SEND_LANES):
        lane = Lane(mailing_id=mailing_id, number=number, chain=uuid.uuid4())
        if SendLane.objects.filter(mailing_id=mailing_id, number=number).filter(
            Q(renewed_at__isnull=True) | Q(renewed_at__lt=db_ago(settings.MAILINGS_LANE_LEASE))
        ).update(chain=lane.chain, renewed_at=Now()):
            queue(tasks.mailing_send_chunk, mailing_id, number, str(lane.chain))
            started += 1
    return started


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
        transaction.on_commit(lambda: lanes_wake(mailing_id))
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


class _Claim:
    """This worker's claim on a chunk's rows: which it still holds, kept alive while it works.

    Before each hand-over to the ESP, a claim not renewed for a quarter of the claim timeout
    is renewed first, and rows the sweeper took back meanwhile drop out of `held`: so a row is
    sent only within a quarter timeout (plus one ESP call) of a confirmed sign of life, and the
    sweeper waits a whole timeout (docs/design.md, "Sending exactly once")."""

    def __init__(self, token: uuid.UUID, delivery_ids: list[int], lane: "Lane | None" = None):
        self.token = token
        self.held = set(delivery_ids)
        self.lane = lane
        self.renewed = time.monotonic()
        self.interval = settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() / 4

    def keep_alive(self) -> None:
        started = time.monotonic()
        if started - self.renewed >= self.interval:
            self.held &= sql.deliveries_claim_renew(token=self.token, delivery_ids=sorted(self.held))
            self.renewed = started  # the database stamped it no earlier than this
        if self.lane is not None:
            self.lane.keep_alive()

    def holds(self, delivery_id: int) -> bool:
        self.keep_alive()
        return delivery_id in self.held

    def mark_sending(self, delivery_ids: list[int]) -> set[int]:
        """Mark these rows `sending`; the ones this claim still held, which alone may be sent."""
        self.keep_alive()
        marked = sql.deliveries_mark_sending(token=self.token, delivery_ids=delivery_ids)
        self.held -= set(delivery_ids) - marked
        return marked


def _db_retry(write, *, seconds: float = 30.0) -> None:
    """Record what the ESP answered even through a database blip of up to `seconds`: the
    answer exists only in this process, and a row left `sending` costs a reconciliation."""
    deadline = time.monotonic() + seconds
    pause = 0.2
    while True:
        try:
            write()
            return
        except DatabaseError:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("recording a send failed; trying again in %.1f s", pause, exc_info=True)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
            from django.db import connection

            connection.close()  # a fresh connection on the next try


def _record(token: uuid.UUID, delivery_ids: list[int], status: str, error: str = "") -> None:
    if not delivery_ids:
        return
    fields = {"status": status, "last_error": error[:500]}
    if status == Delivery.Status.QUEUED:
        fields.update(claim_token=None, claimed_at=None)
    elif status == Delivery.Status.UNKNOWN:
        fields.update(claimed_at=Now())  # the ESP's search is asked once its delay has passed from here
    _db_retry(lambda: Delivery.objects.filter(
        sql.ids_q(delivery_ids), claim_token=token, status__in=IN_FLIGHT).update(**fields))


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


def _sent_record(token: uuid.UUID, sent: dict[int, str]) -> None:
    _db_retry(lambda: sql.deliveries_sent_record(token=token, sent=sent))


# --- One chunk ------------------------------------------------------------------------------


@dataclass
class ChunkResult:
    claimed: int = 0
    sent: int = 0
    retry_in: float | None = None  # rate limited: try again after this many seconds
    lane_lost: bool = False  # another chain holds this lane now: this one stops

    @property
    def more(self) -> bool:
        return self.claimed > 0 or self.retry_in is not None


def lane_chunk_send(*, mailing_id: int, lane_number: int, chain: uuid.UUID) -> ChunkResult:
    """One chunk of a lane's chain, if the chain still holds the lane's lease; a chain with
    nothing left to claim releases it."""
    lane = Lane(mailing_id=mailing_id, number=lane_number, chain=chain)
    if not lane.hold():
        return ChunkResult(lane_lost=True)
    result = chunk_send(mailing_id=mailing_id, lane=lane)
    result.lane_lost = lane.lost
    if not result.more and not lane.lost:
        lane.release()
    return result


def chunk_send(*, mailing_id: int, lane: Lane | None = None) -> ChunkResult:
    """Claim one chunk of a sending mailing, send it, record the outcome of every row."""
    mailing = selectors.mailing_sending_get(mailing_id=mailing_id)
    if mailing is None:
        return ChunkResult()
    token, claimed = chunk_claim(mailing_id=mailing_id, size=esp.chunk_size())
    if not claimed:
        return ChunkResult()
    result = ChunkResult(claimed=len(claimed))
    claim = _Claim(token, [delivery_id for delivery_id, _ in claimed], lane)
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
        result.sent = _send_batch(mailing, claim, recipients, connection)
    else:
        result.sent = _send_singles(mailing, claim, recipients, connection)
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
    # The footer's reason for each, in one query for the chunk. Someone whose ledger went in
    # between (an erasure) has none, and is left out: no email says nothing true about why.
    reasons = recipients_reasons(organisation=mailing.organisation, mailing_list=mailing.mailing_list, supporter_ids=list(supporters))
    supporters = {sid: supporter for sid, supporter in supporters.items() if sid in reasons}
    recipients = [
        recipient_for(did, supporters[sid], mailing, reason=reasons[sid]) for did, sid in claimed if sid in supporters
    ]
    _record(token, [did for did, sid in claimed if sid not in supporters], Delivery.Status.SKIPPED)
    return recipients


def _send_batch(mailing: Mailing, claim: _Claim, recipients: list[Recipient], connection) -> int:
    marked = claim.mark_sending([r.delivery_id for r in recipients])
    recipients = [r for r in recipients if r.delivery_id in marked]
    if not recipients:
        return 0
    message = batch_message(mailing, recipients)
    message.connection = connection
    ids = [r.delivery_id for r in recipients]
    try:
        esp.connection_open(connection)
        message.send()
    except Exception as error:
        _send_error(claim.token, ids, error)
        return 0
    finally:
        connection.close()
    accepted = esp.accepted(message)
    sent = {r.delivery_id: accepted[r.supporter.email] for r in recipients if r.supporter.email in accepted}
    _sent_record(claim.token, sent)
    _record(claim.token, [i for i in ids if i not in sent], Delivery.Status.FAILED, "refused by the ESP")
    return len(sent)


def _send_singles(mailing: Mailing, claim: _Claim, recipients: list[Recipient], connection) -> int:
    """One API call per message, in small groups: a group is marked `sending` before its
    first call and recorded after its last, so a crash leaves at most a group unknown."""
    sent_total = 0
    group_size = settings.MAILINGS_SINGLE_GROUP_SIZE
    esp.connection_open(connection)
    try:
        for start in range(0, len(recipients), group_size):
            sent_total += _send_group(mailing, claim, recipients[start:start + group_size], connection)
        # Any row of this claim never marked for sending goes back to the queue.
        _claimed_requeue(claim.token, [r.delivery_id for r in recipients])
    finally:
        connection.close()
    return sent_total


def _send_group(mailing: Mailing, claim: _Claim, group: list[Recipient], connection) -> int:
    marked = claim.mark_sending([r.delivery_id for r in group])
    sent: dict[int, str] = {}
    failed: list[int] = []
    for recipient in group:
        if recipient.delivery_id not in marked or not claim.holds(recipient.delivery_id):
            continue  # taken back by the sweeper: no longer ours to send
        message = single_message(mailing, recipient)
        message.connection = connection
        try:
            message.send()
        except Exception as error:
            _send_error(claim.token, [recipient.delivery_id], error)
            continue
        accepted = esp.accepted(message)
        if recipient.supporter.email in accepted:
            sent[recipient.delivery_id] = accepted[recipient.supporter.email]
        else:
            failed.append(recipient.delivery_id)
    _sent_record(claim.token, sent)
    _record(claim.token, failed, Delivery.Status.FAILED, "refused by the ESP")
    return len(sent)


# --- Sweeping and settling ------------------------------------------------------------------


def claims_sweep() -> tuple[int, int]:
    """Claims with no sign of life for MAILINGS_CLAIM_TIMEOUT belong to a worker that stopped:
    rows it never handed to the ESP go back to the queue; rows it had handed over become
    `unknown`. Returns (queued again, marked unknown)."""
    stale = db_ago(settings.MAILINGS_CLAIM_TIMEOUT)
    requeued = Delivery.objects.filter(status=Delivery.Status.CLAIMED, claimed_at__lt=stale).update(
        status=Delivery.Status.QUEUED, claim_token=None, claimed_at=None
    )
    unknown = Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=stale).update(
        status=Delivery.Status.UNKNOWN, claimed_at=Now(), last_error="the worker stopped during the ESP call"
    )
    return requeued, unknown


def unknown_reconcile(*, limit: int = 2000) -> tuple[int, int]:
    """Settle unknown deliveries by asking the ESP whether it accepted each one: accepted ->
    sent with its message id; never accepted -> queued again, its mailing reopened if it had
    been marked sent, and its lanes woken. Only rows unknown for longer than the ESP's search
    delay (MAILINGS_SEARCH_DELAY) are asked about: inside it, "not found" may mean "not yet".
    ESPs without such a search leave them for the organiser. Returns (sent, queued)."""
    if not esp.has_lookup():
        return 0, 0
    found = requeued = 0
    reopened: set[int] = set()
    senders: dict[int, str] = {}
    deadline = time.monotonic() + max(settings.MAILINGS_TICK.total_seconds(), 5)
    for delivery_id, mailing_id, token in selectors.deliveries_unknown_due(
        before=db_ago(esp.search_delay()), limit=limit
    ):
        if time.monotonic() > deadline:
            break  # the next tick goes on
        try:
            if mailing_id not in senders:
                senders[mailing_id] = selectors.mailing_bulk_from_email(mailing_id=mailing_id)
            message_id = esp.delivery_lookup(delivery_id, sender_email=senders[mailing_id])
        except esp.LookupFailed:
            logger.warning("ESP lookup failed; unknown deliveries wait for the next sweep", exc_info=True)
            break
        settled = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.UNKNOWN, claim_token=token)
        if message_id is not None:
            found += settled.update(status=Delivery.Status.SENT, esp_message_id=message_id[:200], sent_at=timezone.now(), last_error="")
        elif settled.update(status=Delivery.Status.QUEUED, claim_token=None, claimed_at=None, last_error=""):
            requeued += 1
            reopened.add(mailing_id)
    for mailing_id in reopened:
        _mailing_reopen(mailing_id)
    return found, requeued


def _mailing_reopen(mailing_id: int) -> None:
    """Deliveries of this mailing were queued again by reconciliation: make sure they are sent.
    A mailing marked sent before they were settled is sending again; a cancelled one keeps
    them cancelled; a paused one sends them when resumed."""
    Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENT).update(
        status=Mailing.Status.SENDING, finished_at=None, last_activity_at=timezone.now()
    )
    Delivery.objects.filter(
        mailing_id=mailing_id, status=Delivery.Status.QUEUED, mailing__status=Mailing.Status.CANCELLED
    ).update(status=Delivery.Status.CANCELLED)
    if Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENDING).exists():
        lanes_wake(mailing_id)


def mailing_finish_if_done(*, mailing_id: int) -> bool:
    """A sending mailing is sent once every delivery is settled: nothing queued, in flight or
    awaiting reconciliation."""
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
    outcomes with the ESP, replace lost lanes and mark finished mailings sent. Safe to run
    twice or concurrently (two beats)."""
    from mailings.services.transactional import outbound_reconcile, outbound_sweep

    hashed = supporters_email_hash_fill()
    now = timezone.now()
    started = _scheduled_start(now=now)
    requeued, unknown = claims_sweep()
    found, resent = unknown_reconcile()
    outbound_sweep()
    outbound_found, outbound_resent = outbound_reconcile()
    woken, finished = _sending_watch()
    return {"hashed": hashed, "started": started, "requeued": requeued, "unknown": unknown, "reconciled": found,
            "resent": resent, "woken": woken, "finished": finished,
            "emails_reconciled": outbound_found, "emails_resent": outbound_resent}


def _scheduled_start(*, now) -> int:
    started = 0
    for mailing_id in selectors.mailings_scheduled_due(now=now):
        try:
            mailing_start(mailing_id=mailing_id)
            started += 1
        except MailingStateError:
            pass  # started by another tick
    return started


def _sending_watch() -> tuple[int, int]:
    """Mark sent the sending mailings that are done; give each lane of the others that lost
    its chain a new one. (chains started, mailings finished)"""
    woken = finished = 0
    for mailing_id, _ in selectors.mailings_sending_activity():
        if mailing_finish_if_done(mailing_id=mailing_id):
            finished += 1
        elif selectors.deliveries_queued_exist(mailing_id=mailing_id):
            woken += lanes_wake(mailing_id)
    return woken, finished
