"""The helpers engage shares with the apps above it: the CSV writer, the person fields of a
form, the owed-confirmation sweep, the email retry policy, and the raw SQL with its ORM twin."""

from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.test import TestCase
from django.utils import timezone

from engage.csvfiles import csv_lines, csv_stream, has_undecodable
from engage.emails import EmailNotSent, email_retry
from engage.forms import DetailsForm, PersonForm
from engage.models import Organisation, Signup, Subscription, Supporter
from engage.queueing import confirmations_owed_queue
from engage.services.supporters import supporter_get_or_create
from engage.sql import _rows_insert_orm, _supporter_insert_orm, rows_insert, supporter_insert

PERSON = {"first_name": "Ada", "last_name": "Lovelace", "email": " Ada@Example.org", "country": "GB", "postcode": "s70 2ab"}


class CsvStreamTests(TestCase):
    def test_it_writes_the_header_then_each_row_with_formulas_neutralised(self):
        lines = list(csv_stream(["name", "note"], [("Ada", "=HYPERLINK(1)"), ("Bob", "-1")]))
        self.assertEqual(lines, ["name,note\r\n", "Ada,'=HYPERLINK(1)\r\n", "Bob,'-1\r\n"])

    def test_it_reads_back_what_it_wrote(self):
        data = "".join(csv_stream(["a", "b"], [("1", "two, quoted")])).encode()
        self.assertEqual(list(csv_lines(data, "utf-8")), [(1, ["a", "b"]), (2, ["1", "two, quoted"])])

    def test_it_reports_bytes_not_in_the_encoding(self):
        (_, cells), = csv_lines(b"caf\xe9\n", "utf-8")
        self.assertTrue(has_undecodable(cells))


class PersonFieldsTests(TestCase):
    def test_it_gives_the_cleaned_person_as_service_arguments(self):
        form = PersonForm(PERSON)
        self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(
            form.person_fields(),
            {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace", "country": "GB", "postcode": "S70 2AB"},
        )
        supporter, created = supporter_get_or_create(**form.person_fields())
        self.assertTrue(created)
        self.assertEqual(supporter.email, "ada@example.org")

    def test_it_leaves_out_a_field_the_form_leaves_out(self):
        form = DetailsForm(PERSON)
        self.assertTrue(form.is_valid(), form.errors)
        self.assertNotIn("email", form.person_fields())


class ConfirmationsOwedTests(TestCase):
    def setUp(self):
        self.supporter, _ = supporter_get_or_create(email="ada@example.org", first_name="A", last_name="L", country="GB", postcode="")
        self.task = mock.Mock()

    def signup(self, *, age: timedelta, **fields) -> Signup:
        signup = Signup.objects.create(supporter=self.supporter, kind=Signup.Kind.SUBSCRIBE, **fields)
        Signup.objects.filter(pk=signup.pk).update(created_at=timezone.now() - age)
        return signup

    def test_it_queues_only_rows_never_sent_and_not_too_young_or_too_old(self):
        owed = self.signup(age=settings.CONFIRM_OWED_AFTER + timedelta(minutes=1))
        self.signup(age=settings.CONFIRM_OWED_AFTER - timedelta(minutes=1))  # its first attempt may still come
        self.signup(age=settings.UNCONFIRMED_PURGE_AFTER + timedelta(days=1))  # about to be purged
        self.signup(age=settings.CONFIRM_OWED_AFTER + timedelta(minutes=1), confirmation_sent_at=timezone.now())
        self.signup(age=settings.CONFIRM_OWED_AFTER + timedelta(minutes=1), status=Signup.Status.HELD)
        count = confirmations_owed_queue(rows=Signup.objects.filter(status=Signup.Status.PENDING), task=self.task)
        self.assertEqual(count, 1)
        self.task.delay.assert_called_once_with(owed.pk)


class EmailRetryTests(TestCase):
    def test_it_retries_on_email_not_sent_a_database_blip_and_what_the_caller_adds(self):
        class TransportDown(Exception):
            pass

        self.assertEqual(email_retry()["autoretry_for"], (EmailNotSent, OperationalError, InterfaceError))
        self.assertEqual(email_retry(TransportDown)["autoretry_for"], (EmailNotSent, OperationalError, InterfaceError, TransportDown))
        self.assertEqual(email_retry()["max_retries"], email_retry(TransportDown)["max_retries"])


class SqlTwinTests(TestCase):
    """The statement (on PostgreSQL) and its ORM twin (on SQLite) give the same answers."""

    details = {"email": "ada@example.org", "first_name": "Ada", "last_name": "L", "country": "GB", "postcode": ""}

    def test_a_supporter_is_inserted_once_whichever_path(self):
        for insert in (supporter_insert, _supporter_insert_orm):
            with self.subTest(insert=insert.__name__):
                Supporter.objects.all().delete()
                first = insert(dict(self.details))
                self.assertIsNotNone(first)
                self.assertIsNone(insert({**self.details, "email": "ada@example.org"}))
                self.assertEqual(Supporter.objects.get().pk, first.pk)

    def test_rows_that_would_break_a_unique_constraint_are_skipped_whichever_path(self):
        organisation = Organisation.objects.create(name="Host", slug="host", kind=Organisation.Kind.HOST)
        mailing_list = organisation.mailing_lists.create(name="News", slug="news")
        supporter, _ = supporter_get_or_create(email="ada@example.org", first_name="A", last_name="L", country="GB", postcode="")
        constants = {"mailing_list": mailing_list.pk, "status": Subscription.Status.SUBSCRIBED, "source": "test", "created_at": timezone.now()}
        for index, insert in enumerate((rows_insert, _rows_insert_orm)):
            with self.subTest(insert=insert.__name__):
                Subscription.objects.all().delete()
                columns = {"supporter": [supporter.pk], "confirm_nonce": [f"nonce-{index}"]}
                extra = {"count": 1} if insert is _rows_insert_orm else {}
                insert(Subscription, constants=constants, columns=columns, **extra)
                insert(Subscription, constants=constants, columns={**columns, "confirm_nonce": [f"other-{index}"]}, **extra)
                self.assertEqual(Subscription.objects.count(), 1)
