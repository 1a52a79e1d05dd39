"""mailings' statements written as SQL for PostgreSQL, each where the mail benchmark showed the
ORM's form costing more than the work itself (BENCHMARKS.md, "Mail sending"), each with the
ORM form that SQLite (development without PostgreSQL) runs instead beside it. Only the
services call these."""

import uuid

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now
from django.utils import timezone

from engage import sql as engage_sql
from mailings.models import Delivery

_DELIVERY = Delivery._meta.db_table


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


# --- The snapshot ------------------------------------------------------------------------------

# One statement joins the segment's tables for up to millions of supporters: its hash joins
# stay in memory rather than spill to disk (PostgreSQL's default work_mem is 4MB).
SNAPSHOT_WORK_MEM = "64MB"


def snapshot_insert_statement(*, mailing_id: int, eligible: QuerySet) -> tuple[str, list]:
    """One queued Delivery per supporter id of `eligible` (a values("pk") queryset) that the
    mailing does not have yet: INSERT … SELECT, as SQL and parameters.

    Why SQL: the ORM has no INSERT … SELECT, and reading a million ids into Python to write
    them back is what the snapshot must not do. The statement is the same on SQLite. Rows
    already there are left out by an anti join rather than by ON CONFLICT, whose speculative
    insertion costs every row an extra index probe and WAL record."""
    select_sql, params = eligible.query.sql_with_params()
    sql = (
        f"INSERT INTO {_DELIVERY} (mailing_id, supporter_id, status, attempts, esp_message_id, last_error, outcome) "
        f"SELECT %s, recipients.pk, %s, 0, '', '', '' FROM ({select_sql}) AS recipients "
        f"WHERE NOT EXISTS (SELECT 1 FROM {_DELIVERY} AS existing "
        f"WHERE existing.mailing_id = %s AND existing.supporter_id = recipients.pk)"
    )
    return sql, [mailing_id, Delivery.Status.QUEUED, *params, mailing_id]


def snapshot_insert(*, mailing_id: int, eligible: QuerySet) -> None:
    sql, params = snapshot_insert_statement(mailing_id=mailing_id, eligible=eligible)
    with transaction.atomic(), connection.cursor() as cursor:
        if _postgresql():
            cursor.execute(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'")  # until this transaction ends
        cursor.execute(sql, params)


# --- Deliveries by id --------------------------------------------------------------------------


def ids_q(delivery_ids: list[int]) -> Q | RawSQL:
    """These deliveries, as a filter (engage.sql.ids_q: one array parameter on PostgreSQL)."""
    return engage_sql.ids_q(Delivery, delivery_ids)


# --- Claiming and recording --------------------------------------------------------------------


def deliveries_claim(*, mailing_id: int, size: int, token: uuid.UUID) -> list[tuple[int, int | None]]:
    """Mark up to `size` queued deliveries of the mailing claimed by `token`, skipping rows
    another transaction holds; [(delivery id, supporter id)] in id order."""
    if not _postgresql():
        return _deliveries_claim_orm(mailing_id=mailing_id, size=size, token=token)
    # Why SQL: one statement, one round trip, where the ORM needs three; one-per-call sending
    # claims often. The CTE runs once: as a subquery in the WHERE, a rescan could apply its
    # LIMIT more than once.
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH claimable AS MATERIALIZED (SELECT id FROM {_DELIVERY} WHERE mailing_id = %s AND status = %s "
            f"ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {_DELIVERY} AS delivery SET status = %s, claim_token = %s, claimed_at = statement_timestamp(), "
            f"attempts = delivery.attempts + 1 FROM claimable WHERE delivery.id = claimable.id "
            f"RETURNING delivery.id, delivery.supporter_id",
            [mailing_id, Delivery.Status.QUEUED, size, Delivery.Status.CLAIMED, token],
        )
        return sorted(cursor.fetchall())


def _deliveries_claim_orm(*, mailing_id: int, size: int, token: uuid.UUID) -> list[tuple[int, int | None]]:
    with transaction.atomic():
        candidates = Delivery.objects.filter(mailing_id=mailing_id, status=Delivery.Status.QUEUED).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:size])
        if not ids:
            return []
        Delivery.objects.filter(id__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.CLAIMED, claim_token=token, claimed_at=Now(), attempts=F("attempts") + 1
        )
    return list(Delivery.objects.filter(claim_token=token).order_by("id").values_list("id", "supporter_id"))


