"""Sending a mailing: snapshot, claim, send, record (DESIGN rule 5).

- The snapshot is one INSERT … SELECT of the segment through recipients_eligible into
  Delivery rows, unique per (mailing, supporter).
- A worker claims a chunk in a short transaction (SELECT … FOR UPDATE SKIP LOCKED on
  PostgreSQL, then a conditional UPDATE to `claimed` with a claim token). Rows are marked
  `sending` just before the ESP call, and `sent` with the ESP's message id after it; no
  transaction is open during the call.
- A crash leaves `claimed` rows (never handed over: the sweeper queues them again) or
  `sending` rows (maybe accepted: the sweeper marks them `unknown`, and they are settled by
  asking the ESP, never by sending blindly again).

Unlike listmonk, nothing moves past a recipient before the recipient's row says `sent`; unlike
Mautic, an error in the middle of a chunk costs only the rows still unsent, which go back.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from email.utils import formataddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import BooleanField, F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from engage import links
from engage.models import Supporter
from mailings import esp, rendering
from mailings.models import Delivery, Mailing
from mailings.ratelimit import RateLimited, esp_limiter
from mailings.recipients import recipients_eligible
from mailings.segments import segment_supporters

logger = logging.getLogger(__name__)

_IN_FLIGHT = [Delivery.Status.CLAIMED, Delivery.Status.SENDING]


# --- Snapshot ------------------------------------------------------------------------------


# One statement joins the segment's tables for up to millions of supporters: its hash joins
# stay in memory rather than spill to disk (PostgreSQL's default work_mem is 4MB).
SNAPSHOT_WORK_MEM = "64MB"


def snapshot_statement(*, mailing: Mailing) -> tuple[str, list]:
    """The snapshot's INSERT … SELECT (SQL and parameters), also for the benchmark's EXPLAIN.

    Rows already there are left out by an anti join rather than by ON CONFLICT, whose
    speculative insertion costs every row an extra index probe and WAL record."""
    eligible = recipients_eligible(
        segment_supporters(mailing.segment.definition),
        organisation=mailing.organisation,
        mailing_list=mailing.mailing_list,
        many=True,
    ).values("pk")
    select_sql, params = eligible.query.sql_with_params()
    table = Delivery._meta.db_table
    sql = (
        f"INSERT INTO {table} (mailing_id, supporter_id, status, attempts, esp_message_id, last_error, outcome) "
        f"SELECT %s, recipients.pk, %s, 0, '', '', '' FROM ({select_sql}) AS recipients "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS existing "
        f"WHERE existing.mailing_id = %s AND existing.supporter_id = recipients.pk)"
    )
    return sql, [mailing.pk, Delivery.Status.QUEUED, *params, mailing.pk]


def deliveries_snapshot(*, mailing: Mailing) -> int:
    """Insert one queued Delivery per eligible recipient in one INSERT … SELECT; run twice,
    it adds nobody twice. Returns the number of deliveries the mailing now has.

    Run it in the transaction that moves the mailing to `sending` (mailing_start): that
    transaction holds the mailing's row, so two snapshots of one mailing never overlap, and
    the unique (supporter, mailing) constraint would turn one that did into an error, never
    into a second row."""
    sql, params = snapshot_statement(mailing=mailing)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")  # until this transaction ends
        cursor.execute(sql, params)
    return Delivery.objects.filter(mailing=mailing).count()


# --- Building messages ----------------------------------------------------------------------

_compiled_cache: dict[tuple, rendering.CompiledMessage] = {}


def mailing_compiled(mailing: Mailing) -> rendering.CompiledMessage:
    """The mailing's message rendered once per process (and again only if it is edited)."""
    message = mailing.message
    key = (mailing.pk, message.pk, message.updated_at, mailing.mailing_list_id)
    compiled = _compiled_cache.get(key)
    if compiled is None:
        if len(_compiled_cache) > 32:
            _compiled_cache.clear()
        compiled = rendering.message_compile(
            subject=message.subject,
            preheader=message.preheader,
            body=message.body,
            merge_values=message.merge_values,
            list_name=mailing.mailing_list.name if mailing.mailing_list else "",
        )
        _compiled_cache[key] = compiled
    return compiled


