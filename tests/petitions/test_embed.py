"""The embed: a script that puts the petition's form in an iframe on a partner's page. The frame's
pages may be framed only by the partner's registered origins, set no cookie and need none, and
its form is accepted only from the frame itself (its Origin is this site's)."""

from django.core import mail
from django.test import Client

from engage.models import Consent
from petitions.embed import embed_snippet
from petitions.models import Petition, Signature
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_petition, sign_data
from tests.support.web import SIGNATURE_CONFIRM_LINK, SITE


class EmbedTestCase(CosponsoredTestCase):
    partner_origins = "https://weownit.org.uk\nhttps://www.weownit.org.uk\n*\nhttps://x.org; script-src *"

    def setUp(self):
        super().setUp()
        self.other = self.other_partner
        self.page_url = f"/embed/{self.petition.slug}/"
        self.sign_url = f"/embed/{self.petition.slug}/sign"
        # A third-party frame carries no cookie: no session, no CSRF token, and the checks are on.
        self.client = Client(enforce_csrf_checks=True)

    def frame_sign(self, origin=SITE, **overrides):
        """Sign in the frame, whose form posts from this site's own origin, naming the partner."""
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        return self.post(self.sign_url, sign_data(**{"partner": "we-own-it", **overrides}), **headers)


class ScriptTests(EmbedTestCase):
    def test_it_serves_a_cacheable_script_that_frames_the_petition(self):
        response = self.client.get(f"/embed/{self.petition.slug}.js", HTTP_HOST="muster.test", secure=True)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/javascript"))
        self.assertIn("max-age=", response["Cache-Control"])
        body = response.content.decode()
        self.assertIn('var ORIGIN = "https://muster.test";', body)
        self.assertIn('var SLUG = "scrap-the-icp-contract";', body)
        self.assertIn('createElement("iframe")', body)
        self.assertIn("data-partner", body)
        self.assertIn("muster:height", body)
        self.assertNotIn("Set-Cookie", response)

    def test_unknown_and_draft_petitions_have_no_script(self):
        draft = make_petition(slug="draft-one", status=Petition.Status.DRAFT)
        for slug in ("nope", draft.slug):
            self.assertEqual(self.client.get(f"/embed/{slug}.js").status_code, 404)


