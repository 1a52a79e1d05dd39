"""Importing an existing list: good rows in, bad rows reported by line, nobody re-subscribed
who unsubscribed, was suppressed or erased; and exporting a list as injection-safe CSV."""

import csv
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engage import imports
from engage.models import Consent, SubscriberImport, Subscription, SubscriptionEvent, Supporter, Suppression
from engage.services.consent import consent_record
from engage.services.erasure import supporter_erase
from engage.services.imports import subscriber_imports_sweep, subscribers_import
from engage.services.supporters import supporter_get_or_create
from engage.services.suppression import suppression_add
from tests.support.base import MusterTestCase

MAILCHIMP_HEADER = (
    "Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,"
    "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS"
)
WORDING = "Sign up to Health Campaigns Together's newsletter (our old Mailchimp form)"


def mailchimp_row(email, first="", last="", cc="GB", address=""):
    return f'{email},{first},{last},"{address}",,2,2019-03-01 10:00:00,,,,,,,,,{cc},,2020-01-01,1,a,,'


class ImportTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.consent_date = datetime(2019, 3, 1, tzinfo=UTC)

    def supporter(self, email, *, subscribed=None, consent=None):
        supporter, _ = supporter_get_or_create(email=email, first_name="Old", last_name="Name", country="GB", postcode="")
        if subscribed is not None:
            Subscription.objects.create(supporter=supporter, mailing_list=self.news, status=subscribed)
        if consent is not None:
            consent_record(supporter=supporter, organisation=self.news.organisation, given=consent, wording="x", source="test")
        return supporter

    def run_command(self, data: bytes, *extra):
        path = self.tmp_file(data)
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "import_subscribers", str(path), "--list", "coalition-news", "--wording", WORDING,
            "--consent-date", "2019-03-01", *extra, stdout=out, stderr=err,
        )
        return out.getvalue(), err.getvalue()

    def tmp_file(self, data: bytes) -> Path:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = Path(folder.name) / "mailchimp-export.csv"
        path.write_bytes(data)
        return path


