"""The demo data shows the coalition-partner features: the first petition has co-sponsors."""

import io

from django.core.management import call_command
from django.test import TestCase

from petitions.models import Cosponsorship


class SeedDemoTests(TestCase):
    def test_it_adds_the_partners_as_cosponsors_once(self):
        for _ in range(2):
            call_command("seed_demo", stdout=io.StringIO())
        pairs = sorted(Cosponsorship.objects.values_list("petition__slug", "organisation__slug", "active"))
        self.assertEqual(
            pairs,
            [("scrap-the-icp-contract", "keep-our-nhs-public", True), ("scrap-the-icp-contract", "we-own-it", True)],
        )
        page = self.client.get("/p/scrap-the-icp-contract/")
        self.assertContains(page, "Keep me updated by We Own It.")
        self.assertContains(page, "Keep me updated by Keep Our NHS Public.")

    def test_its_draft_mailing_reaches_the_demo_subscribers_once(self):
        from mailings.models import Delivery, Mailing
        from mailings.services.sending import mailing_start

        for _ in range(2):
            call_command("seed_demo", stdout=io.StringIO())
        mailing = Mailing.objects.get()
        self.assertEqual(mailing.status, Mailing.Status.DRAFT)
        with self.captureOnCommitCallbacks(execute=True):
            mailing_start(mailing_id=mailing.pk)
        mailing.refresh_from_db()
        self.assertEqual((mailing.status, mailing.recipient_count), (Mailing.Status.SENT, 3))
        self.assertEqual(set(Delivery.objects.values_list("status", flat=True)), {Delivery.Status.SENT})
