"""Importing a CSV of an existing list (for example a Mailchimp export) into a mailing list.

Every good row is imported and every bad one reported by its line number, never by its
content (the report outlives the file, and an address in it would outlive its erasure):
bad encoding, no address, an invalid address, a duplicate of an earlier line, a suppressed or
erased address, or a person who had unsubscribed from the list or withdrawn consent from its
organisation (an import never overrides what a person told us).

Rows go in with set-based statements, a batch at a time: supporters, subscriptions, consent
and subscription ledger rows are each one INSERT ... ON CONFLICT DO NOTHING per batch
(engage.sql.rows_insert), so 100,000 rows take seconds (bench/import_subscribers.py). Each batch is its
own transaction and the import can be run again: nothing is written twice.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django_countries import countries

from engage.csvfiles import csv_lines, has_undecodable
from engage.models import Consent, MailingList, SubscriberImport, Subscription, SubscriptionEvent, Supporter
from engage.normalise import normalise_email, normalise_postcode, validate_person_name
from engage.sql import rows_insert
from engage.suppression import email_hash, suppressed_hashes
from engage.tokens import new_nonce

BATCH_SIZE = 5000
# An import whose worker has not reported for this long has died; it may be taken over.
STALE_AFTER = timedelta(minutes=10)
PROBLEMS_KEPT = 2000
FIELDS = ["email", "first_name", "last_name", "postcode", "country"]
FIELD_LABELS = {
    "email": "Email address",
    "first_name": "First name",
    "last_name": "Last name",
    "postcode": "Postcode",
    "country": "Country",
}
# Header spellings matched automatically, compared without case, spaces or punctuation.
# Mailchimp's export: "Email Address", "First Name", "Last Name", ..., "CC" (country code).
HEADER_ALIASES = {
    "email": {"emailaddress", "email", "emailaddr", "mail", "e-mail"},
    "first_name": {"firstname", "fname", "givenname", "forename", "first"},
    "last_name": {"lastname", "lname", "surname", "familyname", "last"},
    "postcode": {"postcode", "postalcode", "zip", "zipcode", "postcodezip", "post"},
    "country": {"country", "countrycode", "cc"},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportFileError(Exception):
    """The file as a whole cannot be read (empty, no header, no email column)."""


def _header_key(value: str) -> str:
    return re.sub(r"[^a-z]", "", value.lower())


def columns_guess(columns: list[str]) -> dict[str, str]:
    """{Muster field: column} for the headers that match a known spelling."""
    guessed: dict[str, str] = {}
    for column in columns:
        key = _header_key(column)
        for name, aliases in HEADER_ALIASES.items():
            if name not in guessed and key in {_header_key(alias) for alias in aliases}:
                guessed[name] = column
    return guessed


def file_columns(data: bytes, encoding: str) -> list[str]:
    """The header row: the file's first non-blank line."""
    for _, row in csv_lines(data, encoding):
        if row is None or has_undecodable(row):
            raise ImportFileError(f"The first line is not readable CSV in {encoding}: try the other encoding.")
        return [cell.strip() for cell in row]
    raise ImportFileError("The file is empty.")


@dataclass
class Row:
    line: int
    email: str
    first_name: str
    last_name: str
    postcode: str
    country: str


@dataclass
class Report:
    total_rows: int = 0
    processed_rows: int = 0
    new_supporters: int = 0
    subscribed: int = 0
    already_subscribed: int = 0
    skipped: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, message: str, *, skipped: bool = True) -> None:
        self.problems.append((line, message))
        self.skipped += skipped


@functools.lru_cache(maxsize=1024)
def _country(value: str) -> str | None:
    """A country code from a code or a name; a file repeats a few values many times."""
    value = value.strip()
    if not value:
        return "GB"
    if value.upper() in countries:
        return value.upper()
    return countries.by_name(value) or None


def _name(value: str) -> str | None:
    # Line breaks and runs of spaces inside a spreadsheet cell become one space.
    value = " ".join(_CONTROL.sub("", value).split())[:100]
    try:
        validate_person_name(value)
    except ValidationError:
        return None
    return value


def rows_read(data: bytes, *, encoding: str, column_map: dict[str, str], report: Report) -> list[Row]:
    """The file's good rows, deduplicated on the normalised address; every other row reported."""
    lines = csv_lines(data, encoding)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    header = [cell.strip() for cell in header or []]
    if not column_map.get("email") or column_map["email"] not in header:
        raise ImportFileError("Choose which column holds the email address.")
    index = {name: header.index(column) for name, column in column_map.items() if column in header}

    def cell(cells: list[str], name: str) -> str:
        position = index.get(name)
        return cells[position] if position is not None and position < len(cells) else ""

    seen: dict[str, int] = {}
    rows = []
    for line, cells in lines:
        report.total_rows += 1
        if cells is None:
            report.problem(line, "not readable as CSV: skipped")
            continue
        if has_undecodable(cells):
            report.problem(line, f"not valid {encoding} text (bad encoding): skipped")
            continue
        email = normalise_email(cell(cells, "email"))
        if not email:
            report.problem(line, "no email address: skipped")
            continue
        try:
            if _CONTROL.search(email) or len(email) > 254:
                raise ValidationError("invalid")
            validate_email(email)
        except ValidationError:
            report.problem(line, "not a valid email address: skipped")
            continue
        if email in seen:
            report.problem(line, f"the same address as line {seen[email]}: skipped")
            continue
        seen[email] = line
        first_name, last_name = _name(cell(cells, "first_name")), _name(cell(cells, "last_name"))
        if first_name is None or last_name is None:
            report.problem(line, "a name looked like a web address or a formula: imported without it", skipped=False)
        country = _country(cell(cells, "country"))
        if country is None:
            report.problem(line, "country not recognised: imported as United Kingdom", skipped=False)
            country = "GB"
        postcode = cell(cells, "postcode")
        if postcode.strip():
            try:
                postcode = normalise_postcode(_CONTROL.sub("", postcode), country)[:16]
            except ValidationError:
                report.problem(line, "postcode not recognised: imported without it", skipped=False)
                postcode = ""
        rows.append(Row(line, email, first_name or "", last_name or "", postcode.strip(), country))
    return rows


