import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engage.models import Consent, Supporter
from petitions.models import Signature
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition
from tests.support.web import SIGNATURE_CONFIRM_LINK


class SignLoopTests(MusterTestCase):
    def api_count(self):
        return self.client.get(f"/api/petitions/{self.petition.slug}").json()["signature_count"]

    def test_it_signs_confirms_and_counts_once(self):
        self.assertEqual(self.api_count(), 0)
        response = self.sign(opt_in="on", source="leaflet-2")
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response["Location"], f"/p/{self.petition.slug}/signed")

        self.assertEqual(len(mail.outbox), 1)
        message = mail.outbox[0]
        self.assertEqual(message.to, ["ada@example.org"])
        self.assertIn("confirm", message.subject.lower())
        path = SIGNATURE_CONFIRM_LINK.search(message.body).group(1)
        # The token reveals neither the address nor a database id.
        self.assertNotIn("ada", path)
        signature = Signature.objects.get()
        self.assertNotIn(f"/{signature.pk}", path)
        self.assertEqual(signature.source, "leaflet-2")
        self.assertEqual(signature.supporter.postcode, "S70 2AB")

        page = self.client.get(path)
        self.assertContains(page, "Confirm my signature")
        signature.refresh_from_db()
        self.assertEqual(signature.status, Signature.Status.PENDING)
        self.assertEqual(self.api_count(), 0)

        confirmed = self.post(path)
        self.assertEqual(confirmed.status_code, 303)
        self.assertEqual(confirmed["Location"], f"/p/{self.petition.slug}/thanks")
        signature.refresh_from_db()
        self.assertEqual(signature.status, Signature.Status.CONFIRMED)
        self.assertEqual(self.api_count(), 1)

        # A second POST of the same link changes nothing.
        self.post(path)
        self.assertEqual(self.api_count(), 1)
        thanks = self.client.get(confirmed["Location"])
        self.assertContains(thanks, "Share this petition")

        consent = Consent.objects.get()
        self.assertTrue(consent.given)
        self.assertEqual(consent.organisation, self.petition.organisation)
        self.assertIn("Keep me updated by Health Campaigns Together", consent.wording)
        self.assertEqual(consent.source, "petition:scrap-the-icp-contract:leaflet-2")

    def test_it_records_no_consent_when_the_box_is_unticked(self):
        self.sign()
        self.assertEqual(Consent.objects.count(), 0)

    def test_it_dedupes_the_same_address_in_other_case_and_spacing(self):
        first = self.sign(email="ada@example.org")
        second = self.sign(email="  ADA@Example.ORG ", first_name="Someone", last_name="Else")
        self.assertEqual(first.status_code, second.status_code)
        self.assertEqual(first["Location"], second["Location"])
        self.assertEqual(Supporter.objects.count(), 1)
        self.assertEqual(Signature.objects.count(), 1)
        # Unconfirmed input does not overwrite the person's record.
        self.assertEqual(Supporter.objects.get().first_name, "Ada")
        self.assertEqual(len(mail.outbox), 2)
        self.assertIn("already signed", mail.outbox[1].subject)
        self.assertIn("/confirm/", mail.outbox[1].body)

    def test_the_already_signed_email_is_not_sent_again_within_the_interval(self):
        for _ in range(4):
            self.sign()
        self.assertEqual(len(mail.outbox), 2)

    def test_the_page_shows_the_live_count_without_counting_rows(self):
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(f"/p/{self.petition.slug}/?source=twitter")
        self.assertContains(response, "Scrap the ICP contract")
        self.assertContains(response, 'value="twitter"')
        self.assertContains(response, "<strong>public</strong>")
        self.assertNotContains(response, "<script>alert")
        self.assertFalse([q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()])


@pytest.mark.django_db
def test_a_draft_is_hidden_from_the_public(client):
    draft = make_petition(slug="draft-one", status="draft")
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(f"/api/petitions/{draft.slug}").status_code == 404