class MalformedFileTests(ImportTestCase):
    def build_file(self):
        self.supporter("left@example.org", subscribed=Subscription.Status.UNSUBSCRIBED)
        self.supporter("withdrew@example.org", consent=False)
        self.supporter("already@example.org", subscribed=Subscription.Status.SUBSCRIBED, consent=True)
        self.supporter("pending@example.org", subscribed=Subscription.Status.PENDING)
        suppression_add(email="bounced@example.org", reason=Suppression.Reason.HARD_BOUNCE)
        lines = [
            MAILCHIMP_HEADER.encode(),                                              # 1
            mailchimp_row("ada@example.org", "Ada", "Lovelace", address="S70 2AB").encode(),  # 2
            mailchimp_row("", "No", "Address").encode(),                            # 3
            mailchimp_row("not-an-address", "Bad", "Address").encode(),             # 4
            mailchimp_row(" ADA@Example.org ", "Ada", "Again").encode(),            # 5
            mailchimp_row("bytes@example.org", "Caf", "x").encode().replace(b"Caf", b"Caf\xe9"),  # 6: Latin-1, not UTF-8
            mailchimp_row("bounced@example.org").encode(),                          # 7
            mailchimp_row("left@example.org").encode(),                             # 8
            mailchimp_row("withdrew@example.org").encode(),                         # 9
            mailchimp_row("already@example.org").encode(),                          # 10
            mailchimp_row("pending@example.org").encode(),                          # 11
            b'multi@example.org,"Mary\nAnne",Smith,,,,,,,,,,,,,GB,,,,,,',          # 12-13
            mailchimp_row("formula@example.org", "=HYPERLINK(1)", "Jones").encode(),  # 14
            b"",                                                                    # 15 (blank)
            b"short@example.org",                                                   # 16: fewer cells
            mailchimp_row("abroad@example.org", "Jean", "Dupont", cc="FR").encode(),  # 17
            mailchimp_row("nowhere@example.org", "Zed", "Zed", cc="Narnia").encode(),  # 18
        ]
        return b"\r\n".join(lines) + b"\r\n"

    def test_good_rows_import_and_each_bad_row_is_reported_by_line(self):
        out, err = self.run_command(self.build_file(), "--column", "postcode=Address")
        self.assertIn("email       <- Email Address", out)
        self.assertIn("country     <- CC", out)
        self.assertIn("Importing", err)  # the progress bar

        result = SubscriberImport.objects.get()
        self.assertEqual(result.status, SubscriberImport.Status.DONE)
        self.assertEqual(bytes(result.data), b"")
        self.assertEqual(
            [tuple(problem) for problem in result.problems],
            [
                (3, "no email address: skipped"),
                (4, "not a valid email address: skipped"),
                (5, "the same address as line 2: skipped"),
                (6, "not valid utf-8 text (bad encoding): skipped"),
                (7, "this address is suppressed (erased, bounced or complained): skipped"),
                (8, "this person unsubscribed from the list: not subscribed again"),
                (9, "this person withdrew consent from Health Campaigns Together: not subscribed"),
                (14, "a name looked like a web address or a formula: imported without it"),
                (18, "country not recognised: imported as United Kingdom"),
            ],
        )
        self.assertEqual(
            (result.total_rows, result.subscribed, result.already_subscribed, result.skipped, result.new_supporters),
            (15, 7, 1, 7, 6),
        )
        self.assertIn("line 3: no email address: skipped", out)
        subscribed = set(
            Subscription.objects.filter(mailing_list=self.news, status=Subscription.Status.SUBSCRIBED).values_list("supporter__email", flat=True)
        )
        self.assertEqual(subscribed, {
            "ada@example.org", "already@example.org", "pending@example.org", "multi@example.org", "formula@example.org",
            "short@example.org", "abroad@example.org", "nowhere@example.org",
        })
        self.assertEqual(
            Subscription.objects.get(supporter__email="left@example.org").status, Subscription.Status.UNSUBSCRIBED
        )
        self.assertFalse(Supporter.objects.filter(email__in=["bounced@example.org", "bytes@example.org", "not-an-address"]).exists())
        ada = Supporter.objects.get(email="ada@example.org")
        self.assertEqual((ada.first_name, ada.last_name, ada.postcode, ada.country.code), ("Ada", "Lovelace", "S70 2AB", "GB"))
        self.assertEqual(Supporter.objects.get(email="multi@example.org").first_name, "Mary Anne")
        self.assertEqual(Supporter.objects.get(email="formula@example.org").first_name, "")
        self.assertEqual(Supporter.objects.get(email="abroad@example.org").country.code, "FR")
        # Provenance: one ledger row per person subscribed, with the wording and date given.
        consents = Consent.objects.filter(source=f"import:{result.pk}")
        self.assertEqual(consents.count(), 7)
        self.assertEqual({(c.wording, c.given, c.given_at) for c in consents}, {(WORDING, True, self.consent_date)})
        self.assertEqual(SubscriptionEvent.objects.filter(source=f"import:{result.pk}").count(), 7)
        # The report never repeats what the file said about anyone.
        self.assertNotIn("example.org", str(result.problems))

    def test_running_the_same_file_again_writes_nothing_new(self):
        data = self.build_file()
        self.run_command(data)
        counts = (Supporter.objects.count(), Consent.objects.count(), SubscriptionEvent.objects.count())
        self.run_command(data)
        self.assertEqual((Supporter.objects.count(), Consent.objects.count(), SubscriptionEvent.objects.count()), counts)
        second = SubscriberImport.objects.latest("id")
        self.assertEqual((second.subscribed, second.already_subscribed), (0, 8))

    def test_an_erased_person_is_never_imported_again(self):
        erased = self.supporter("gone@example.org", subscribed=Subscription.Status.SUBSCRIBED)
        supporter_erase(supporter=erased)
        self.run_command(f"{MAILCHIMP_HEADER}\n{mailchimp_row('Gone@Example.org', 'Gone', 'Person')}\n".encode())
        self.assertFalse(Supporter.objects.filter(email="gone@example.org").exists())
        self.assertEqual(SubscriberImport.objects.get().problems, [[2, "this address is suppressed (erased, bounced or complained): skipped"]])

    def test_a_windows_file_reads_with_its_encoding(self):
        data = "Email,Forename,Surname,Postcode\r\nzoe@example.org,Zoë,Brontë,ls1 4ap\r\n".encode("cp1252")
        self.run_command(data, "--encoding", "cp1252")
        zoe = Supporter.objects.get(email="zoe@example.org")
        self.assertEqual((zoe.first_name, zoe.last_name, zoe.postcode), ("Zoë", "Brontë", "LS1 4AP"))

    def test_a_byte_order_mark_does_not_hide_the_email_column(self):
        self.run_command("\ufeffEmail Address\nbom@example.org\n".encode())
        self.assertTrue(Supporter.objects.filter(email="bom@example.org").exists())

    @pytest.mark.postgres  # SQLite's bulk_create splits by its parameter limit
    def test_statements_do_not_grow_with_the_rows(self):
        def queries_for(n, offset):
            lines = [MAILCHIMP_HEADER] + [mailchimp_row(f"p{offset + i}@example.org", "P", "Q") for i in range(n)]
            subscriber_import = SubscriberImport.objects.create(
                mailing_list=self.news, file_name="x.csv", consent_wording=WORDING, consent_given_at=self.consent_date,
                column_map=imports.columns_guess(MAILCHIMP_HEADER.split(",")),
            )
            with CaptureQueriesContext(connection) as queries:
                subscribers_import(subscriber_import=subscriber_import, data="\n".join(lines).encode())
            return len(queries)

        self.assertEqual(queries_for(10, 0), queries_for(400, 1000))
        self.assertEqual(Subscription.objects.count(), 410)

    def test_batches_each_commit_and_report_progress(self):
        seen = []
        lines = [MAILCHIMP_HEADER] + [mailchimp_row(f"b{i}@example.org") for i in range(25)]
        subscriber_import = SubscriberImport.objects.create(
            mailing_list=self.news, file_name="x.csv", consent_wording=WORDING, consent_given_at=self.consent_date,
            column_map={"email": "Email Address"},
        )
        with patch.object(imports, "BATCH_SIZE", 10):
            subscribers_import(subscriber_import=subscriber_import, data="\n".join(lines).encode(),
                                       progress=lambda done, total: seen.append((done, total)))
        self.assertEqual(seen, [(10, 25), (20, 25), (25, 25)])


