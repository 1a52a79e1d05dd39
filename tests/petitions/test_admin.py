"""The organisers' admin: behind a login; publish, close and hand in; a hand-in CSV that holds
confirmed names only and cannot run as a spreadsheet formula; signatures filtered for review."""

import csv
import io
from datetime import timedelta
from unittest.mock import patch

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone

from engage.services.supporters import supporter_get_or_create
from petitions.exports import HANDIN_HEADER
from petitions.models import Petition, Signature
from petitions.services.lifecycle import petition_set_status
from petitions.services.signing import signatures_invalidate
from tests.support.factories import make_organiser, make_petition, make_signature

PETITIONS = "/admin/petitions/petition/"
SIGNATURES = "/admin/petitions/signature/"


class AdminTestCase(TestCase):
    def setUp(self):
        self.organiser = make_organiser()
        self.client.force_login(self.organiser)

    def act(self, url, action, objects, **extra):
        data = {"action": action, "_selected_action": [obj.pk for obj in objects]}
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(url, data, **extra)



class LoginTests(TestCase):
    def test_the_admin_is_behind_a_login(self):
        for url in (PETITIONS, SIGNATURES, "/admin/"):
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(response.status_code, 302)
                self.assertTrue(response["Location"].startswith("/admin/login/?next="))

    def test_an_anonymous_action_does_nothing(self):
        petition = make_petition(status=Petition.Status.DRAFT)
        response = self.client.post(PETITIONS, {"action": "publish", "_selected_action": [petition.pk]})
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/admin/login/"))
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.DRAFT)
        self.assertIsNone(petition.opened_at)

    def test_a_logged_in_non_staff_user_is_sent_to_the_login(self):
        user = get_user_model().objects.create_user("someone", "someone@example.org", "x")
        self.client.force_login(user)
        response = self.client.get(PETITIONS)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/admin/login/"))

    def test_an_export_needs_a_login(self):
        petition = make_petition()
        response = self.client.post(PETITIONS, {"action": "export_handin_csv", "_selected_action": [petition.pk]})
        self.assertEqual(response.status_code, 302)
        self.assertNotIn("text/csv", response.get("Content-Type", ""))


class StatusActionTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        self.now = timezone.now().replace(microsecond=0) + timedelta(minutes=5)
        self.clock = patch("django.utils.timezone.now", return_value=self.now)

    def test_publish_opens_a_draft_and_records_when(self):
        draft = make_petition(slug="a-draft", status=Petition.Status.DRAFT)
        self.assertEqual(self.client.get(f"/api/petitions/{draft.slug}").status_code, 404)
        with self.clock:
            response = self.act(PETITIONS, "publish", [draft], follow=True)
        self.assertContains(response, "1 petition now open.")
        draft.refresh_from_db()
        self.assertEqual(draft.status, Petition.Status.OPEN)
        self.assertEqual(draft.opened_at, self.now)
        self.assertIsNone(draft.closed_at)
        # Published, the public can see it at once.
        self.assertEqual(self.client.get(f"/api/petitions/{draft.slug}").json()["status"], "open")

    def test_close_closes_an_open_petition_and_records_when(self):
        petition = make_petition()
        self.client.get(f"/api/petitions/{petition.slug}")  # the summary is cached
        with self.clock:
            self.act(PETITIONS, "close", [petition])
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.CLOSED)
        self.assertEqual(petition.closed_at, self.now)
        self.assertEqual(self.client.get(f"/api/petitions/{petition.slug}").json()["status"], "closed")
        page = self.client.get(petition.get_absolute_url())
        self.assertNotContains(page, "Sign the petition</button>")

    def test_mark_handed_in_records_when(self):
        petition = make_petition()
        petition_set_status(petition=petition, status=Petition.Status.CLOSED)
        with self.clock:
            self.act(PETITIONS, "mark_handed_in", [petition])
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.HANDED_IN)
        self.assertEqual(petition.handed_in_at, self.now)
        self.assertIsNotNone(petition.closed_at)

    def test_a_transition_that_is_not_allowed_is_skipped_with_a_warning(self):
        draft = make_petition(slug="a-draft", status=Petition.Status.DRAFT)
        open_petition = make_petition()
        with self.clock:
            response = self.act(PETITIONS, "close", [draft, open_petition], follow=True)
        self.assertContains(response, "1 petition now closed.")
        self.assertContains(response, "1 skipped: not in a state that allows it.")
        draft.refresh_from_db()
        open_petition.refresh_from_db()
        self.assertEqual(draft.status, Petition.Status.DRAFT)
        self.assertIsNone(draft.closed_at)
        self.assertEqual(open_petition.status, Petition.Status.CLOSED)

    def test_a_handed_in_petition_cannot_be_published_again(self):
        petition = make_petition()
        petition_set_status(petition=petition, status=Petition.Status.HANDED_IN)
        opened_at = petition.opened_at
        self.act(PETITIONS, "publish", [petition])
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.HANDED_IN)
        self.assertEqual(petition.opened_at, opened_at)