class PageTests(EmbedTestCase):
    def test_it_shows_title_count_and_form_with_every_consent_box_unticked(self):
        response = self.client.get(self.page_url, {"partner": "we-own-it", "source": "homepage"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Scrap the ICP contract")
        self.assertContains(response, 'data-count>0</span>')
        self.assertContains(response, f'action="/embed/{self.petition.slug}/sign"')
        self.assertContains(response, "Keep me updated by Health Campaigns Together")
        self.assertContains(response, "Keep me updated by We Own It.")
        self.assertContains(response, "Keep me updated by Keep Our NHS Public.")
        self.assertNotContains(response, "checked")
        self.assertContains(response, 'name="partner" value="we-own-it"')
        self.assertContains(response, 'name="source" value="homepage"')
        self.assertNotContains(response, "csrfmiddlewaretoken")

    def test_only_the_partners_registered_origins_may_frame_it(self):
        response = self.client.get(self.page_url, {"partner": "we-own-it"})
        self.assertEqual(
            response["Content-Security-Policy"],
            "frame-ancestors 'self' https://weownit.org.uk https://www.weownit.org.uk",
        )
        self.assertNotIn("X-Frame-Options", response)
        self.assertNotIn("Set-Cookie", response)
        self.assertFalse(response.cookies)

    def test_the_rest_of_the_site_still_refuses_to_be_framed(self):
        for url in (self.petition.get_absolute_url(), "/"):
            self.assertEqual(self.client.get(url)["X-Frame-Options"], "DENY")

    def test_without_a_partner_the_hosts_origins_apply(self):
        host = self.petition.organisation
        host.allowed_origins = "https://healthcampaignstogether.com"
        host.save()
        response = self.client.get(self.page_url)
        self.assertEqual(response["Content-Security-Policy"], "frame-ancestors 'self' https://healthcampaignstogether.com")

    def test_an_unknown_or_switched_off_partner_gets_a_page_nobody_can_frame(self):
        self.petition.cosponsorships.filter(organisation=self.other).update(active=False)
        for partner in ("nobody", "keep-our-nhs-public"):
            with self.subTest(partner=partner):
                response = self.client.get(self.page_url, {"partner": partner})
                self.assertEqual(response.status_code, 403)
                self.assertEqual(response["Content-Security-Policy"], "frame-ancestors 'self'")

    def test_a_closed_petition_shows_its_count_but_no_form(self):
        self.petition.status = Petition.Status.CLOSED
        self.petition.save()
        response = self.client.get(self.page_url, {"partner": "we-own-it"})
        self.assertContains(response, "no longer collecting signatures")
        self.assertNotContains(response, "<form")
        self.assertEqual(self.frame_sign().status_code, 409)

    def test_drafts_are_not_embeddable(self):
        draft = make_petition(slug="draft-one", status=Petition.Status.DRAFT)
        self.client.force_login(self.organiser)
        self.assertEqual(self.client.get(f"/embed/{draft.slug}/").status_code, 404)


class SignTests(EmbedTestCase):
    def test_the_frames_form_signs_without_any_cookie_and_attributes_the_partner(self):
        response = self.frame_sign(source="homepage", opt_in="on", partner_opt_in=["we-own-it"])
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response["Location"], f"/embed/{self.petition.slug}/signed?partner=we-own-it")
        self.assertNotIn("Set-Cookie", response)
        signature = Signature.objects.get()
        self.assertEqual((signature.partner, signature.source), (self.partner, "homepage"))
        signed = self.client.get(response["Location"])
        self.assertContains(signed, "Check your email")
        self.assertEqual(
            signed["Content-Security-Policy"], "frame-ancestors 'self' https://weownit.org.uk https://www.weownit.org.uk"
        )
        path = SIGNATURE_CONFIRM_LINK.search(mail.outbox[0].body).group(1)
        with self.captureOnCommitCallbacks(execute=True):
            Client().post(path)
        self.assertEqual(
            sorted(Consent.objects.values_list("organisation__slug", "source")),
            [
                ("health-campaigns-together", "petition:scrap-the-icp-contract:homepage partner:we-own-it via:embed"),
                ("we-own-it", "petition:scrap-the-icp-contract:homepage partner:we-own-it via:embed"),
            ],
        )
        self.assertContains(self.client.get(self.page_url, {"partner": "we-own-it"}), "data-count>1</span>")

    def test_a_post_from_any_other_origin_is_refused(self):
        for origin in ("https://weownit.org.uk", "https://evil.example", "null", None):
            with self.subTest(origin=origin):
                self.assertEqual(self.frame_sign(origin=origin).status_code, 403)
        self.assertFalse(Signature.objects.exists())

    def test_errors_show_in_the_frame_and_keep_what_was_typed(self):
        response = self.frame_sign(email="not-an-address", first_name="Ada")
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Enter an email address like name@example.com.", status_code=400)
        self.assertContains(response, 'value="Ada"', status_code=400)
        self.assertIn("frame-ancestors", response["Content-Security-Policy"])
        self.assertFalse(Signature.objects.exists())

    def test_an_unknown_partner_in_the_form_is_refused(self):
        self.assertEqual(self.frame_sign(partner="nobody").status_code, 403)

    def test_the_honeypot_holds_and_answers_the_same(self):
        response = self.frame_sign(website="http://spam.example")
        self.assertEqual(response.status_code, 303)
        self.assertEqual(Signature.objects.get().status, Signature.Status.HELD)


class SnippetTests(EmbedTestCase):
    def test_the_snippet_is_a_plain_link_and_the_script(self):
        snippet = embed_snippet(petition=self.petition, partner=self.partner)
        self.assertEqual(
            snippet,
            f'<a href="{SITE}/p/scrap-the-icp-contract/?partner=we-own-it" data-muster-embed>'
            "Sign the petition: Scrap the ICP contract</a>\n"
            f'<script src="{SITE}/embed/scrap-the-icp-contract.js" data-partner="we-own-it" async></script>',
        )
        self.assertNotIn("data-partner", embed_snippet(petition=self.petition))

    def test_the_title_is_escaped(self):
        self.petition.title = '</a><script>alert("x")</script>'
        self.assertNotIn("<script>alert", embed_snippet(petition=self.petition))

    def test_the_admin_shows_the_code_for_each_petition_and_partner(self):
        self.client.force_login(self.organiser)
        page = self.client.get(f"/admin/petitions/petition/{self.petition.pk}/change/")
        self.assertContains(page, "Get embed code")
        self.assertContains(page, "data-partner=&quot;we-own-it&quot;")
        self.assertContains(page, "data-partner=&quot;keep-our-nhs-public&quot;")
        cosponsorship = self.petition.cosponsorships.get(organisation=self.partner)
        detail = self.client.get(f"/admin/petitions/cosponsorship/{cosponsorship.pk}/change/")
        self.assertContains(detail, "embed/scrap-the-icp-contract.js&quot; data-partner=&quot;we-own-it&quot;")
        listing = self.client.get(f"/admin/petitions/cosponsorship/?organisation__id__exact={self.partner.pk}")
        self.assertContains(listing, "data-partner=&quot;we-own-it&quot;")
        self.assertNotContains(listing, "data-partner=&quot;keep-our-nhs-public&quot;")
