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
        mailing = Mailing.objects.get(status=Mailing.Status.DRAFT)
        self.assertEqual(mailing.status, Mailing.Status.DRAFT)
        with self.captureOnCommitCallbacks(execute=True):
            mailing_start(mailing_id=mailing.pk)
        mailing.refresh_from_db()
        self.assertEqual((mailing.status, mailing.recipient_count), (Mailing.Status.SENT, 3))
        self.assertEqual(set(Delivery.objects.values_list("status", flat=True)), {Delivery.Status.SENT})

    def test_it_loads_three_weeks_of_a_campaign_once_with_a_partner_login(self):
        from django.db.models import Count
        from django.db.models.functions import TruncDate

        from mailings.models import Delivery, Mailing
        from mailings.selectors.mailings import mailing_links_clicked
        from petitions.models import Petition, Signature

        for _ in range(2):
            call_command("seed_demo", stdout=io.StringIO())
        first = Petition.objects.get(slug="scrap-the-icp-contract")
        confirmed = first.signatures.filter(status=Signature.Status.CONFIRMED)
        self.assertGreater(confirmed.count(), 2000)
        days = confirmed.annotate(day=TruncDate("created_at")).values("day").distinct().count()
        self.assertGreaterEqual(days, 21)
        # Through both partners, from several sources, and held signatures to review.
        self.assertEqual(set(first.signatures.exclude(partner=None).values_list("partner__slug", flat=True)),
                         {"keep-our-nhs-public", "we-own-it"})
        self.assertGreater(first.signatures.values("source").distinct().count(), 4)
        self.assertGreater(first.signatures.filter(status=Signature.Status.HELD).count(), 0)
        # Two past mailings with their statistics; a surge the day each went out.
        sent = Mailing.objects.filter(status=Mailing.Status.SENT)
        self.assertEqual(sent.count(), 2)
        for mailing in sent:
            deliveries = Delivery.objects.filter(mailing=mailing)
            self.assertEqual(deliveries.count(), mailing.recipient_count)
            self.assertGreater(deliveries.exclude(opened_at=None).count(), 0)
            self.assertGreater(deliveries.exclude(clicked_at=None).count(), 0)
            self.assertTrue(mailing_links_clicked(mailing=mailing))
            day = mailing.started_at.date()
            by_day = dict(confirmed.annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("id")))
            quiet = sorted(by_day.values())[len(by_day) // 2]
            self.assertGreater(by_day[day], 3 * quiet)
        self.assertEqual(first.signature_count, confirmed.count())
        # The partner's login opens its own workspace.
        self.assertTrue(self.client.login(username="weownit", password="muster-partner"))
        self.assertEqual(self.client.get("/organise/")["Location"], "/organise/we-own-it/")


class SeedDemoFiguresTests(TestCase):
    def test_the_workspace_figures_of_the_demo_agree_with_its_signatures(self):
        from petitions.models import OptInTally, Petition, Signature, SignatureTally

        call_command("seed_demo", stdout=io.StringIO())
        first = Petition.objects.get(slug="scrap-the-icp-contract")
        tallied = sum(SignatureTally.objects.filter(petition=first).values_list("signatures", flat=True))
        self.assertEqual(tallied, first.signatures.filter(status=Signature.Status.CONFIRMED).count())
        boxes = sum(len(s.opt_ins_pending) for s in first.signatures.filter(status=Signature.Status.CONFIRMED))
        self.assertGreater(boxes, 0)
        self.assertEqual(sum(OptInTally.objects.filter(petition=first).values_list("opt_ins", flat=True)), boxes)
