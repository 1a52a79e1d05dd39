"""A person's copy of their data: everything about them, nothing of anyone else, behind an
emailed link that reveals nobody and expires."""

import json
import time
from datetime import timedelta
from unittest.mock import patch

from django.conf import settings
from django.core import mail
from django.utils import timezone

from engage import tasks
from engage.links import preferences_url
from engage.models import DataExport, Supporter
from engage.selectors import supporter_export_json
from engage.services.data_exports import data_export_request
from engage.services.preferences import preferences_update
from petitions.services.signing import signature_confirm
from tests.support.base import MusterTestCase
from tests.support.factories import make_signature, sign_data
from tests.support.web import EXPORT_LINK, SIGNUP_CONFIRM_LINK, link_in_last_email, path_of


class DataExportTests(MusterTestCase):
    def setUp(self):
        super().setUp()
        for email, name, postcode in (("ada@example.org", "Lovelace", "S70 2AB"), ("bea@example.org", "Brontesque", "LS1 4AP")):
            signature = make_signature(
                petition=self.petition, first_name="Someone", last_name=name, email=email, postcode=postcode, opt_in=True,
                source="leaflet", ip="192.0.2.1",
            )
            # The ticked box reaches the consent ledger on confirmation.
            signature_confirm(signature=signature)
            self.post("/subscribe/", sign_data(email=email, last_name=name, lists=[self.news.pk]))
            self.client.post(link_in_last_email(SIGNUP_CONFIRM_LINK, to=email), {})
        self.ada = Supporter.objects.get(email="ada@example.org")
        self.preferences = path_of(preferences_url(self.ada))

    def ask(self):
        return self.post(f"{self.preferences}export")

    def test_asking_from_the_preference_page_emails_a_link_to_everything_about_them(self):
        response = self.ask()
        self.assertEqual(response["Location"], f"{self.preferences}?saved=export")
        self.assertContains(self.client.get(response["Location"]), "We're preparing a copy of your data")
        self.assertIn("Your copy of your data is ready", mail.outbox[-1].subject)
        path = link_in_last_email(EXPORT_LINK)
        export = DataExport.objects.get()
        self.assertNotIn("ada", path.lower())
        self.assertNotIn(f"/{self.ada.pk}/", path)
        self.assertNotIn(f"/{export.pk}/", path)

        download = self.client.get(path)
        self.assertEqual(download.status_code, 200)
        self.assertEqual(download["Content-Type"], "application/json; charset=utf-8")
        self.assertRegex(download["Content-Disposition"], r'^attachment; filename="muster-personal-data-\d{4}-\d\d-\d\d\.json"$')
        self.assertIn("no-cache", download["Cache-Control"])
        text = download.content.decode()
        data = json.loads(text)
        self.assertEqual(data["format"], "muster-personal-data/1")
        self.assertEqual(data["supporter"]["email"], "ada@example.org")
        self.assertEqual(data["supporter"]["postcode"], "S70 2AB")
        self.assertEqual([s["petition"] for s in data["signatures"]], ["Scrap the ICP contract"])
        self.assertEqual(data["signatures"][0]["postcode_area"], "S")
        self.assertEqual([(s["list"], s["status"]) for s in data["subscriptions"]], [("Coalition news", "subscribed")])
        self.assertEqual([e["status"] for e in data["subscription_history"]], ["subscribed"])
        self.assertEqual(len(data["consents"]), 1)  # the petition's box; the list's is in subscription_history
        self.assertIn("Keep me updated by Health Campaigns Together", data["consents"][0]["wording"])
        self.assertEqual([s["kind"] for s in data["signups"]], ["subscribe"])
        self.assertEqual({e["kind"] for e in data["emails"]}, {"signature_confirm", "signup_confirm_subscribe"})
        self.assertTrue(all(e["to"] == "ada@example.org" for e in data["emails"]))
        for key in ("memberships", "affiliated_organisations_as_contact", "detail_corrections", "mailings_received", "data_exports"):
            self.assertIn(key, data)
        # Nothing of anyone else.
        for other in ("bea@example.org", "Brontesque", "LS1 4AP"):
            self.assertNotIn(other, text)

    def test_a_second_press_while_it_is_prepared_makes_no_second_file(self):
        with patch.object(tasks.data_export_build, "apply_async"):
            self.ask()
            self.ask()
        self.assertEqual(DataExport.objects.count(), 1)

    def test_running_the_build_twice_sends_one_email(self):
        export = data_export_request(supporter=self.ada, requested_by="supporter")
        mail.outbox.clear()
        tasks.data_export_build.delay(export.pk)
        tasks.data_export_build.delay(export.pk)
        self.assertEqual(len(mail.outbox), 1)

    def test_the_link_expires_and_the_copy_is_then_deleted(self):
        self.ask()
        path = link_in_last_email(EXPORT_LINK)
        later = time.time() + settings.DATA_EXPORT_LINK_MAX_AGE.total_seconds() + 60
        with patch("django.core.signing.time.time", return_value=later):
            self.assertEqual(self.client.get(path).status_code, 410)
        with patch("django.utils.timezone.now", return_value=timezone.now() + settings.DATA_EXPORT_LINK_MAX_AGE - timedelta(hours=1)):
            self.assertEqual(tasks.data_exports_expire.delay().get(), 0)
        with patch("django.utils.timezone.now", return_value=timezone.now() + settings.DATA_EXPORT_LINK_MAX_AGE + timedelta(hours=1)):
            self.assertEqual(tasks.data_exports_expire.delay().get(), 1)
        export = DataExport.objects.get()
        self.assertEqual((export.status, export.content), (DataExport.Status.EXPIRED, ""))
        self.assertEqual(self.client.get(path).status_code, 410)

    def test_tampered_links_are_refused(self):
        self.ask()
        path = link_in_last_email(EXPORT_LINK)
        self.assertEqual(self.client.get(path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]).status_code, 400)
        self.assertEqual(self.client.get("/my-data/whatever/").status_code, 400)
        self.assertEqual(self.client.get(self.preferences.replace("/preferences/", "/my-data/")).status_code, 400)
        self.assertEqual(self.client.post(path).status_code, 405)

    def test_an_organiser_downloads_the_same_file_from_the_admin(self):
        self.client.force_login(self.organiser)
        response = self.client.post("/admin/engage/supporter/", {"action": "download_data_export", "_selected_action": [self.ada.pk]})
        self.assertEqual(response["Content-Type"], "application/json")
        data = json.loads(response.content)
        self.assertEqual(data["supporter"]["email"], "ada@example.org")
        self.assertNotIn("bea@example.org", response.content.decode())
        both = self.client.post(
            "/admin/engage/supporter/", {"action": "download_data_export", "_selected_action": list(Supporter.objects.values_list("pk", flat=True))}
        )
        self.assertEqual(both["Content-Type"], "application/zip")
        self.post("/admin/engage/supporter/", {"action": "email_data_export", "_selected_action": [self.ada.pk]})
        self.assertEqual(DataExport.objects.get().requested_by, "organiser")
        self.assertIn("/my-data/", mail.outbox[-1].body)

    def test_an_export_includes_the_ledgers_of_a_preference_change(self):
        preferences_update(supporter=self.ada, list_ids_on=set(), organisation_ids_on=set())
        data = json.loads(supporter_export_json(supporter=self.ada))
        self.assertEqual([e["status"] for e in data["subscription_history"]], ["subscribed", "unsubscribed"])
        self.assertFalse(data["consents"][-1]["given"])
