"""The workspace's overview: what the host and a partner see on it, its figures against a count
of the signatures, and its cost. (Who may open it at all is in test_access.)"""

from datetime import timedelta
from unittest.mock import patch

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from engage.services.consent import consent_record
from engage.services.signups import signup_confirm, signup_create
from mailings.models import Delivery, Mailing
from petitions.models import Petition, Signature
from petitions.services.lifecycle import petition_set_status
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_mailing, make_petition, make_signature, make_supporter


class OverviewTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        self.a, self.b = self.partner, self.other_partner
        users = get_user_model().objects
        self.host_user = users.create_user("hilda", password="pw")
        self.host.members.add(self.host_user)
        self.alice = users.create_user("alice", password="pw")
        self.a.members.add(self.alice)
        self.closed = make_petition(slug="closed-one", title="An old petition")
        petition_set_status(petition=self.closed, status=Petition.Status.CLOSED)
        self.sign("a1@example.org", partner=self.a, boxes=["we-own-it"])
        self.sign("a2@example.org", partner=self.a)
        self.sign("b1@example.org", partner=self.b, source="twitter", boxes=["keep-our-nhs-public"])
        self.sign("d1@example.org", boxes=["we-own-it"])
        self.sign("held@example.org", hold_reason=Signature.HoldReason.RATE_LIMIT, confirm=False)
        self.sign("held2@example.org", hold_reason=Signature.HoldReason.HONEYPOT, confirm=False)
        # Two days ago: in this week's figures, not today's.
        with patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=2)):
            self.sign("old@example.org", partner=self.a)

    def sign(self, email, *, confirm=True, petition=None, **extra):
        return make_signature(petition=petition or self.petition, email=email, first_name="P", last_name="Q", confirm=confirm, **extra)

    def overview(self, org, **query):
        url = reverse("organise:overview", kwargs={"org": org.slug})
        return self.client.get(url, query)