class HandinCsvTests(AdminTestCase):
    DANGEROUS = [
        # (email, first name, last name, postcode, source)
        ("formula@example.org", '=HYPERLINK("http://evil.example","x")', "=1+1", "=2+2", "=cmd"),
        ("plus@example.org", "+44 20", "+SUM(A1)", "+1", "+src"),
        ("minus@example.org", "-2+3", "-Smith", "-1", "-leaflet"),
        ("at@example.org", "@SUM(A1:A9)", "@Jones", "@1", "@src"),
        ("tab@example.org", "\t=1+1", "\rJones", "\t1", "x"),
    ]

    def setUp(self):
        super().setUp()
        self.petition = make_petition()
        # Typed in by an organiser from paper, say: names the form would refuse.
        for email, first, last, postcode, source in self.DANGEROUS:
            supporter_get_or_create(email=email, first_name=first, last_name=last, country="GB", postcode=postcode)
            make_signature(petition=self.petition, email=email, source=source, confirm=True)
        make_signature(petition=self.petition, email="grace@example.org", first_name="Grace", last_name="Hopper",
                       postcode="SW1A 1AA", source="leaflet", confirm=True)
        make_signature(petition=self.petition, email="pending@example.org", first_name="Pending", last_name="Person")
        make_signature(petition=self.petition, email="held@example.org", first_name="Held", last_name="Person",
                       hold_reason=Signature.HoldReason.HONEYPOT)
        invalid = make_signature(petition=self.petition, email="invalid@example.org", first_name="Invalid",
                                 last_name="Person", confirm=True)
        signatures_invalidate(signature_ids=[invalid.pk])
        other = make_petition(slug="fund-our-nhs", title="Fund our NHS")
        make_signature(petition=other, email="other@example.org", first_name="Other", last_name="Petition", confirm=True)

    def export(self):
        response = self.act(PETITIONS, "export_handin_csv", [self.petition])
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertIn("attachment;", response["Content-Disposition"])
        self.assertIn(".csv", response["Content-Disposition"])
        text = b"".join(response.streaming_content).decode()
        return text, list(csv.reader(io.StringIO(text)))

    def test_it_exports_only_confirmed_signatures_of_the_chosen_petition(self):
        _, rows = self.export()
        self.assertEqual(rows[0], HANDIN_HEADER)
        self.assertEqual(len(rows), 1 + len(self.DANGEROUS) + 1)
        self.assertEqual({row[0] for row in rows[1:]}, {self.petition.slug})
        last_names = {row[2] for row in rows[1:]}
        self.assertIn("Hopper", last_names)
        for excluded in ("Person", "Petition"):
            self.assertNotIn(excluded, last_names)
        grace = next(row for row in rows if row[2] == "Hopper")
        self.assertEqual(grace, [self.petition.slug, "Grace", "Hopper", "SW1A 1AA", "GB", grace[5], "leaflet"])
        confirmed_at = Signature.objects.get(supporter__email="grace@example.org").confirmed_at
        self.assertEqual(grace[5], confirmed_at.isoformat())

    def test_it_holds_no_email_addresses(self):
        text, _ = self.export()
        self.assertNotIn("@example.org", text)
        self.assertNotIn("email", text.lower())

    def test_no_cell_starts_like_a_formula(self):
        text, rows = self.export()
        for row in rows[1:]:
            for cell in row:
                self.assertFalse(cell.startswith(("=", "+", "-", "@", "\t", "\r")), repr(cell))
        by_email = {email: (first, last, postcode, source) for email, first, last, postcode, source in self.DANGEROUS}
        for email, (first, last, postcode, source) in by_email.items():
            with self.subTest(email=email):
                row = next(row for row in rows if row[1] == "'" + first)
                self.assertEqual(row[2], "'" + last)
                self.assertEqual(row[3], "'" + postcode)
                if source != "x":
                    self.assertEqual(row[6], "'" + source)

    def test_an_export_of_several_petitions_has_each_ones_signatures(self):
        other = Petition.objects.get(slug="fund-our-nhs")
        response = self.act(PETITIONS, "export_handin_csv", [self.petition, other])
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        self.assertEqual({row[0] for row in rows[1:]}, {self.petition.slug, other.slug})
        self.assertEqual(len(rows), 1 + len(self.DANGEROUS) + 2)


