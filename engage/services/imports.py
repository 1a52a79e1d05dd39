"""Storing a subscriber import: the rows engage.imports reads from the file, into a mailing
list, with the consent provenance the organiser records.

Rows go in with set-based statements, a batch at a time: supporters, subscriptions, consent
and subscription ledger rows are each one INSERT ... ON CONFLICT DO NOTHING per batch
(engage.sql.rows_insert), so a batch costs about ten statements whatever its size
(bench/import_subscribers.py). Each batch is its own transaction and the import can be run
again: nothing is written twice.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from engage.audit import audit_record
from engage.imports import ImportFileError, Report, Row, rows_batched, rows_read
from engage.models import Consent, MailingList, SubscriberImport, Subscription, SubscriptionEvent, Supporter
from engage.queueing import queue
from engage.selectors import consent_withdrawn_ids, subscription_statuses_on_list, supporter_ids_by_email
from engage.sql import rows_insert
from engage.suppression import email_hash, suppressed_hashes
from engage.tokens import new_nonce

# An import whose worker has not reported for this long has died; it may be taken over.
STALE_AFTER = timedelta(minutes=10)
PROBLEMS_KEPT = 2000


def _batch_import(
    rows: list[Row], *, subscriber_import: SubscriberImport, mailing_list: MailingList, report: Report
) -> None:
    """One batch in one transaction: about ten statements whatever its size."""
    now = timezone.now()
    source = f"import:{subscriber_import.pk}"
    wanted = _unsuppressed(rows, report=report)
    with transaction.atomic():
        existing = supporter_ids_by_email([row.email for row in wanted])
        ids = _supporters_insert(wanted, existing=existing, now=now)
        report.new_supporters += len(ids) - len(existing)
        # Only people already here can have a subscription or a consent row to respect.
        statuses = subscription_statuses_on_list(mailing_list=mailing_list, supporter_ids=list(existing.values()))
        to_subscribe = _subscribable(
            wanted, ids=ids, statuses=statuses, mailing_list=mailing_list, report=report,
            withdrawn=consent_withdrawn_ids(organisation_id=mailing_list.organisation_id, supporter_ids=list(existing.values())),
        )
        _subscriptions_insert(to_subscribe, statuses=statuses, mailing_list=mailing_list, source=source, now=now)
        _ledgers_insert(to_subscribe, subscriber_import=subscriber_import, mailing_list=mailing_list, source=source, now=now)
        report.subscribed += len(to_subscribe)
        report.processed_rows += len(rows)


def _unsuppressed(rows: list[Row], *, report: Report) -> list[Row]:
    """The rows whose address is not suppressed; the others reported."""
    hashes = [email_hash(row.email) for row in rows]
    blocked = suppressed_hashes(hashes)
    wanted = []
    for row, hashed in zip(rows, hashes, strict=True):
        if hashed in blocked:
            report.problem(row.line, "this address is suppressed (erased, bounced or complained): skipped")
        else:
            wanted.append(row)
    return wanted


def _supporters_insert(rows: list[Row], *, existing: dict[str, int], now: datetime) -> dict[str, int]:
    """Add the people not here yet: {address: supporter id} for every row that has one now."""
    new = [row for row in rows if row.email not in existing]
    inserted = rows_insert(
        Supporter,
        constants={"created_at": now, "updated_at": now},
        columns={
            "email": [row.email for row in new],
            "first_name": [row.first_name for row in new],
            "last_name": [row.last_name for row in new],
            "country": [row.country for row in new],
            "postcode": [row.postcode for row in new],
            "link_nonce": [new_nonce() for _ in new],
        },
        returning=("email", "id"),
    )
    ids = {**existing, **dict(inserted)}
    if len(ids) < len(rows):  # not PostgreSQL, or someone else inserted the same address meanwhile
        ids.update(supporter_ids_by_email([row.email for row in rows if row.email not in ids]))
    return ids


def _subscribable(
    rows: list[Row], *, ids: dict[str, int], statuses: dict[int, str], withdrawn: set[int], mailing_list: MailingList,
    report: Report,
) -> list[int]:
    """The supporter ids to subscribe: not already subscribed, and not having said no."""
    to_subscribe = []
    for row in rows:
        supporter_id = ids.get(row.email)
        status = statuses.get(supporter_id)
        if supporter_id is None:
            report.problem(row.line, "could not be stored: skipped")
        elif status == Subscription.Status.SUBSCRIBED:
            report.already_subscribed += 1
        elif status == Subscription.Status.UNSUBSCRIBED:
            report.problem(row.line, "this person unsubscribed from the list: not subscribed again")
        elif supporter_id in withdrawn:
            report.problem(row.line, f"this person withdrew consent from {mailing_list.organisation.name}: not subscribed")
        else:
            to_subscribe.append(supporter_id)
    return to_subscribe


def _subscriptions_insert(
    supporter_ids: list[int], *, statuses: dict[int, str], mailing_list: MailingList, source: str, now: datetime
) -> None:
    fresh = [sid for sid in supporter_ids if sid not in statuses]
    rows_insert(
        Subscription,
        constants={
            "mailing_list": mailing_list.pk, "status": Subscription.Status.SUBSCRIBED, "source": source,
            "created_at": now, "subscribed_at": now,
        },
        columns={"supporter": fresh, "confirm_nonce": [new_nonce() for _ in fresh]},
    )
    # An unconfirmed form left a pending row: the organiser's provenance now stands for it.
    if len(fresh) < len(supporter_ids):
        Subscription.objects.filter(
            mailing_list=mailing_list, supporter_id__in=supporter_ids, status=Subscription.Status.PENDING
        ).update(status=Subscription.Status.SUBSCRIBED, source=source, subscribed_at=now)


def _ledgers_insert(
    supporter_ids: list[int], *, subscriber_import: SubscriberImport, mailing_list: MailingList, source: str, now: datetime
) -> None:
    """The consent and subscription ledger rows, with the wording and date the organiser gave."""
    wording = subscriber_import.consent_wording
    rows_insert(
        Consent,
        constants={
            "organisation": mailing_list.organisation_id, "given": True, "wording": wording, "source": source,
            "created_at": now, "given_at": subscriber_import.consent_given_at,
        },
        columns={"supporter": supporter_ids},
    )
    rows_insert(
        SubscriptionEvent,
        constants={
            "mailing_list": mailing_list.pk, "status": Subscription.Status.SUBSCRIBED, "wording": wording,
            "source": source, "created_at": now,
        },
        columns={"supporter": supporter_ids},
    )


def _report_save(subscriber_import: SubscriberImport, report: Report, **extra) -> None:
    values = {
        "total_rows": report.total_rows,
        "processed_rows": report.processed_rows,
        "new_supporters": report.new_supporters,
        "subscribed": report.subscribed,
        "already_subscribed": report.already_subscribed,
        "skipped": report.skipped,
        "problems": [list(problem) for problem in sorted(report.problems)[:PROBLEMS_KEPT]],
        "problem_count": len(report.problems),
        "heartbeat_at": timezone.now(),
        **extra,
    }
    SubscriberImport.objects.filter(pk=subscriber_import.pk).update(**values)
    for name, value in values.items():
        setattr(subscriber_import, name, value)


def subscribers_import(
    *, subscriber_import: SubscriberImport, data: bytes, progress: Callable[[int, int], None] | None = None
) -> SubscriberImport:
    """Import `data` (the CSV's bytes) as `subscriber_import` describes; `progress(done, total)`
    is called after each batch. The row's counts and problems are the report."""
    report = Report()
    mailing_list = MailingList.objects.select_related("organisation").get(pk=subscriber_import.mailing_list_id)
    try:
        rows = rows_read(data, encoding=subscriber_import.encoding, column_map=subscriber_import.column_map, report=report)
    except (ImportFileError, LookupError) as error:
        report.problems.append((0, str(error) if isinstance(error, ImportFileError) else "Unknown encoding."))
        _report_save(subscriber_import, report, status=SubscriberImport.Status.FAILED, finished_at=timezone.now(), data=b"")
        return subscriber_import
    report.processed_rows = report.total_rows - len(rows)
    _report_save(subscriber_import, report)
    for batch in rows_batched(rows):
        _batch_import(batch, subscriber_import=subscriber_import, mailing_list=mailing_list, report=report)
        _report_save(subscriber_import, report)
        if progress:
            progress(report.processed_rows, report.total_rows)
    # The file is deleted once imported: the report keeps line numbers, not people.
    with transaction.atomic():
        _report_save(subscriber_import, report, status=SubscriberImport.Status.DONE, finished_at=timezone.now(), data=b"")
        if subscriber_import.created_by_id:  # the admin's import, for the organiser who started it
            audit_record(
                request_or_actor=subscriber_import.created_by, organisation=mailing_list.organisation,
                action="import.finished", target=subscriber_import,
                details={"mailing_list": mailing_list.pk, "total_rows": report.total_rows,
                         "new_supporters": report.new_supporters, "subscribed": report.subscribed,
                         "already_subscribed": report.already_subscribed, "skipped": report.skipped,
                         "problems": len(report.problems)},
            )
    return subscriber_import


def subscriber_import_start(
    *,
    mailing_list: MailingList,
    file_name: str,
    encoding: str,
    columns: list[str],
    column_map: dict[str, str],
    consent_wording: str,
    consent_given_at: datetime,
) -> SubscriberImport:
    """Record an import its caller runs at once (manage.py import_subscribers), rather than
    one queued on a worker: it starts as running, and holds no copy of the file."""
    return SubscriberImport.objects.create(
        mailing_list=mailing_list, file_name=file_name[:200], encoding=encoding, columns=columns,
        column_map=column_map, consent_wording=consent_wording, consent_given_at=consent_given_at,
        status=SubscriberImport.Status.RUNNING, started_at=timezone.now(),
    )


def subscriber_import_run(*, import_id: int) -> bool:
    """Run a queued import (the admin's): claim it, import its stored file. A worker that died
    mid-import leaves it running with an old heartbeat; running it again is safe (nothing is
    written twice), so a stale claim is taken over."""
    now = timezone.now()
    stale = now - STALE_AFTER
    claimed = (
        SubscriberImport.objects.filter(pk=import_id)
        .filter(Q(status=SubscriberImport.Status.QUEUED) | Q(status=SubscriberImport.Status.RUNNING, heartbeat_at__lt=stale))
        .update(status=SubscriberImport.Status.RUNNING, started_at=now, heartbeat_at=now)
    )
    if not claimed:
        return False
    subscriber_import = SubscriberImport.objects.get(pk=import_id)
    subscribers_import(subscriber_import=subscriber_import, data=bytes(subscriber_import.data))
    return True


def subscriber_import_queue(
    *, subscriber_import: SubscriberImport, column_map: dict[str, str], request_or_actor=None
) -> None:
    """The organiser has matched the columns: queue the import on a worker. Audited (the
    organiser, the list, the file's name) in the same transaction; the counts follow in
    "import.finished" once it has run."""
    from engage import tasks

    with transaction.atomic(durable=True):
        updated = SubscriberImport.objects.filter(pk=subscriber_import.pk, status=SubscriberImport.Status.UPLOADED).update(
            column_map=column_map, status=SubscriberImport.Status.QUEUED
        )
        if updated:
            transaction.on_commit(lambda: queue(tasks.subscriber_import_run, subscriber_import.pk))
            if request_or_actor is not None:
                mailing_list = MailingList.objects.select_related("organisation").get(pk=subscriber_import.mailing_list_id)
                audit_record(request_or_actor=request_or_actor, organisation=mailing_list.organisation,
                             action="import.queued", target=subscriber_import,
                             details={"mailing_list": mailing_list.pk, "file_name": subscriber_import.file_name,
                                      "columns": sorted(column_map)})
    subscriber_import.refresh_from_db()


def subscriber_imports_sweep() -> int:
    """Beat: queue again imports the broker never took or whose worker died, and delete the
    files of uploads left unmatched for a day (they hold people's data)."""
    from engage import tasks

    now = timezone.now()
    SubscriberImport.objects.filter(status=SubscriberImport.Status.UPLOADED, created_at__lt=now - timedelta(days=1)).update(
        data=b"", status=SubscriberImport.Status.FAILED, finished_at=now, problems=[[0, "Abandoned before its columns were matched."]]
    )
    stuck = SubscriberImport.objects.filter(
        Q(status=SubscriberImport.Status.QUEUED, created_at__lt=now - STALE_AFTER)
        | Q(status=SubscriberImport.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    ).values_list("pk", flat=True)
    ids = list(stuck)
    for import_id in ids:
        queue(tasks.subscriber_import_run, import_id)
    return len(ids)