class CommandErrorTests(ImportTestCase):
    def test_bad_arguments_give_clear_messages(self):
        good = f"{MAILCHIMP_HEADER}\n{mailchimp_row('a@example.org')}\n".encode()
        path = str(self.tmp_file(good))
        cases = [
            (["/nonexistent.csv", "--list", "coalition-news", "--wording", "w", "--consent-date", "2019-01-01"], "Cannot read"),
            ([path, "--list", "nope", "--wording", "w", "--consent-date", "2019-01-01"], "No mailing list 'nope'"),
            ([path, "--list", "coalition-news", "--wording", "w", "--consent-date", "last spring"], "is not a date"),
            ([path, "--list", "coalition-news", "--wording", " ", "--consent-date", "2019-01-01"], "--wording"),
            ([path, "--list", "coalition-news", "--wording", "w", "--consent-date", "2019-01-01", "--column", "email=Nope"], "has no column"),
            ([path, "--list", "coalition-news", "--wording", "w", "--consent-date", "2019-01-01", "--column", "age=CC"], "must be one of"),
        ]
        for args, message in cases:
            with self.subTest(args=args), self.assertRaisesMessage(CommandError, message):
                call_command("import_subscribers", *args, stdout=io.StringIO(), stderr=io.StringIO())
        for data, message in ((b"", "The file is empty."), (b"Name,Town\nAda,Barnsley\n", "No column holds email addresses")):
            with self.subTest(data=data), self.assertRaisesMessage(CommandError, message):
                self.run_command(data)
        self.assertFalse(Supporter.objects.exists())


