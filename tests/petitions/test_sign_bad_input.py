"""The sign POST refuses bad input with a 4xx, keeps what was typed, shows the error beside
its field, and writes nothing."""

import re
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.test.client import MULTIPART_CONTENT, encode_multipart
from django.utils.html import escape

from engage.models import Consent, Supporter
from engage.normalise import normalise_postcode
from petitions.forms import SignatureForm
from petitions.models import Petition, Signature
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition, sign_data

BOUNDARY = "muster-test-boundary"
ONE_MB = 1024 * 1024


class SignTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.url = f"/p/{self.petition.slug}/sign"

    def field_block(self, response, name):
        """The HTML of one field: its label, its errors and its input."""
        html = response.content.decode()
        match = re.search(rf'<div class="field[^"]*">\s*<label for="id_{name}">.*?</div>', html, re.S)
        self.assertIsNotNone(match, f"no field {name} in the page")
        return match.group(0)

    def assertNothingWritten(self):
        self.assertEqual(Supporter.objects.count(), 0)
        self.assertEqual(Signature.objects.count(), 0)
        self.assertEqual(Consent.objects.count(), 0)

    def assertRefused(self, response, status=400):
        self.assertEqual(response.status_code, status)
        self.assertNothingWritten()

    def assertFieldError(self, response, name, message, value=None):
        """A 400, nothing written, the message beside the field and the typed value kept."""
        self.assertRefused(response)
        block = self.field_block(response, name)
        self.assertIn("field-error", block)
        self.assertIn(escape(message), block)
        # The summary at the top links to the field too.
        self.assertContains(response, f'<a href="#id_{name}">{escape(message)}</a>', status_code=400, html=False)
        if value is not None:
            self.assertIn(f'value="{escape(value)}"', block)


class MissingFieldTests(SignTestCase):
    def without(self, name):
        data = sign_data(opt_in="on", email="kept@example.org", first_name="Kept", last_name="Value")
        del data[name]
        return self.post(self.url, data)

    def test_it_asks_for_a_missing_first_name_and_keeps_the_rest(self):
        response = self.without("first_name")
        self.assertFieldError(response, "first_name", "Enter your first name.")
        self.assertIn('value="kept@example.org"', self.field_block(response, "email"))
        self.assertIn('value="Value"', self.field_block(response, "last_name"))

    def test_it_asks_for_a_missing_last_name(self):
        response = self.without("last_name")
        self.assertFieldError(response, "last_name", "Enter your last name.")
        self.assertIn('value="Kept"', self.field_block(response, "first_name"))

    def test_it_asks_for_a_missing_email(self):
        response = self.without("email")
        self.assertFieldError(response, "email", "Enter your email address.")
        self.assertIn('value="Kept"', self.field_block(response, "first_name"))

    def test_it_asks_for_a_missing_country(self):
        response = self.without("country")
        self.assertFieldError(response, "country", "This field is required.")
        self.assertIn('value="kept@example.org"', self.field_block(response, "email"))

    def test_it_asks_for_a_missing_postcode_in_the_uk(self):
        response = self.without("postcode")
        self.assertFieldError(response, "postcode", "Enter your postcode.")
        self.assertIn('value="kept@example.org"', self.field_block(response, "email"))

    def test_it_treats_a_name_of_only_spaces_as_missing(self):
        response = self.post(self.url, sign_data(first_name="   ", opt_in="on"))
        self.assertFieldError(response, "first_name", "Enter your first name.")

    def test_it_refuses_an_empty_post(self):
        response = self.post(self.url, {})
        self.assertRefused(response)
        for name, message in [
            ("first_name", "Enter your first name."),
            ("last_name", "Enter your last name."),
            ("email", "Enter your email address."),
            ("country", "This field is required."),
        ]:
            self.assertIn(escape(message), self.field_block(response, name))


class OverlongFieldTests(SignTestCase):
    def test_it_refuses_a_101_character_first_name(self):
        name = "A" * 101
        response = self.post(self.url, sign_data(first_name=name, opt_in="on"))
        self.assertFieldError(
            response, "first_name", "Ensure this value has at most 100 characters (it has 101).", value=name
        )

    def test_it_refuses_a_101_character_last_name(self):
        name = "B" * 101
        response = self.post(self.url, sign_data(last_name=name, opt_in="on"))
        self.assertFieldError(
            response, "last_name", "Ensure this value has at most 100 characters (it has 101).", value=name
        )

    def test_it_refuses_a_300_character_email(self):
        email = "a" * 288 + "@example.org"
        self.assertEqual(len(email), 300)
        response = self.post(self.url, sign_data(email=email, opt_in="on"))
        self.assertFieldError(
            response, "email", "This address is too long: an email address can have at most 254 characters.", value=email
        )

    def test_it_refuses_an_overlong_postcode(self):
        postcode = "12345" * 4
        response = self.post(self.url, sign_data(country="FR", postcode=postcode, opt_in="on"))
        self.assertFieldError(
            response, "postcode", "Ensure this value has at most 16 characters (it has 20).", value=postcode
        )


