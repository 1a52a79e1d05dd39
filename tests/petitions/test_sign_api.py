"""POST /api/petitions/<slug>/signatures: signing from a partner's page with no cookie at all,
protected by the Origin check against the partner's registered origins, CORS for those origins
only, and field errors as JSON; bad input is a 4xx, never a 500."""

from django.core import mail
from django.test import Client, override_settings

from engage.models import Consent, Supporter
from petitions.models import Petition, Signature
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_cosponsorship, make_petition, sign_data
from tests.support.web import SIGNATURE_CONFIRM_LINK, frozen_ratelimit_clock

PARTNER_ORIGIN = "https://weownit.org.uk"


class SignApiTestCase(CosponsoredTestCase):
    partner_origins = f"{PARTNER_ORIGIN}\nhttps://www.weownit.org.uk/\n"

    def setUp(self):
        super().setUp()
        self.other = self.other_partner
        self.url = f"/api/petitions/{self.petition.slug}/signatures"
        # As a browser on a partner's page is: no session, no CSRF cookie, and checks enforced.
        self.client = Client(enforce_csrf_checks=True)

    def api_sign(self, payload=None, *, origin=PARTNER_ORIGIN, **extra):
        body = {**sign_data(), "partner": "we-own-it", "opt_in": False} if payload is None else payload
        return self.post_json(self.url, body, origin=origin, **extra)

    def payload(self, **overrides):
        return {**sign_data(), "partner": "we-own-it", "opt_in": False, **overrides}


class AcceptedTests(SignApiTestCase):
    def test_it_signs_with_201_and_lets_the_partners_origin_read_the_answer(self):
        response = self.api_sign(self.payload(source="homepage"))
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["status"], "received")
        self.assertEqual(response["Access-Control-Allow-Origin"], PARTNER_ORIGIN)
        self.assertIn("Origin", response["Vary"])
        self.assertNotIn("Set-Cookie", response)
        self.assertFalse(response.cookies)
        signature = Signature.objects.get()
        self.assertEqual(signature.partner, self.partner)
        self.assertEqual(signature.source, "homepage")
        self.assertEqual(signature.status, Signature.Status.PENDING)
        self.assertEqual(mail.outbox[0].to, ["ada@example.org"])

    def test_every_registered_origin_is_accepted(self):
        response = self.api_sign(self.payload(), origin="https://www.weownit.org.uk")
        self.assertEqual(response.status_code, 201)
        signature = Signature.objects.get()
        self.assertEqual((signature.partner, signature.status), (self.partner, Signature.Status.PENDING))

    def test_a_form_body_is_accepted_too(self):
        response = self.post(
            self.url, {**sign_data(), "partner": "we-own-it", "partner_opt_in": ["we-own-it"]}, HTTP_ORIGIN=PARTNER_ORIGIN
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(Signature.objects.get().opt_ins_pending[-1]["organisation_id"], self.partner.pk)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)

    def test_ticked_boxes_reach_the_ledger_on_confirmation_naming_petition_partner_and_channel(self):
        self.api_sign(self.payload(opt_in=True, partner_opt_in=["we-own-it", "keep-our-nhs-public"], source="nl"))
        path = SIGNATURE_CONFIRM_LINK.search(mail.outbox[0].body).group(1)
        with self.captureOnCommitCallbacks(execute=True):
            self.client.get(path)  # a GET changes nothing; and the confirm page is first-party
            Client().post(path)
        rows = dict(Consent.objects.values_list("organisation__slug", "source"))
        expected = "petition:scrap-the-icp-contract:nl partner:we-own-it via:api"
        self.assertEqual(
            rows, {"health-campaigns-together": expected, "we-own-it": expected, "keep-our-nhs-public": expected}
        )

    def test_signing_twice_gives_the_same_answer(self):
        first = self.api_sign(self.payload())
        second = self.api_sign(self.payload(first_name="Someone"))
        self.assertEqual((first.status_code, first.json()), (second.status_code, second.json()))
        self.assertEqual(Signature.objects.count(), 1)

    def test_without_a_partner_the_hosts_origins_apply(self):
        host = self.petition.organisation
        host.allowed_origins = "https://healthcampaignstogether.com"
        host.save()
        refused = self.api_sign({**sign_data()})
        self.assertEqual(refused.status_code, 403)
        self.assertFalse(Supporter.objects.exists())
        accepted = self.api_sign({**sign_data()}, origin="https://healthcampaignstogether.com")
        self.assertEqual(accepted.status_code, 201)
        self.assertIsNone(Signature.objects.get().partner)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)

    def test_the_honeypot_holds_and_answers_the_same(self):
        response = self.api_sign(self.payload(website="http://spam.example"))
        self.assertEqual(response.status_code, 201)
        self.assertEqual(Signature.objects.get().status, Signature.Status.HELD)
        self.assertEqual(mail.outbox, [])

    @override_settings(SIGN_RATE_PER_IP_PETITION=["2/60s"])
    @frozen_ratelimit_clock()
    def test_over_the_rate_limit_is_held_not_refused(self, _clock):
        statuses = [self.api_sign(self.payload(email=f"p{n}@example.org")).status_code for n in range(4)]
        self.assertEqual(statuses, [201, 201, 201, 201])
        held = Signature.objects.filter(status=Signature.Status.HELD, hold_reason=Signature.HoldReason.RATE_LIMIT)
        self.assertEqual(held.count(), 2)
        # Held or not, every 201 stored its signature.
        self.assertEqual(Signature.objects.filter(status=Signature.Status.PENDING).count(), 2)
        self.assertEqual(
            set(Signature.objects.values_list("supporter__email", flat=True)), {f"p{n}@example.org" for n in range(4)}
        )