class AdminImportTests(ImportTestCase):
    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)

    def upload(self, data, **extra):
        form = {
            "file": SimpleUploadedFile("export.csv", data, content_type="text/csv"), "encoding": "utf-8",
            "mailing_list": self.news.pk, "consent_wording": WORDING, "consent_given_at_0": "2019-03-01", "consent_given_at_1": "10:00:00",
        }
        form.update(extra)
        return self.client.post("/admin/engage/subscriberimport/add/", form)

    def test_upload_match_columns_import_and_read_the_report(self):
        data = f"{MAILCHIMP_HEADER}\n{mailchimp_row('ada@example.org', 'Ada', 'Lovelace')}\n{mailchimp_row('oops')}\n".encode()
        response = self.upload(data)
        subscriber_import = SubscriberImport.objects.get()
        self.assertRedirects(response, f"/admin/engage/subscriberimport/{subscriber_import.pk}/columns/")
        page = self.client.get(response["Location"])
        self.assertContains(page, '<option value="Email Address" selected>')
        self.assertContains(page, '<option value="CC" selected>')
        done = self.post(response["Location"], {"email": "Email Address", "first_name": "First Name", "last_name": "Last Name"})
        self.assertRedirects(done, f"/admin/engage/subscriberimport/{subscriber_import.pk}/change/")
        subscriber_import.refresh_from_db()
        self.assertEqual((subscriber_import.status, subscriber_import.subscribed), (SubscriberImport.Status.DONE, 1))
        self.assertEqual(bytes(subscriber_import.data), b"")
        report = self.client.get(done["Location"])
        self.assertContains(report, "line 3: not a valid email address: skipped")
        self.assertEqual(Supporter.objects.get().first_name, "Ada")

    def test_bad_uploads_and_mappings_are_refused_with_messages(self):
        self.assertContains(self.upload(b""), "The submitted file is empty.")
        self.assertContains(self.upload(b"\xff\xfe\x00garbage"), "not readable CSV")
        self.assertContains(self.upload(b"Email\na@example.org\n", consent_wording=""), "This field is required.")
        self.assertFalse(SubscriberImport.objects.exists())
        self.upload(b"Email,Other\na@example.org,b@example.org\n")
        columns = f"/admin/engage/subscriberimport/{SubscriberImport.objects.get().pk}/columns/"
        self.assertContains(self.client.post(columns, {"email": ""}), "Choose the column that holds email addresses.", status_code=400)
        self.assertContains(self.client.post(columns, {"email": "Email", "first_name": "Email"}), "one field only", status_code=400)
        self.assertContains(self.client.post(columns, {"email": "Nonexistent"}), "Select a valid choice", status_code=400)
        self.assertFalse(Supporter.objects.exists())

    def test_abandoned_uploads_lose_their_file(self):
        self.upload(b"Email\na@example.org\n")
        with patch("django.utils.timezone.now", return_value=datetime(2100, 1, 1, tzinfo=UTC)):
            subscriber_imports_sweep()
        abandoned = SubscriberImport.objects.get()
        self.assertEqual((abandoned.status, bytes(abandoned.data)), (SubscriberImport.Status.FAILED, b""))


class ListExportTests(ImportTestCase):
    def test_it_exports_subscribers_injection_safe_without_the_unsubscribed_or_suppressed(self):
        for email, first, status in (
            ("ada@example.org", "Ada", Subscription.Status.SUBSCRIBED),
            ("evil@example.org", "=HYPERLINK(\"http://x\")", Subscription.Status.SUBSCRIBED),
            ("left@example.org", "Left", Subscription.Status.UNSUBSCRIBED),
            ("bounced@example.org", "Bounced", Subscription.Status.SUBSCRIBED),
        ):
            supporter, _ = supporter_get_or_create(email=email, first_name=first, last_name="-Minus", country="GB", postcode="")
            Subscription.objects.create(supporter=supporter, mailing_list=self.news, status=status)
        suppression_add(email="bounced@example.org", reason=Suppression.Reason.HARD_BOUNCE)
        self.client.force_login(self.organiser)
        response = self.client.post("/admin/engage/mailinglist/", {"action": "export_subscribers_csv", "_selected_action": [self.news.pk]})
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        self.assertEqual(rows[0], ["list", "email", "first_name", "last_name", "country", "postcode", "subscribed_at", "source"])
        self.assertEqual([(r[1], r[2], r[3]) for r in rows[1:]], [
            ("ada@example.org", "Ada", "'-Minus"),
            ("evil@example.org", "'=HYPERLINK(\"http://x\")", "'-Minus"),
        ])


def test_mailchimp_headers_are_matched_by_themselves():
    guessed = imports.columns_guess(MAILCHIMP_HEADER.split(","))
    assert guessed == {"email": "Email Address", "first_name": "First Name", "last_name": "Last Name", "country": "CC"}
    assert imports.columns_guess(["E-mail", "Forename", "Surname", "Post Code", "Country"]) == {
        "email": "E-mail", "first_name": "Forename", "last_name": "Surname", "postcode": "Post Code", "country": "Country",
    }