class ControlCharacterTests(SignTestCase):
    CONTROL = "Remove the invisible control characters."
    NULL = "Null characters are not allowed."

    def test_it_refuses_control_characters_in_names(self):
        for field, value in [
            ("first_name", "Ada\x07Bell"),
            ("first_name", "Ada\nLovelace"),
            ("last_name", "Love\x1blace"),
            ("last_name", "Love\u202elace"),  # a right-to-left override
        ]:
            with self.subTest(field=field, value=value):
                response = self.post(self.url, sign_data(**{field: value}, opt_in="on"))
                self.assertFieldError(response, field, self.CONTROL, value=value)

    def test_it_refuses_nul_bytes_in_names(self):
        for field in ("first_name", "last_name"):
            with self.subTest(field=field):
                response = self.post(self.url, sign_data(**{field: "Ada\x00Lovelace"}, opt_in="on"))
                self.assertRefused(response)
                block = self.field_block(response, field)
                self.assertIn(self.NULL, block)
                self.assertIn('value="Ada\x00Lovelace"', block)

    def test_it_refuses_control_characters_and_nul_bytes_in_the_postcode(self):
        for value, message in [("S70\x072AB", self.CONTROL), ("S70\x002AB", self.NULL)]:
            for country in ("GB", "FR"):
                with self.subTest(value=value, country=country):
                    response = self.post(self.url, sign_data(postcode=value, country=country, opt_in="on"))
                    self.assertRefused(response)
                    block = self.field_block(response, "postcode")
                    self.assertIn(message, block)
                    self.assertIn(f'value="{value}"', block)

    def test_it_refuses_control_characters_and_nul_bytes_in_the_email(self):
        for value in [
            "ada\x00@example.org",
            "ada@exam\x00ple.org",
            "ad\x07a@example.org",
            # A quoted local part is a valid address shape that may hold control characters.
            '"ad\x07a"@example.org',
            '"ada\x01"@example.org',
        ]:
            with self.subTest(value=value):
                response = self.post(self.url, sign_data(email=value, opt_in="on"))
                self.assertRefused(response)
                block = self.field_block(response, "email")
                self.assertIn("field-error", block)
                self.assertIn(f'value="{escape(value)}"', block)


class InvalidValueTests(SignTestCase):
    def test_it_refuses_an_invalid_email(self):
        for value in ["not-an-email", "ada@", "@example.org", "ada at example.org", "ada@example..org"]:
            with self.subTest(value=value):
                response = self.post(self.url, sign_data(email=value, opt_in="on"))
                self.assertFieldError(
                    response, "email", "Enter an email address like name@example.com.", value=value
                )

    def test_it_refuses_an_invalid_uk_postcode(self):
        for value in ["12345", "S70", "QQ1 1AA", "S70 2AB X", "SW1A1A"]:
            with self.subTest(value=value):
                response = self.post(self.url, sign_data(postcode=value, country="GB", opt_in="on"))
                self.assertFieldError(response, "postcode", "Enter a valid UK postcode, like SW1A 1AA.", value=value)

    def test_it_refuses_an_unknown_country(self):
        response = self.post(self.url, sign_data(country="XX", opt_in="on"))
        self.assertRefused(response)
        self.assertIn("Select a valid choice.", self.field_block(response, "country"))

    def test_it_refuses_names_containing_a_web_address(self):
        message = "A name can't contain a web address."
        for field, value in [
            ("first_name", "Visit http://spam.example"),
            ("first_name", "www.spam.com"),
            ("last_name", "https://spam.example/buy"),
            ("last_name", "Cheap pills spam.ru"),
        ]:
            with self.subTest(field=field, value=value):
                response = self.post(self.url, sign_data(**{field: value}, opt_in="on"))
                self.assertFieldError(response, field, message, value=value)

    def test_it_refuses_names_starting_like_a_spreadsheet_formula(self):
        message = "A name can't start with = + - or @."
        for field, value in [
            ("first_name", '=HYPERLINK("x")'),
            ("last_name", "=1+1"),
            ("first_name", "+44"),
            ("last_name", "@SUM(A1)"),
            ("first_name", " =cmd"),  # a leading space is trimmed first, then refused
        ]:
            with self.subTest(field=field, value=value):
                response = self.post(self.url, sign_data(**{field: value}, opt_in="on"))
                self.assertFieldError(response, field, message)
                self.assertIn(escape(value.strip()), self.field_block(response, field))

    def test_ordinary_names_with_hyphens_apostrophes_and_accents_are_accepted(self):
        response = self.post(self.url, sign_data(first_name="Zoë-Anne", last_name="O'Brien-Ngũgĩ"))
        self.assertEqual(response.status_code, 303)
        self.assertEqual(Supporter.objects.get().last_name, "O'Brien-Ngũgĩ")