class OriginTests(SignApiTestCase):
    def assert_refused(self, response, code):
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual(response.json()["error"], code)
        # Without CORS headers the browser does not let the page read the answer.
        self.assertNotIn("Access-Control-Allow-Origin", response)
        self.assertFalse(Signature.objects.exists())

    def test_a_disallowed_origin_is_refused(self):
        for origin in ("https://evil.example", "http://weownit.org.uk", "https://weownit.org.uk.evil.example", "null"):
            with self.subTest(origin=origin):
                self.assert_refused(self.api_sign(origin=origin), "origin_not_allowed")

    def test_another_partners_origin_cannot_sign_in_its_name(self):
        self.assert_refused(self.api_sign(origin="https://keepournhspublic.com"), "origin_not_allowed")

    def test_a_missing_origin_is_refused(self):
        self.assert_refused(self.api_sign(origin=None), "origin_not_allowed")

    def test_an_unknown_partner_is_refused(self):
        self.assert_refused(self.api_sign(self.payload(partner="nobody")), "unknown_partner")

    def test_a_switched_off_cosponsorship_is_refused(self):
        self.petition.cosponsorships.filter(organisation=self.partner).update(active=False)
        self.assert_refused(self.api_sign(), "unknown_partner")

    def test_this_sites_own_origin_is_accepted(self):
        self.assertEqual(self.api_sign(origin="https://muster.test").status_code, 201)
        signature = Signature.objects.get()
        self.assertEqual((signature.partner, signature.status), (self.partner, Signature.Status.PENDING))


class PreflightTests(SignApiTestCase):
    def preflight(self, origin):
        return self.client.options(
            self.url, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
        )

    def test_it_allows_a_cosponsors_origin(self):
        response = self.preflight(PARTNER_ORIGIN)
        self.assertEqual(response.status_code, 204)
        self.assertEqual(response["Access-Control-Allow-Origin"], PARTNER_ORIGIN)
        self.assertIn("POST", response["Access-Control-Allow-Methods"])
        self.assertIn("Content-Type", response["Access-Control-Allow-Headers"])
        self.assertNotIn("Access-Control-Allow-Credentials", response)

    def test_it_refuses_any_other_origin(self):
        for origin in ("https://evil.example", "null", ""):
            with self.subTest(origin=origin):
                response = self.preflight(origin)
                self.assertEqual(response.status_code, 403)
                self.assertNotIn("Access-Control-Allow-Origin", response)

    def test_a_switched_off_cosponsor_no_longer_passes(self):
        self.petition.cosponsorships.filter(organisation=self.partner).update(active=False)
        self.assertEqual(self.preflight(PARTNER_ORIGIN).status_code, 403)