class HostTests(OverviewTestCase):
    def test_open_petitions_with_todays_and_this_weeks_figures(self):
        self.client.force_login(self.host_user)
        page = self.overview(self.host)
        self.assertEqual(page.status_code, 200)
        table = page.context["table"]
        self.assertEqual(table.rows, [("Scrap the ICP contract", 5, 4, 5)])  # the closed petition is not listed
        confirmed = Signature.objects.filter(petition=self.petition, status=Signature.Status.CONFIRMED)
        self.assertEqual(table.rows[0][1], confirmed.count())
        today = timezone.localdate()
        self.assertEqual(table.rows[0][2], confirmed.filter(confirmed_at__date=today).count())
        summary, spark = page.context["summaries"][0]
        self.assertEqual(len(spark.rows), 14)
        self.assertEqual(spark.rows[-1], (today.isoformat(), 4))
        self.assertEqual(sum(n for _, n in spark.rows), 5)
        self.assertContains(page, 'data-chart="sparkline"')
        self.assertNotContains(page, "An old petition")

    def test_held_signatures_per_petition_link_to_the_review(self):
        self.client.force_login(self.host_user)
        page = self.overview(self.host)
        self.assertEqual([(p.slug, n) for p, n in page.context["held"]], [("scrap-the-icp-contract", 2)])
        self.assertContains(page, reverse("organise:held", kwargs={"org": self.host.slug}) + "?petition=scrap-the-icp-contract")

    def test_mailings_sending_now_with_their_progress(self):
        sending = make_mailing(name="Surge call")
        Mailing.objects.filter(pk=sending.pk).update(status=Mailing.Status.SENDING, started_at=timezone.now())
        people = [make_supporter(f"r{n}@example.org") for n in range(4)]
        Delivery.objects.bulk_create(
            Delivery(mailing=sending, supporter=p, status=Delivery.Status.SENT if n < 3 else Delivery.Status.QUEUED)
            for n, p in enumerate(people)
        )
        make_mailing(name="A draft")
        self.client.force_login(self.host_user)
        page = self.overview(self.host)
        [(mailing, progress)] = page.context["sending"]
        self.assertEqual((mailing.name, progress["sent"], progress["total"]), ("Surge call", 3, 4))
        self.assertContains(page, reverse("organise:mailing", kwargs={"org": self.host.slug, "pk": sending.pk}))
        self.assertContains(page, 'value="3"')
        self.assertNotContains(page, "A draft")

    def test_recent_joins_and_sign_ups(self):
        signup = signup_create(kind="subscribe", email="joiner@example.org", first_name="Jo", last_name="Iner",
                               country="GB", postcode="", mailing_lists=[self.news])
        signup_confirm(signup=signup)
        self.client.force_login(self.host_user)
        page = self.overview(self.host)
        self.assertEqual([s.supporter.email for s in page.context["signups"]], ["joiner@example.org"])
        self.assertEqual(page.context["newcomers"][0].email, "joiner@example.org")
        self.assertContains(page, "Jo Iner")

    def test_a_csv_of_the_figures(self):
        self.client.force_login(self.host_user)
        response = self.overview(self.host, csv="open-petitions")
        self.assertEqual(b"".join(response.streaming_content).decode().splitlines(),
                         ["Petition,Confirmed,Today,Last 7 days", "Scrap the ICP contract,5,4,5"])
        self.assertEqual(self.overview(self.host, csv="days-closed-one").status_code, 404)

    def test_it_costs_the_same_queries_however_many_signatures_and_reads_no_signature_but_held(self):
        self.client.force_login(self.host_user)
        self.overview(self.host)
        with CaptureQueriesContext(connection) as before:
            self.overview(self.host)
        for n in range(15):
            self.sign(f"more{n}@example.org", partner=self.b)
        with CaptureQueriesContext(connection) as after:
            self.overview(self.host)
        self.assertEqual(len(before), len(after))
        reads = [q["sql"] for q in after.captured_queries if 'FROM "petitions_signature"' in q["sql"]]
        self.assertEqual(len(reads), 1)  # the held count, on the (petition, status) index
        self.assertIn("held", reads[0])


class PartnerTests(OverviewTestCase):
    def test_a_partner_sees_its_slice_and_its_opt_ins(self):
        self.client.force_login(self.alice)
        page = self.overview(self.a)
        self.assertEqual(page.status_code, 200)
        self.assertEqual(page.context["table"].rows, [("Scrap the ICP contract", 3, 2, 3)])
        # Opted in to A and not withdrawn: a1 and d1 (through no partner), as the partner dashboard said.
        self.assertEqual(page.context["opted_in_total"], 2)
        self.assertContains(page, "data-opted-in-total>2<")
        self.assertEqual([(p.slug, total, week) for p, total, week in page.context["opt_ins"]], [("scrap-the-icp-contract", 2, 2)])
        self.assertEqual({c.supporter.email for c in page.context["recent_opt_ins"]}, {"a1@example.org", "d1@example.org"})
        for host_only in ("sending", "held", "signups", "newcomers"):
            self.assertNotIn(host_only, page.context)
        html = page.content.decode()
        for theirs in ("b1@example.org", "held@example.org", "Held signatures", "Mailings sending"):
            self.assertNotIn(theirs, html)

    def test_a_withdrawal_leaves_the_people_at_once(self):
        d1 = Signature.objects.get(supporter__email="d1@example.org").supporter
        consent_record(supporter=d1, organisation=self.a, given=False, wording="Unticked", source="preferences")
        self.client.force_login(self.alice)
        page = self.overview(self.a)
        self.assertEqual(page.context["opted_in_total"], 1)
        self.assertEqual([c.supporter.email for c in page.context["recent_opt_ins"]], ["a1@example.org"])
        # The boxes ticked when signing are a record of the signatures, and stay.
        self.assertEqual(page.context["opt_ins"][0][1], 2)