def list_id_header(mailing: Mailing) -> str:
    """RFC 2919 List-Id: the list (or, without one, the organisation) under the site's host."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    organisation = mailing.organisation
    if mailing.mailing_list:
        return formataddr((mailing.mailing_list.name, f"{mailing.mailing_list.slug}.{organisation.slug}.{host}"))
    return formataddr((organisation.name, f"{organisation.slug}.{host}"))


def _base_message(mailing: Mailing, *, subject: str, text: str, html: str, to: list[str]) -> EmailMultiAlternatives:
    sender = mailing.message.sender
    reply_to = mailing.message.reply_to_address
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender.bulk_from, to=to, reply_to=[reply_to] if reply_to else None,
        headers={"List-Id": list_id_header(mailing)},
    )
    message.attach_alternative(html, "text/html")
    message.metadata = {"mailing_id": str(mailing.pk)}
    message.tags = ["mailing"]
    return message


@dataclass
class Recipient:
    delivery_id: int
    supporter: Supporter
    values: dict[str, str]
    headers: dict[str, str]


def _recipient(delivery_id: int, supporter: Supporter, mailing: Mailing) -> Recipient:
    supporter_links = links.mailing_links(supporter, mailing.mailing_list)
    return Recipient(
        delivery_id=delivery_id,
        supporter=supporter,
        values=rendering.recipient_values(
            supporter=supporter, mailing_list=mailing.mailing_list, supporter_links=supporter_links
        ),
        headers=supporter_links.list_unsubscribe_headers,
    )


def batch_message(mailing: Mailing, recipients: list[Recipient]) -> EmailMultiAlternatives:
    """One message for the whole chunk: the ESP substitutes each recipient's merge data and
    headers, and sends each recipient a separate email (anymail's batch send)."""
    compiled = rendering.to_esp_template(mailing_compiled(mailing), esp.merge_format())
    message = _base_message(
        mailing, subject=compiled.subject, text=compiled.text, html=compiled.html,
        to=[r.supporter.email for r in recipients],
    )
    message.merge_data = {r.supporter.email: rendering.esp_merge_data(compiled, r.values) for r in recipients}
    message.merge_metadata = {r.supporter.email: {"delivery_id": str(r.delivery_id)} for r in recipients}
    message.merge_headers = {r.supporter.email: r.headers for r in recipients}
    return message


def single_message(mailing: Mailing, recipient: Recipient) -> EmailMultiAlternatives:
    """The message for one recipient, fully rendered here (ESPs without batch merge data)."""
    rendered = rendering.compiled_render(mailing_compiled(mailing), recipient.values)
    message = _base_message(
        mailing, subject=rendered.subject, text=rendered.text, html=rendered.html, to=[recipient.supporter.email]
    )
    message.extra_headers.update(recipient.headers)
    message.metadata["delivery_id"] = str(recipient.delivery_id)
    return message


# --- Claiming and recording -----------------------------------------------------------------


def chunk_claim(*, mailing_id: int, size: int) -> tuple[uuid.UUID, list[tuple[int, int | None]]]:
    """Claim up to `size` queued deliveries for this worker: (claim token, [(delivery id,
    supporter id)]). Two workers never claim the same row: PostgreSQL skips rows another
    transaction has locked, and the conditional UPDATE re-checks the status everywhere."""
    token = uuid.uuid4()
    if connection.vendor == "postgresql":
        # One statement, one round trip: lock the first queued rows no one else holds and
        # claim them. (A claim per 200 one-per-call messages made three.) The CTE runs once;
        # as a subquery in the WHERE, a rescan could apply its LIMIT more than once.
        table = Delivery._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH claimable AS MATERIALIZED (SELECT id FROM {table} WHERE mailing_id = %s AND status = %s "
                f"ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                f"UPDATE {table} AS delivery SET status = %s, claim_token = %s, claimed_at = %s, "
                f"attempts = delivery.attempts + 1 FROM claimable WHERE delivery.id = claimable.id "
                f"RETURNING delivery.id, delivery.supporter_id",
                [mailing_id, Delivery.Status.QUEUED, size, Delivery.Status.CLAIMED, token, timezone.now()],
            )
            return token, sorted(cursor.fetchall())
    with transaction.atomic():
        candidates = Delivery.objects.filter(mailing_id=mailing_id, status=Delivery.Status.QUEUED).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:size])
        if not ids:
            return token, []
        Delivery.objects.filter(id__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.CLAIMED, claim_token=token, claimed_at=timezone.now(), attempts=F("attempts") + 1
        )
    return token, list(Delivery.objects.filter(claim_token=token).order_by("id").values_list("id", "supporter_id"))


def _ids_q(delivery_ids: list[int]) -> Q | RawSQL:
    """These deliveries, as a filter. On PostgreSQL one array parameter: psycopg took longer
    to parse a thousand placeholders (a batch's ids) than the database took to run the UPDATE."""
    if connection.vendor == "postgresql":
        return RawSQL(f'"{Delivery._meta.db_table}"."id" = ANY(%s)', [list(delivery_ids)], output_field=BooleanField())
    return Q(id__in=delivery_ids)


