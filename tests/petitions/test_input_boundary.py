"""Input that once answered 500 is a 4xx with a message or a stored row: each test is one class
of input the boundary checks (docs/design.md, "No 500, whatever arrives")."""

import base64
import json

from django.core.exceptions import ValidationError

from engage.links import preferences_url
from engage.models import Supporter
from engage.normalise import postcode_area
from engage.services.partner_keys import partner_api_key_create
from petitions.models import Signature
from tests.support.base import CosponsoredTestCase, MusterTestCase
from tests.support.factories import make_cosponsorship, make_signature, sign_data

LIST = "/api/partner/supporters"
CSV = "/api/partner/supporters.csv"


class PostcodeTests(MusterTestCase):
    def test_it_stores_a_long_non_uk_postcode_without_an_area(self):
        response = self.sign(country="FR", postcode="PARIS")
        self.assertEqual(response.status_code, 303, response.content[:500])
        signature = Signature.objects.get()
        self.assertEqual(signature.postcode_area, "")
        self.assertEqual(signature.supporter.postcode, "PARIS")

    def test_it_keeps_the_area_of_a_uk_postcode(self):
        self.assertEqual(postcode_area("S70 2AB", "GB"), "S")
        self.assertEqual(postcode_area("BFPO 123", "GB"), "BFPO")
        self.assertEqual(postcode_area("75001", "FR"), "")

    def test_it_checks_the_length_after_upper_casing(self):
        # 16 characters as typed, 32 once "ß" upper-cases to "SS": longer than the column.
        response = self.sign(country="DE", postcode="ß" * 16)
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Shorten this to 16 characters or fewer.", status_code=400)
        self.assertEqual(Supporter.objects.count(), 0)
        self.assertEqual(Signature.objects.count(), 0)


class QueryParameterTests(MusterTestCase):
    """Numbers and moments from query strings and choices: ASCII digits within bounds, any valid
    ISO 8601 offset, refused with a 400 before a response (or a stream) starts."""

    def setUp(self):
        super().setUp()
        self.cosponsor = make_cosponsorship(petition=self.petition, organisation=self.partner)
        _, self.key = partner_api_key_create(organisation=self.partner, name="CRM")
        make_signature(petition=self.petition, email="ada@example.org", opt_in=True, boxes=["we-own-it"], confirm=True)

    def get(self, url, **params):
        return self.client.get(url, params, HTTP_AUTHORIZATION=f"Bearer {self.key}")

    def test_it_refuses_limits_that_are_not_ascii_digits(self):
        for limit in ("²", "١٠", "10.0", "-1", "0", "501", "9" * 40):
            response = self.get(LIST, limit=limit)
            self.assertEqual(response.status_code, 400, limit)
            self.assertIn("limit", response.json()["fields"])
        self.assertEqual(self.get(LIST, limit="10").status_code, 200)

    def test_it_reads_since_with_any_valid_offset_as_the_same_moment(self):
        for since in ("2020-01-01T00:00:00+23:59", "2020-01-01T00:00:00-15:30", "2020-01-01", "2020-01-01T00:00Z"):
            response = self.get(LIST, since=since)
            self.assertEqual(response.status_code, 200, since)
            self.assertEqual([row["email"] for row in response.json()["results"]], ["ada@example.org"])
            csv_response = self.get(CSV, since=since)
            self.assertEqual(csv_response.status_code, 200, since)
            self.assertIn(b"ada@example.org", b"".join(csv_response.streaming_content))

    def test_it_refuses_a_bad_since_before_the_csv_starts(self):
        for since in ("2020-01-01T00:00:00+24:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00",
                      "2020-02-30", "２０２０-01-01", "2020-01-01T00:00:00+00:00:30"):
            for url in (LIST, CSV):
                response = self.get(url, since=since)
                self.assertEqual(response.status_code, 400, (url, since))
                self.assertFalse(response.streaming)
                self.assertIn("since", response.json()["fields"])

    def test_it_refuses_a_forged_cursor(self):
        for pk in ("²", "9" * 30):
            cursor = base64.urlsafe_b64encode(f"2020-01-01T00:00:00+00:00|{pk}".encode()).decode()
            self.assertEqual(self.get(LIST, cursor=cursor).status_code, 400, pk)

    def test_the_preference_choices_ignore_digits_int_refuses(self):
        supporter = Supporter.objects.get()
        path = preferences_url(supporter).removeprefix("https://muster.test") + "choices"
        response = self.client.post(path, {"lists": ["²", "١", "9" * 40, str(self.news.pk)], "organisations": ["³"]})
        self.assertEqual(response.status_code, 303)


