"""The partner dashboard: behind a login that partner users (not staff) can use; a member of one
organisation sees its figures and never another's."""

import re
from datetime import timedelta
from unittest.mock import patch

from django.contrib.auth import get_user_model
from django.utils import timezone

from engage.services.consent import consent_record
from engage.services.supporters import supporter_get_or_create
from petitions.models import Signature
from petitions.selectors import partner_dashboard
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_cosponsorship, make_petition, make_signature


def figure(html, petition_slug, name):
    section = html.split(f'data-petition="{petition_slug}"', 1)[1].split("</section>", 1)[0]
    return int(re.search(rf'data-figure="{name}">(\d+)<', section).group(1))


class DashboardTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        self.a, self.b = self.partner, self.other_partner
        self.second = make_petition(slug="fund-our-nhs", title="Fund our NHS")
        make_cosponsorship(petition=self.second, organisation=self.a)
        make_cosponsorship(petition=self.second, organisation=self.b)
        users = get_user_model().objects
        self.alice = users.create_user("alice", "alice@weownit.org.uk", "pw-alice-123")
        self.bert = users.create_user("bert", "bert@knhsp.org", "pw-bert-123")
        self.nobody = users.create_user("nobody", "nobody@example.org", "pw-nobody-123")
        self.a.members.add(self.alice)
        self.b.members.add(self.bert)
        supporter_get_or_create(email="known@example.org", first_name="K", last_name="N", country="GB", postcode="")
        # Through A: three on the first petition (two from the newsletter), one of them already known to us.
        self.sign_as(self.petition, "a1@example.org", partner=self.a, source="newsletter", boxes=["we-own-it"])
        self.sign_as(self.petition, "a2@example.org", partner=self.a, source="newsletter")
        self.sign_as(self.petition, "known@example.org", partner=self.a, boxes=["we-own-it"])
        self.sign_as(self.petition, "a4@example.org", partner=self.a, confirm=False)
        self.sign_as(self.petition, "held@example.org", partner=self.a, hold=True)
        # Through B: five, all opting in to B; one also to A, through B's embed.
        for n in range(5):
            self.sign_as(self.petition, f"b{n}@example.org", partner=self.b, source="twitter",
                      boxes=["keep-our-nhs-public", "we-own-it"] if n == 0 else ["keep-our-nhs-public"])
        # On the main page, no partner, ticking A's box.
        self.sign_as(self.petition, "page@example.org", boxes=["we-own-it"])

    def sign_as(self, petition, email, *, confirm=True, hold=False, **extra):
        """`email` signs `petition`, confirmed unless told or held (by the honeypot); `extra`
        says through which partner, with which source code and which co-sponsors' boxes."""
        return make_signature(
            petition=petition, email=email, first_name="P", last_name="Q", confirm=confirm and not hold,
            hold_reason=Signature.HoldReason.HONEYPOT if hold else "", **extra,
        )


class FiguresTests(DashboardTestCase):
    def test_it_counts_only_the_partners_own_figures(self):
        figures = {f.petition.slug: f for f in partner_dashboard(organisation=self.a)}
        first = figures["scrap-the-icp-contract"]
        self.assertEqual(first.signatures, 4)  # held ones are not counted
        self.assertEqual(first.confirmed, 3)
        self.assertEqual(first.new_supporters, 2)  # known@ was with us already
        self.assertEqual(first.opted_in, 4)  # a1, known, b0 (through B's embed) and page@
        self.assertEqual(first.by_source, [("", 2, 1), ("newsletter", 2, 2)])  # largest first, then by code
        self.assertEqual(first.by_day, [(timezone.localdate(), 4, 3)])
        self.assertEqual(figures["fund-our-nhs"].signatures, 0)

        b_first = {f.petition.slug: f for f in partner_dashboard(organisation=self.b)}["scrap-the-icp-contract"]
        self.assertEqual((b_first.signatures, b_first.confirmed, b_first.opted_in), (5, 5, 5))
        self.assertEqual(b_first.by_source, [("twitter", 5, 5)])

    def test_a_withdrawal_lowers_opted_in_at_once(self):
        page = supporter_get_or_create(email="page@example.org", first_name="", last_name="", country="GB", postcode="")[0]
        consent_record(supporter=page, organisation=self.a, given=False, wording="Unticked", source="preferences")
        first = {f.petition.slug: f for f in partner_dashboard(organisation=self.a)}["scrap-the-icp-contract"]
        self.assertEqual(first.opted_in, 3)

    def test_by_day_covers_the_last_30_days(self):
        old = Signature.objects.filter(supporter__email="a2@example.org")
        old.update(created_at=timezone.now() - timedelta(days=45))
        first = {f.petition.slug: f for f in partner_dashboard(organisation=self.a)}["scrap-the-icp-contract"]
        self.assertEqual(first.by_day, [(timezone.localdate(), 3, 2)])
        self.assertEqual(first.signatures, 4)

    def test_the_number_of_queries_does_not_grow_with_petitions(self):
        with self.assertNumQueries(4):
            partner_dashboard(organisation=self.a)
        for n in range(5):
            make_cosponsorship(petition=make_petition(slug=f"more-{n}"), organisation=self.a)
        with self.assertNumQueries(4):
            self.assertEqual(len(partner_dashboard(organisation=self.a)), 7)