def _mark_sending(token: uuid.UUID, delivery_ids: list[int]) -> None:
    # Once per group of one-per-call messages, so plain SQL: the ORM took longer to build this
    # UPDATE than the database took to run it.
    if connection.vendor != "postgresql":
        Delivery.objects.filter(_ids_q(delivery_ids), claim_token=token, status=Delivery.Status.CLAIMED).update(
            status=Delivery.Status.SENDING, claimed_at=timezone.now()
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET status = %s, claimed_at = %s "
            f"WHERE id = ANY(%s) AND claim_token = %s AND status = %s",
            [Delivery.Status.SENDING, timezone.now(), list(delivery_ids), token, Delivery.Status.CLAIMED],
        )


def _record_sent(token: uuid.UUID, sent: dict[int, str]) -> None:
    """Mark these deliveries sent with their ESP message ids. A late answer still counts after
    the sweeper marked a row unknown: it is the truth."""
    now = timezone.now()
    by_message_id: dict[str, list[int]] = {}
    for delivery_id, message_id in sent.items():
        by_message_id.setdefault(message_id, []).append(delivery_id)
    if len(by_message_id) > 3 and connection.vendor == "postgresql":
        # One message id per row (one message per call): one UPDATE joined to the pairs. (A
        # bulk_update's CASE per field cost more CPU in Django than the sends it recorded.)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Delivery._meta.db_table} AS delivery SET status = %s, esp_message_id = sent.message_id, "
                f"sent_at = %s, last_error = '' FROM unnest(%s::bigint[], %s::varchar[]) AS sent (id, message_id) "
                f"WHERE delivery.id = sent.id AND delivery.claim_token = %s AND delivery.status IN (%s, %s)",
                [Delivery.Status.SENT, now, list(sent), [message_id[:200] for message_id in sent.values()], token,
                 Delivery.Status.SENDING, Delivery.Status.UNKNOWN],
            )
        return
    # One id for a whole batch (or a few, or not PostgreSQL): one UPDATE per id.
    for message_id, ids in by_message_id.items():
        Delivery.objects.filter(
            _ids_q(ids), claim_token=token, status__in=[Delivery.Status.SENDING, Delivery.Status.UNKNOWN]
        ).update(status=Delivery.Status.SENT, esp_message_id=message_id[:200], sent_at=now, last_error="")


def _record(token: uuid.UUID, delivery_ids: list[int], status: str, error: str = "") -> None:
    if not delivery_ids:
        return
    fields = {"status": status, "last_error": error[:500]}
    if status == Delivery.Status.QUEUED:
        fields.update(claim_token=None, claimed_at=None)
    Delivery.objects.filter(_ids_q(delivery_ids), claim_token=token, status__in=_IN_FLIGHT).update(**fields)


def _claimed_requeue(token: uuid.UUID, delivery_ids: list[int], *, attempt_undo: bool = False) -> None:
    """Rows of this claim not handed to the ESP go back to the queue. Found by id: the claim
    token has no index, and a filter on it alone read every delivery of the mailing (a
    million-recipient send slowed by a third)."""
    fields = {"status": Delivery.Status.QUEUED, "claim_token": None, "claimed_at": None}
    if attempt_undo:
        fields["attempts"] = F("attempts") - 1
    Delivery.objects.filter(_ids_q(delivery_ids), claim_token=token, status=Delivery.Status.CLAIMED).update(**fields)