class SignatureChangelistTests(AdminTestCase):
    def setUp(self):
        super().setUp()
        self.petition = make_petition()
        self.pending = make_signature(petition=self.petition, email="pending@example.org", source="leaflet")
        self.confirmed = make_signature(petition=self.petition, email="confirmed@example.org", source="twitter", confirm=True)
        self.held = make_signature(petition=self.petition, email="held@example.org", source="leaflet",
                                   hold_reason=Signature.HoldReason.RATE_LIMIT)
        self.honeypot = make_signature(petition=self.petition, email="bot@example.org",
                                       hold_reason=Signature.HoldReason.HONEYPOT)

    def listed(self, query=""):
        response = self.client.get(SIGNATURES + query)
        self.assertEqual(response.status_code, 200)
        return {signature.pk for signature in response.context["cl"].result_list}

    def test_it_lists_every_signature(self):
        self.assertEqual(
            self.listed(), {self.pending.pk, self.confirmed.pk, self.held.pk, self.honeypot.pk}
        )

    def test_it_filters_by_status(self):
        self.assertEqual(self.listed("?status__exact=held"), {self.held.pk, self.honeypot.pk})
        self.assertEqual(self.listed("?status__exact=confirmed"), {self.confirmed.pk})
        self.assertEqual(self.listed("?status__exact=invalid"), set())

    def test_it_filters_by_hold_reason(self):
        self.assertEqual(self.listed("?hold_reason__exact=rate_limit"), {self.held.pk})

    def test_it_filters_by_source(self):
        self.assertEqual(self.listed("?source=leaflet"), {self.pending.pk, self.held.pk})
        self.assertEqual(self.listed("?source__exact=twitter"), {self.confirmed.pk})

    def test_it_filters_by_status_and_source_together(self):
        self.assertEqual(self.listed("?status__exact=held&source=leaflet"), {self.held.pk})

    def test_the_filters_are_offered(self):
        response = self.client.get(SIGNATURES)
        self.assertContains(response, "?status__exact=held")
        self.assertContains(response, "?source=leaflet")

    def test_a_signature_page_shows_no_confirm_nonce_and_cannot_be_added(self):
        response = self.client.get(f"{SIGNATURES}{self.pending.pk}/change/")
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, self.pending.confirm_nonce)
        self.assertEqual(self.client.get(f"{SIGNATURES}add/").status_code, 403)