class JsonBodyTests(MusterTestCase):
    """The signing API's body is read within limits before anything else: a 400 with a message,
    from any origin or none, and nothing stored."""

    def setUp(self):
        super().setUp()
        self.url = f"/api/petitions/{self.petition.slug}/signatures"

    def send(self, raw: str, origin=None):
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        return self.client.post(self.url, raw, content_type="application/json", **headers)

    def test_it_refuses_deep_huge_and_non_json_numbers_with_a_400(self):
        bodies = [
            "[" * 20_000 + "]" * 20_000,
            '{"first_name": ' + "[" * 30 + "]" * 30 + "}",
            '{"opt_in": ' + "9" * 5000 + "}",
            '{"opt_in": 1' + "0" * 400 + ".5}",
            '{"opt_in": NaN}',
            '{"opt_in": -Infinity}',
        ]
        for body in bodies:
            for origin in (None, "https://weownit.org.uk", "https://elsewhere.example"):
                response = self.send(body, origin)
                self.assertEqual(response.status_code, 400, (body[:40], origin))
                self.assertEqual(response.json()["error"], "invalid_json")
                self.assertTrue(response.json()["message"])
        self.assertEqual(Supporter.objects.count(), 0)

    def test_brackets_inside_strings_are_not_nesting(self):
        payload = json.dumps({**sign_data(first_name="[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[Ada"), "opt_in": False})
        response = self.send(payload, "https://weownit.org.uk")
        self.assertEqual(response.status_code, 403)  # past the parser: the host has no such origin
        self.assertEqual(response.json()["error"], "origin_not_allowed")


class TextTests(CosponsoredTestCase):
    """Every text field of a public form and of the API refuses what is not text, with a message."""

    def setUp(self):
        super().setUp()
        self.url = f"/api/petitions/{self.petition.slug}/signatures"

    def api_sign(self, **fields):
        body = json.dumps({**sign_data(), "partner": "we-own-it", "opt_in": False, **fields})
        return self.client.post(self.url, body, content_type="application/json", HTTP_ORIGIN="https://weownit.org.uk")

    def test_the_api_refuses_lone_surrogates_in_any_text_field(self):
        for name in ("first_name", "last_name", "email", "postcode", "source", "partner", "website", "country"):
            response = self.api_sign(**{name: "Ada\ud800"})
            self.assertEqual(response.status_code, 400, name)
            self.assertIn("not text", response.json()["fields"][name][0])
        response = self.api_sign(partner_opt_in=["\udfff"])
        self.assertEqual(response.status_code, 400)
        self.assertIn("partner_opt_in", response.json()["fields"])
        self.assertEqual(Supporter.objects.count(), 0)

    def test_the_forms_refuse_non_characters(self):
        for char in ("\ufffe", "\uffff", "\ufdd0", "\U0010ffff"):
            response = self.sign(first_name=f"Ada{char}")
            self.assertContains(response, "not text", status_code=400)
            response = self.client.post("/subscribe/", {**sign_data(last_name=f"L{char}"), "lists": [self.news.pk]})
            self.assertContains(response, "not text", status_code=400)
            response = self.client.post("/join/", {
                **sign_data(), "joining_as": "organisation", "organisation_name": f"Unison{char}",
                "organisation_kind": "trade_union_branch",
            })
            self.assertContains(response, "not text", status_code=400)
        self.assertEqual(Supporter.objects.count(), 0)

    def test_names_with_combining_marks_and_joiners_are_text(self):
        response = self.api_sign(first_name="Zoë\u0301", last_name="فرهاد\u200cی")
        self.assertEqual(response.status_code, 201, response.content)

    def test_multiline_fields_keep_newlines_and_refuse_other_controls(self):
        from engage.normalise import validate_multiline_text, validate_text

        validate_multiline_text("one\r\ntwo\tthree")
        for bad in ("one\x0btwo", "nul\x00", "\x7f"):
            with self.assertRaises(ValidationError):
                validate_multiline_text(bad)
        with self.assertRaises(ValidationError):
            validate_text("one\ntwo")


class NormalisedLengthTests(MusterTestCase):
    def test_an_address_that_grows_when_lower_cased_is_refused_not_stored_cut(self):
        # 250 characters as typed; lower-casing turns each İ into two (i and a combining dot).
        domain = ".".join(["İ" * 20] * 10) + ".org"
        email = "a" * (250 - len(domain) - 1) + "@" + domain
        self.assertLessEqual(len(email), 254)
        response = self.sign(email=email)
        self.assertEqual(response.status_code, 400)
        # Refused with a message on the address (its normalised domain is also not one email can
        # be sent to, which the normaliser says first), never stored cut short.
        self.assertContains(response, '<p class="error" id="id_email_error">', status_code=400)
        self.assertEqual(Supporter.objects.count(), 0)