class AccessTests(DashboardTestCase):
    def test_a_partner_user_logs_in_here_and_sees_their_organisation(self):
        login = self.client.post("/partners/login/", {"username": "alice", "password": "pw-alice-123"})
        self.assertEqual(login.status_code, 302)
        index = self.client.get("/partners/")
        self.assertRedirects(index, "/partners/org/we-own-it/")
        page = self.client.get("/partners/org/we-own-it/")
        self.assertContains(page, "We Own It")
        html = page.content.decode()
        self.assertEqual(figure(html, "scrap-the-icp-contract", "signatures"), 4)
        self.assertEqual(figure(html, "scrap-the-icp-contract", "new_supporters"), 2)
        self.assertEqual(figure(html, "scrap-the-icp-contract", "opted_in"), 4)
        self.assertContains(page, "newsletter")
        self.assertContains(page, 'data-opted-in-total>4<')

    def test_a_member_of_a_never_sees_bs_figures(self):
        self.client.force_login(self.alice)
        response = self.client.get("/partners/org/keep-our-nhs-public/")
        self.assertEqual(response.status_code, 404)
        self.assertNotContains(response, "twitter", status_code=404)
        page = self.client.get("/partners/org/we-own-it/")
        self.assertNotContains(page, "twitter")
        self.assertNotContains(page, "Keep Our NHS Public")

    def test_b_sees_its_own_and_not_as(self):
        self.client.force_login(self.bert)
        self.assertEqual(self.client.get("/partners/org/we-own-it/").status_code, 404)
        page = self.client.get("/partners/org/keep-our-nhs-public/")
        self.assertEqual(figure(page.content.decode(), "scrap-the-icp-contract", "signatures"), 5)
        self.assertNotContains(page, "newsletter")

    def test_a_user_of_no_organisation_sees_none(self):
        self.client.force_login(self.nobody)
        self.assertContains(self.client.get("/partners/"), "not linked to any organisation")
        for slug in ("we-own-it", "keep-our-nhs-public", "health-campaigns-together"):
            self.assertEqual(self.client.get(f"/partners/org/{slug}/").status_code, 404)

    def test_it_is_behind_a_login(self):
        for url in ("/partners/", "/partners/org/we-own-it/"):
            response = self.client.get(url)
            self.assertEqual(response.status_code, 302)
            self.assertTrue(response["Location"].startswith("/partners/login/?next="))

    def test_a_wrong_password_is_refused(self):
        response = self.client.post("/partners/login/", {"username": "alice", "password": "wrong"})
        self.assertContains(response, "didn&#x27;t match")
        self.assertEqual(self.client.get("/partners/org/we-own-it/").status_code, 302)

    def test_logging_out(self):
        self.client.force_login(self.alice)
        self.assertRedirects(self.client.post("/partners/logout/"), "/partners/login/")
        self.assertEqual(self.client.get("/partners/org/we-own-it/").status_code, 302)

    def test_the_page_costs_a_fixed_number_of_queries(self):
        self.client.force_login(self.alice)
        self.client.get("/partners/org/we-own-it/")
        with patch("petitions.views.dashboard.partner_dashboard", wraps=partner_dashboard) as selector:
            with self.assertNumQueries(8):  # session, user, organisation, four figures, opted-in total
                self.client.get("/partners/org/we-own-it/")
            selector.assert_called_once()