class PostcodeTests(SignTestCase):
    def test_a_postcode_is_optional_outside_the_uk(self):
        response = self.post(self.url, sign_data(country="FR", postcode=""))
        self.assertEqual(response.status_code, 303)
        supporter = Supporter.objects.get()
        self.assertEqual(supporter.country, "FR")
        self.assertEqual(supporter.postcode, "")

    def test_a_postcode_outside_the_uk_is_stored_trimmed_and_upper_case(self):
        response = self.post(self.url, sign_data(country="FR", postcode="  75001 paris  "))
        self.assertEqual(response.status_code, 303)
        self.assertEqual(Supporter.objects.get().postcode, "75001 PARIS")

    def test_a_uk_postcode_is_stored_normalised(self):
        for email, typed, stored in [
            ("one@example.org", "s702ab", "S70 2AB"),
            ("two@example.org", " sw1a  1aa ", "SW1A 1AA"),
            ("three@example.org", "bfpo1234", "BFPO 1234"),
        ]:
            with self.subTest(typed=typed):
                response = self.post(self.url, sign_data(email=email, postcode=typed))
                self.assertEqual(response.status_code, 303)
                self.assertEqual(Supporter.objects.get(email=email).postcode, stored)

    def test_the_normaliser_spaces_and_upper_cases_uk_postcodes(self):
        self.assertEqual(normalise_postcode("s702ab", "GB"), "S70 2AB")
        self.assertEqual(normalise_postcode(" sw1a  1aa ", "GB"), "SW1A 1AA")
        self.assertEqual(normalise_postcode("S70 2AB", "GB"), "S70 2AB")
        self.assertEqual(normalise_postcode(" 75001 ", "FR"), "75001")
        self.assertEqual(normalise_postcode("", "FR"), "")
        with self.assertRaises(ValidationError):
            normalise_postcode("", "GB")
        with self.assertRaises(ValidationError):
            normalise_postcode("12345", "GB")

    def test_the_form_normalises_the_postcode(self):
        for typed, stored in [("s702ab", "S70 2AB"), (" sw1a  1aa ", "SW1A 1AA")]:
            with self.subTest(typed=typed):
                form = SignatureForm(sign_data(postcode=typed))
                self.assertTrue(form.is_valid(), form.errors)
                self.assertEqual(form.cleaned_data["postcode"], stored)
        form = SignatureForm(sign_data(country="FR", postcode=" 75001 "))
        self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(form.cleaned_data["postcode"], "75001")


class OversizedBodyTests(SignTestCase):
    def test_a_1mb_urlencoded_body_is_refused(self):
        body = urlencode(sign_data(first_name="A" * ONE_MB, opt_in="on"))
        response = self.client.post(self.url, body, content_type="application/x-www-form-urlencoded")
        self.assertRefused(response)

    def test_a_1mb_multipart_field_is_refused(self):
        response = self.post(self.url, sign_data(last_name="B" * ONE_MB, opt_in="on"))
        self.assertRefused(response)

    def test_a_1mb_multipart_file_is_refused(self):
        # Django does not count files against DATA_UPLOAD_MAX_MEMORY_SIZE; the view must.
        data = sign_data(opt_in="on")
        body = encode_multipart(BOUNDARY, data).replace(
            f"--{BOUNDARY}--".encode(),
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachment"; filename="big.bin"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"x" * ONE_MB
            + f"\r\n--{BOUNDARY}--".encode(),
        )
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.generic(
                "POST", self.url, body, content_type=MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", BOUNDARY)
            )
        self.assertRefused(response)


class MethodAndPetitionTests(SignTestCase):
    def test_other_methods_than_post_are_not_allowed(self):
        for method in ("get", "put", "patch", "delete"):
            with self.subTest(method=method):
                response = getattr(self.client, method)(self.url)
                self.assertEqual(response.status_code, 405)
                self.assertEqual(response["Allow"], "POST")
        self.assertNothingWritten()

    def test_a_closed_petition_refuses_signatures_with_a_message(self):
        for status in (Petition.Status.CLOSED, Petition.Status.HANDED_IN):
            with self.subTest(status=status):
                Petition.objects.filter(pk=self.petition.pk).update(status=status)
                response = self.post(self.url, sign_data(opt_in="on"))
                self.assertRefused(response, status=409)
                self.assertContains(response, "It is no longer collecting signatures.", status_code=409)

    def test_an_unknown_petition_is_not_found(self):
        response = self.client.post("/p/no-such-petition/sign", sign_data(opt_in="on"))
        self.assertRefused(response, status=404)

    def test_a_draft_petition_is_not_found_by_the_public(self):
        draft = make_petition(slug="a-draft", status=Petition.Status.DRAFT)
        response = self.client.post(f"/p/{draft.slug}/sign", sign_data(opt_in="on"))
        self.assertRefused(response, status=404)


def test_names_may_hold_zero_width_joiners_but_not_bidi_overrides():
    from django.core.exceptions import ValidationError

    from engage.normalise import validate_person_name

    validate_person_name("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645")  # Persian with a ZWNJ
    with pytest.raises(ValidationError):
        validate_person_name("Ada\u202eecalevoL")