def _requeue_or_fail(token: uuid.UUID, delivery_ids: list[int], error: str) -> None:
    """Not accepted by the ESP: back to the queue, unless tried too often."""
    Delivery.objects.filter(
        _ids_q(delivery_ids), claim_token=token, status__in=_IN_FLIGHT, attempts__gte=settings.MAILINGS_MAX_ATTEMPTS
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


def _accepted(message) -> dict[str, str]:
    """{email: message id} for recipients the ESP accepted, from anymail's status."""
    status = getattr(message, "anymail_status", None)
    if status is None:  # a non-anymail backend (the outbox): it took the message
        return {address: "" for address in message.to}
    return {
        email: (recipient.message_id or "")
        for email, recipient in status.recipients.items()
        if recipient.status in ("sent", "queued", "scheduled")
    }


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
    mailing = (
        Mailing.objects.select_related("message__sender__organisation", "mailing_list", "segment")
        .filter(pk=mailing_id, status=Mailing.Status.SENDING)
        .first()
    )
    if mailing is None:
        return ChunkResult()
    token, claimed = chunk_claim(mailing_id=mailing_id, size=esp.chunk_size())
    if not claimed:
        return ChunkResult()
    result = ChunkResult(claimed=len(claimed))

    # The rule is checked again at send time: someone may have unsubscribed since the snapshot.
    supporter_ids = [sid for _, sid in claimed if sid is not None]
    supporters = {
        s.pk: s
        for s in recipients_eligible(
            Supporter.objects.filter(pk__in=supporter_ids), organisation=mailing.organisation,
            mailing_list=mailing.mailing_list,
        ).only("id", "email", "first_name", "last_name", "link_nonce")
    }
    recipients = [_recipient(did, supporters[sid], mailing) for did, sid in claimed if sid in supporters]
    _record(token, [did for did, sid in claimed if sid not in supporters], Delivery.Status.SKIPPED)
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

    connection_ = esp.bulk_connection()
    if esp.send_mode() == "batch":
        result.sent = _send_batch(mailing, token, recipients, connection_)
    else:
        result.sent = _send_singles(mailing, token, recipients, connection_)
    _touch(mailing_id)
    return result


def _send_batch(mailing: Mailing, token: uuid.UUID, recipients: list[Recipient], connection_) -> int:
    message = batch_message(mailing, recipients)
    message.connection = connection_
    ids = [r.delivery_id for r in recipients]
    _mark_sending(token, ids)
    try:
        esp.connection_open(connection_)
        message.send()
    except Exception as error:
        _send_error(token, ids, error)
        return 0
    finally:
        connection_.close()
    accepted = _accepted(message)
    sent = {r.delivery_id: accepted[r.supporter.email] for r in recipients if r.supporter.email in accepted}
    _record_sent(token, sent)
    _record(token, [i for i in ids if i not in sent], Delivery.Status.FAILED, "refused by the ESP")
    return len(sent)


def _send_singles(mailing: Mailing, token: uuid.UUID, recipients: list[Recipient], connection_) -> int:
    """One API call per message, in small groups: a group is marked `sending` before its
    first call and recorded after its last, so a crash leaves at most a group unknown."""
    sent_total = 0
    group_size = settings.MAILINGS_SINGLE_GROUP_SIZE
    # Stop well before the sweeper would call the group abandoned.
    budget = settings.MAILINGS_CLAIM_TIMEOUT.total_seconds() / 2
    esp.connection_open(connection_)
    try:
        for start in range(0, len(recipients), group_size):
            group = recipients[start:start + group_size]
            ids = [r.delivery_id for r in group]
            _mark_sending(token, ids)
            marked_at = time.monotonic()
            sent: dict[int, str] = {}
            failed: list[int] = []
            for index, recipient in enumerate(group):
                if time.monotonic() - marked_at > budget:
                    _record(token, [r.delivery_id for r in group[index:]], Delivery.Status.QUEUED, "")
                    break
                message = single_message(mailing, recipient)
                message.connection = connection_
                try:
                    message.send()
                except Exception as error:
                    _send_error(token, [recipient.delivery_id], error)
                    continue
                accepted = _accepted(message)
                if recipient.supporter.email in accepted:
                    sent[recipient.delivery_id] = accepted[recipient.supporter.email]
                else:
                    failed.append(recipient.delivery_id)
            _record_sent(token, sent)
            _record(token, failed, Delivery.Status.FAILED, "refused by the ESP")
            sent_total += len(sent)
        # Any row of this claim never marked for sending goes back to the queue.
        _claimed_requeue(token, [r.delivery_id for r in recipients])
    finally:
        connection_.close()
    return sent_total


def _touch(mailing_id: int) -> None:
    Mailing.objects.filter(pk=mailing_id).update(last_activity_at=timezone.now())


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
    rows = list(
        Delivery.objects.filter(status=Delivery.Status.UNKNOWN, claimed_at__lt=cutoff)
        .order_by("id")
        .values_list("id", "claim_token")[:limit]
    )
    found = requeued = 0
    for delivery_id, token in rows:
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
    pending = Delivery.objects.filter(
        mailing_id=mailing_id, status__in=[Delivery.Status.QUEUED, *_IN_FLIGHT]
    ).exists()
    if pending:
        return False
    return bool(
        Mailing.objects.filter(pk=mailing_id, status=Mailing.Status.SENDING).update(
            status=Mailing.Status.SENT, finished_at=timezone.now()
        )
    )


def in_flight_q() -> Q:
    return Q(status__in=_IN_FLIGHT)