class BadInputTests(SignApiTestCase):
    def test_missing_and_invalid_fields_get_400_with_field_errors(self):
        response = self.api_sign({"partner": "we-own-it", "email": "not-an-address", "country": "GB", "postcode": "nope"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response["Access-Control-Allow-Origin"], PARTNER_ORIGIN)
        body = response.json()
        self.assertEqual(body["error"], "invalid")
        self.assertEqual(set(body["fields"]), {"first_name", "last_name", "email", "postcode"})
        self.assertEqual(body["fields"]["first_name"], ["Enter your first name."])
        self.assertEqual(body["fields"]["postcode"], ["Enter a valid UK postcode, like SW1A 1AA."])
        self.assertFalse(Signature.objects.exists())

    def test_a_box_for_a_non_cosponsor_is_a_field_error(self):
        response = self.api_sign(self.payload(partner_opt_in=["nobody"]))
        self.assertEqual(response.status_code, 400)
        self.assertIn("partner_opt_in", response.json()["fields"])

    def test_wrong_json_types_are_field_errors(self):
        cases = {
            "first_name": 5, "email": ["a@example.org"], "opt_in": {"yes": 1}, "partner_opt_in": "we-own-it",
            "postcode": None,
        }  # fmt: skip
        for field, value in cases.items():
            with self.subTest(field=field):
                response = self.api_sign(self.payload(**{field: value}))
                self.assertEqual(response.status_code, 400)
                self.assertIn(field, response.json()["fields"])
        self.assertEqual(self.api_sign(self.payload(partner_opt_in=[1])).status_code, 400)

    def test_bodies_that_are_not_a_json_object_get_400(self):
        for body in (b"{", b"[]", b'"text"', b"null", b"\xff\xfe"):
            with self.subTest(body=body):
                response = self.client.post(self.url, body, content_type="application/json", HTTP_ORIGIN=PARTNER_ORIGIN)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()["error"], "invalid_json")

    def test_an_unsupported_or_missing_content_type_gets_400(self):
        for body, content_type in (("first_name=Ada", "text/plain"), ("", "")):
            with self.subTest(content_type=content_type):
                response = self.client.post(self.url, body, content_type=content_type, HTTP_ORIGIN=PARTNER_ORIGIN)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()["error"], "unsupported_media_type")

    def test_an_oversized_body_gets_400(self):
        response = self.api_sign(self.payload(first_name="A" * 70_000))
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["error"], "too_large")

    def test_unknown_petitions_drafts_and_closed_petitions(self):
        draft = make_petition(slug="draft-one", status=Petition.Status.DRAFT)
        closed = make_petition(slug="closed-one", status=Petition.Status.CLOSED)
        make_cosponsorship(petition=closed, organisation=self.partner)
        for slug, status in (("nope", 404), (draft.slug, 404), (closed.slug, 409)):
            with self.subTest(slug=slug):
                self.url = f"/api/petitions/{slug}/signatures"
                self.assertEqual(self.api_sign().status_code, status)

    def test_other_methods_are_refused(self):
        self.assertEqual(self.client.get(self.url).status_code, 405)
        self.assertEqual(self.client.put(self.url, "{}", content_type="application/json").status_code, 405)

    def test_odd_payloads_never_cause_a_500(self):
        odd = [
            {"partner": "we-own-it", "first_name": "\\x00", "last_name": "x" * 500, "email": "a@b", "country": "ZZ"},
            {"partner": "we-own-it", **sign_data(email="\\u202e@example.org")},
            {"partner": "we-own-it", **sign_data(country="")},
            {"partner": "we-own-it", **sign_data(), "partner_opt_in": ["we-own-it"] * 500},
            {"partner": "x" * 10_000, **sign_data()},
            {"partner": ["we-own-it"], **sign_data()},
            {**sign_data(), "partner": "we-own-it", "source": "=cmd|' /C calc'!A0"},
            {"partner": "we-own-it", "opt_in": "maybe", **sign_data(email="odd@example.org")},
        ]
        for n, payload in enumerate(odd):
            with self.subTest(n=n):
                before = (Supporter.objects.count(), Signature.objects.count(), Consent.objects.count())
                status = self.api_sign(payload).status_code
                self.assertLess(status, 500)
                if status == 201:  # stored, held or not, under the address given
                    email = str(payload.get("email", "")).strip().lower()
                    self.assertTrue(Signature.objects.filter(petition=self.petition, supporter__email=email).exists())
                else:  # refused: nothing written, not even in part
                    self.assertEqual((Supporter.objects.count(), Signature.objects.count(), Consent.objects.count()), before)