def _supporter_ids(emails: list[str]) -> dict[str, int]:
    # LOWER(email) = ANY(...) is served by the unique index on lower(email).
    if not emails:
        return {}
    return dict(
        Supporter.objects.alias(email_lower=Lower("email")).filter(email_lower__in=emails).values_list("email", "pk")
    )


def _batch_import(
    rows: list[Row], *, subscriber_import: SubscriberImport, mailing_list: MailingList, report: Report
) -> None:
    """One batch in one transaction: about ten statements whatever its size."""
    now = timezone.now()
    source = f"import:{subscriber_import.pk}"
    hashes = [email_hash(row.email) for row in rows]
    blocked = suppressed_hashes(hashes)
    wanted = []
    for row, hashed in zip(rows, hashes, strict=True):
        if hashed in blocked:
            report.problem(row.line, "this address is suppressed (erased, bounced or complained): skipped")
        else:
            wanted.append(row)
    with transaction.atomic():
        existing = _supporter_ids([row.email for row in wanted])
        new = [row for row in wanted if row.email not in existing]
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
        if len(ids) < len(wanted):  # not PostgreSQL, or someone else inserted the same address meanwhile
            ids.update(_supporter_ids([row.email for row in wanted if row.email not in ids]))
        report.new_supporters += len(ids) - len(existing)
        # Only people already here can have a subscription or a consent row to respect.
        statuses = dict(
            Subscription.objects.filter(mailing_list=mailing_list, supporter_id__in=existing.values()).values_list("supporter_id", "status")
        )
        latest_consent = Consent.objects.filter(
            supporter=OuterRef("pk"), organisation_id=mailing_list.organisation_id
        ).order_by("-created_at", "-id").values("given")[:1]
        withdrawn = set(
            Supporter.objects.filter(pk__in=existing.values())
            .annotate(consent=Subquery(latest_consent))
            .filter(consent=False)
            .values_list("pk", flat=True)
        ) if existing else set()
        to_subscribe = []
        for row in wanted:
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
        fresh = [sid for sid in to_subscribe if sid not in statuses]
        rows_insert(
            Subscription,
            constants={
                "mailing_list": mailing_list.pk, "status": Subscription.Status.SUBSCRIBED, "source": source,
                "created_at": now, "subscribed_at": now,
            },
            columns={"supporter": fresh, "confirm_nonce": [new_nonce() for _ in fresh]},
        )
        # An unconfirmed form left a pending row: the organiser's provenance now stands for it.
        if len(fresh) < len(to_subscribe):
            Subscription.objects.filter(
                mailing_list=mailing_list, supporter_id__in=to_subscribe, status=Subscription.Status.PENDING
            ).update(status=Subscription.Status.SUBSCRIBED, source=source, subscribed_at=now)
        wording = subscriber_import.consent_wording
        rows_insert(
            Consent,
            constants={
                "organisation": mailing_list.organisation_id, "given": True, "wording": wording, "source": source,
                "created_at": now, "given_at": subscriber_import.consent_given_at,
            },
            columns={"supporter": to_subscribe},
        )
        rows_insert(
            SubscriptionEvent,
            constants={
                "mailing_list": mailing_list.pk, "status": Subscription.Status.SUBSCRIBED, "wording": wording,
                "source": source, "created_at": now,
            },
            columns={"supporter": to_subscribe},
        )
        report.subscribed += len(to_subscribe)
        report.processed_rows += len(rows)


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
    for start in range(0, len(rows), BATCH_SIZE):
        _batch_import(rows[start : start + BATCH_SIZE], subscriber_import=subscriber_import, mailing_list=mailing_list, report=report)
        _report_save(subscriber_import, report)
        if progress:
            progress(report.processed_rows, report.total_rows)
    # The file is deleted once imported: the report keeps line numbers, not people.
    _report_save(subscriber_import, report, status=SubscriberImport.Status.DONE, finished_at=timezone.now(), data=b"")
    return subscriber_import


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


def subscriber_import_queue(*, subscriber_import: SubscriberImport, column_map: dict[str, str]) -> None:
    """The organiser has matched the columns: queue the import on a worker."""
    from engage import tasks
    from engage.queueing import queue

    with transaction.atomic(durable=True):
        updated = SubscriberImport.objects.filter(pk=subscriber_import.pk, status=SubscriberImport.Status.UPLOADED).update(
            column_map=column_map, status=SubscriberImport.Status.QUEUED
        )
        if updated:
            transaction.on_commit(lambda: queue(tasks.subscriber_import_run, subscriber_import.pk))
    subscriber_import.refresh_from_db()


def subscriber_imports_sweep() -> int:
    """Beat: queue again imports the broker never took or whose worker died, and delete the
    files of uploads left unmatched for a day (they hold people's data)."""
    from engage import tasks
    from engage.queueing import queue

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