def _ids_update_returning(*, assignments: str, params: list, delivery_ids: list[int], condition: str,
                          condition_params: list) -> set[int]:
    """UPDATE these deliveries (those meeting `condition`) and return the ids it changed: one
    statement, so what it returns is exactly what it took, whatever runs beside it."""
    if _postgresql():
        ids_sql, ids_params = "id = ANY(%s)", [list(delivery_ids)]
    else:
        ids_sql, ids_params = f"id IN ({', '.join(['%s'] * len(delivery_ids))})", list(delivery_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_DELIVERY} SET {assignments} WHERE {ids_sql} AND {condition} RETURNING id",
            [*params, *ids_params, *condition_params],
        )
        return {row[0] for row in cursor.fetchall()}


def _now_sql() -> str:
    return "statement_timestamp()" if _postgresql() else "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"


def deliveries_mark_sending(*, token: uuid.UUID, delivery_ids: list[int]) -> set[int]:
    """This claim's rows are about to be handed to the ESP: mark those it still holds, and
    return their ids. Only these may be sent: a row the sweeper took back (and perhaps another
    worker claimed) is no longer this claim's (docs/design.md, "Sending exactly once").

    Why SQL: the ORM cannot say which rows an UPDATE changed (RETURNING), and it took longer to
    build this statement than the database took to run it, once per group of messages."""
    if not delivery_ids:
        return set()
    return _ids_update_returning(
        assignments=f"status = %s, claimed_at = {_now_sql()}", params=[Delivery.Status.SENDING],
        delivery_ids=delivery_ids, condition="claim_token = %s AND status = %s",
        condition_params=[_token(token), Delivery.Status.CLAIMED],
    )


def deliveries_claim_renew(*, token: uuid.UUID, delivery_ids: list[int]) -> set[int]:
    """A sign of life: the claim's rows still in flight get the database's time as their
    claimed_at, so the sweeper's timeout runs from now. Returns the ids still held."""
    if not delivery_ids:
        return set()
    return _ids_update_returning(
        assignments=f"claimed_at = {_now_sql()}", params=[], delivery_ids=delivery_ids,
        condition="claim_token = %s AND status IN (%s, %s)",
        condition_params=[_token(token), Delivery.Status.CLAIMED, Delivery.Status.SENDING],
    )


def _token(token: uuid.UUID):
    # SQLite stores a UUIDField as 32 hex digits; PostgreSQL has a uuid type.
    return token if _postgresql() else token.hex


def deliveries_sent_record(*, token: uuid.UUID, sent: dict[int, str]) -> None:
    """Mark these deliveries of the claim sent, each with its ESP message id. A late answer
    still counts after the sweeper marked a row unknown: it is the truth."""
    now = timezone.now()
    by_message_id: dict[str, list[int]] = {}
    for delivery_id, message_id in sent.items():
        by_message_id.setdefault(message_id, []).append(delivery_id)
    if len(by_message_id) > 3 and _postgresql():
        # Why SQL: one message id per row (one message per call), so one UPDATE joined to the
        # pairs; a bulk_update's CASE per field cost more CPU in Django than the sends it recorded.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_DELIVERY} AS delivery SET status = %s, esp_message_id = sent.message_id, "
                f"sent_at = %s, last_error = '' FROM unnest(%s::bigint[], %s::varchar[]) AS sent (id, message_id) "
                f"WHERE delivery.id = sent.id AND delivery.claim_token = %s AND delivery.status IN (%s, %s)",
                [Delivery.Status.SENT, now, list(sent), [message_id[:200] for message_id in sent.values()], token,
                 Delivery.Status.SENDING, Delivery.Status.UNKNOWN],
            )
        return
    # The ORM twin, and PostgreSQL's form for one id for a whole batch (or a few): one UPDATE per id.
    for message_id, ids in by_message_id.items():
        Delivery.objects.filter(
            ids_q(ids), claim_token=token, status__in=[Delivery.Status.SENDING, Delivery.Status.UNKNOWN]
        ).update(status=Delivery.Status.SENT, esp_message_id=message_id[:200], sent_at=now, last_error="")
