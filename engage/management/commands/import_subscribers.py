"""manage.py import_subscribers: a CSV of an existing list into a mailing list, with a progress bar.

    python manage.py import_subscribers members.csv --list coalition-news \\
        --wording "Sign up to Health Campaigns Together's newsletter" --consent-date 2023-05-01

Columns are matched by their header (Mailchimp's "Email Address", "First Name", "Last Name",
"CC" ... match by themselves); --column FIELD=HEADER sets one by hand.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from engage.imports import FIELDS, ImportFileError, columns_guess, file_columns
from engage.models import MailingList, SubscriberImport
from engage.selectors import mailing_list_by_slug
from engage.services.imports import subscriber_import_start, subscribers_import

PROBLEMS_SHOWN = 50


def _moment(value: str):
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--consent-date {value!r} is not a date like 2023-05-01.")
        moment = timezone.datetime(day.year, day.month, day.day)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = "Import a CSV of subscribers (e.g. a Mailchimp export) into a mailing list, recording consent provenance."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file.")
        parser.add_argument("--list", required=True, dest="list_slug", help="The mailing list's slug.")
        parser.add_argument("--wording", required=True, help="What these people agreed to, word for word.")
        parser.add_argument("--consent-date", required=True, help="When they agreed, e.g. 2023-05-01.")
        parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "cp1252"])
        parser.add_argument(
            "--column", action="append", default=[], metavar="FIELD=HEADER",
            help=f"Match a field ({', '.join(FIELDS)}) to a column by hand, e.g. --column email=\"E-mail\".",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, file, list_slug, wording, consent_date, encoding, column, no_progress, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}") from None
        mailing_list = mailing_list_by_slug(list_slug)
        if mailing_list is None:
            known = ", ".join(MailingList.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No mailing list {list_slug!r} (lists: {known}).")
        if not wording.strip():
            raise CommandError("--wording must say what these people agreed to.")
        given_at = _moment(consent_date)
        try:
            columns = file_columns(data, encoding)
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        column_map = columns_guess(columns)
        for item in column:
            name, _, header = item.partition("=")
            if name not in FIELDS:
                raise CommandError(f"--column {item!r}: the field must be one of {', '.join(FIELDS)}.")
            if header not in columns:
                raise CommandError(f"--column {item!r}: the file has no column {header!r} (it has: {', '.join(columns)}).")
            column_map[name] = header
        if "email" not in column_map:
            raise CommandError(f"No column holds email addresses; name it with --column email=HEADER (columns: {', '.join(columns)}).")
        for name in FIELDS:
            self.stdout.write(f"  {name:<11} <- {column_map.get(name, '(not imported)')}")

        subscriber_import = subscriber_import_start(
            mailing_list=mailing_list, file_name=path.name, encoding=encoding, columns=columns,
            column_map=column_map, consent_wording=wording.strip(), consent_given_at=given_at,
        )
        with tqdm(total=None, unit=" rows", file=self.stderr, disable=no_progress, desc="Importing") as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            subscribers_import(subscriber_import=subscriber_import, data=data, progress=progress)

        result = subscriber_import
        if result.status == SubscriberImport.Status.FAILED:
            raise CommandError("; ".join(message for _, message in result.problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.total_rows} rows: {result.subscribed} subscribed ({result.new_supporters} new supporters), "
                f"{result.already_subscribed} already subscribed, {result.skipped} skipped."
            )
        )
        for line, message in result.problems[:PROBLEMS_SHOWN]:
            self.stdout.write(f"  line {line}: {message}")
        if result.problem_count > PROBLEMS_SHOWN:
            self.stdout.write(f"  ... and {result.problem_count - PROBLEMS_SHOWN} more (see the import in the admin).")
