"""The partner dashboard became the partner's slice of the organisers' workspace: its old
addresses redirect there, and what it showed is there (the people opted in to the partner, and
per petition the signatures through it, the new supporters it brought, the signers who ticked its
box, by source code and by day), for its own organisation only.

One change of figure: the dashboard counted signatures still awaiting confirmation beside the
confirmed ones; the workspace counts confirmed signatures, the ones that count.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from engage.services.consent import consent_record
from engage.services.supporters import supporter_get_or_create
from petitions.models import Signature
from petitions.services.tallies import tallies_rebuild
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_cosponsorship, make_petition, make_signature


def rows(response, name):
    table = next(t for t in response.context["tables"] if t.name == name)
    return {row[0]: list(row[1:]) for row in table.rows}


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
        # Through A: three confirmed on the first petition (two from the newsletter), one of them already known to us.
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
        return make_signature(
            petition=petition, email=email, first_name="P", last_name="Q", confirm=confirm and not hold,
            hold_reason=Signature.HoldReason.HONEYPOT if hold else "", **extra,
        )

    def petition_page(self, org, petition=None):
        slug = (petition or self.petition).slug
        return self.client.get(reverse("organise:petition", kwargs={"org": org.slug, "slug": slug}))


class RedirectTests(DashboardTestCase):
    def test_the_old_addresses_lead_to_the_workspace(self):
        for old, new in (
            ("/partners/", reverse("organise:index")),
            ("/partners/org/we-own-it/", reverse("organise:overview", kwargs={"org": "we-own-it"})),
            ("/partners/login/", reverse("organise:login")),
            ("/partners/login/?next=/partners/org/we-own-it/", reverse("organise:login") + "?next=/partners/org/we-own-it/"),
        ):
            response = self.client.get(old)
            self.assertEqual((response.status_code, response["Location"]), (301, new), old)

    def test_a_partner_user_logs_in_at_the_workspace_and_lands_on_their_organisation(self):
        login = self.client.post(reverse("organise:login"), {"username": "alice", "password": "pw-alice-123"})
        self.assertEqual(login.status_code, 302)
        self.assertRedirects(self.client.get("/partners/"), "/organise/", status_code=301, target_status_code=302)
        self.assertRedirects(self.client.get("/organise/"), "/organise/we-own-it/")
        self.assertContains(self.client.get("/partners/org/we-own-it/", follow=True), "We Own It")

    def test_a_wrong_password_is_refused(self):
        response = self.client.post(reverse("organise:login"), {"username": "alice", "password": "wrong"})
        self.assertContains(response, "username and/or password you specified are not correct")
        self.assertEqual(self.client.get("/organise/we-own-it/").status_code, 302)

    def test_it_is_behind_a_login(self):
        for url in ("/organise/we-own-it/", self.petition_page_url("we-own-it")):
            response = self.client.get(url)
            self.assertEqual(response.status_code, 302)
            self.assertTrue(response["Location"].startswith(reverse("organise:login") + "?next="))

    def petition_page_url(self, org):
        return reverse("organise:petition", kwargs={"org": org, "slug": self.petition.slug})


class FiguresTests(DashboardTestCase):
    def test_the_partners_own_figures(self):
        self.client.force_login(self.alice)
        page = self.petition_page(self.a)
        self.assertEqual(page.context["total"], 3)  # confirmed; a4 awaits confirmation, held@ is held
        # Signatures, new supporters (known@ was with us already), and the opt-ins: a1, known,
        # b0 (through B's embed) and page@.
        self.assertEqual(rows(page, "by-partner"), {"We Own It": [3, 2, 4]})
        self.assertEqual(rows(page, "by-source"), {"newsletter": [2, 2], "(none)": [1, 0]})
        self.assertEqual(rows(page, "over-time")[timezone.localtime().strftime("%Y-%m-%d %H:00")], [3])
        self.assertEqual(self.petition_page(self.a, self.second).context["total"], 0)

        self.client.force_login(self.bert)
        page = self.petition_page(self.b)
        self.assertEqual(rows(page, "by-partner"), {"Keep Our NHS Public": [5, 5, 5]})
        self.assertEqual(rows(page, "by-source"), {"twitter": [5, 5]})

    def test_the_people_opted_in_and_a_withdrawal_lowers_them_at_once(self):
        self.client.force_login(self.alice)
        overview = self.client.get(reverse("organise:overview", kwargs={"org": "we-own-it"}))
        self.assertContains(overview, "data-opted-in-total>4<")
        page = supporter_get_or_create(email="page@example.org", first_name="", last_name="", country="GB", postcode="")[0]
        consent_record(supporter=page, organisation=self.a, given=False, wording="Unticked", source="preferences")
        overview = self.client.get(reverse("organise:overview", kwargs={"org": "we-own-it"}))
        self.assertContains(overview, "data-opted-in-total>3<")

    def test_by_day_before_the_last_48_hours(self):
        old = Signature.objects.filter(supporter__email="a2@example.org")
        old.update(confirmed_at=timezone.now() - timedelta(days=45))
        tallies_rebuild(petition=self.petition)
        self.client.force_login(self.alice)
        by_day = rows(self.petition_page(self.a), "over-time")
        self.assertEqual(by_day[timezone.localdate(timezone.now() - timedelta(days=45)).isoformat()], [1])
        self.assertEqual(sum(n for (n,) in by_day.values()), 3)

    def test_the_number_of_queries_does_not_grow_with_petitions(self):
        self.client.force_login(self.alice)
        url = reverse("organise:overview", kwargs={"org": "we-own-it"})
        self.client.get(url)
        with CaptureQueriesContext(connection) as before:
            self.client.get(url)
        for n in range(5):
            make_cosponsorship(petition=make_petition(slug=f"more-{n}"), organisation=self.a)
        with CaptureQueriesContext(connection) as after:
            page = self.client.get(url)
        self.assertEqual(len(page.context["summaries"]), 7)
        self.assertEqual(len(before), len(after))


class AccessTests(DashboardTestCase):
    def test_a_member_of_a_never_sees_bs_figures(self):
        self.client.force_login(self.alice)
        for url in ("/organise/keep-our-nhs-public/", self.petition_page_url("keep-our-nhs-public")):
            response = self.client.get(url)
            self.assertEqual(response.status_code, 404)
            self.assertNotContains(response, "twitter", status_code=404)
        for page in (self.client.get("/organise/we-own-it/"), self.petition_page(self.a)):
            self.assertNotContains(page, "twitter")
            self.assertNotContains(page, "Keep Our NHS Public")

    def test_b_sees_its_own_and_not_as(self):
        self.client.force_login(self.bert)
        self.assertEqual(self.client.get("/organise/we-own-it/").status_code, 404)
        page = self.petition_page(self.b)
        self.assertEqual(page.context["total"], 5)
        self.assertNotContains(page, "newsletter")

    def test_a_user_of_no_organisation_sees_none(self):
        self.client.force_login(self.nobody)
        self.assertContains(self.client.get("/organise/"), "not one of any organisation")
        for slug in ("we-own-it", "keep-our-nhs-public", "health-campaigns-together"):
            self.assertEqual(self.client.get(f"/organise/{slug}/").status_code, 404)
            self.assertEqual(self.client.get(self.petition_page_url(slug)).status_code, 404)

    def petition_page_url(self, org):
        return reverse("organise:petition", kwargs={"org": org, "slug": self.petition.slug})
