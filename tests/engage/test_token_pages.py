"""The one page for a link whose token no longer works (engage.token_pages), for engage's links
(a petition's confirmation link extends it: tests/petitions/test_confirm_token_page.py)."""

from django.http import HttpResponse
from django.test import RequestFactory, TestCase

from engage.token_pages import token_error, token_errors
from engage.tokens import TokenExpired, TokenInvalid


def view_raising(error):
    def view(request, token):
        if error:
            raise error
        return HttpResponse(f"fine: {token}")

    return view


class TokenErrorPageTests(TestCase):
    def setUp(self):
        self.request = RequestFactory().get("/anything/")

    def test_it_answers_410_for_an_expired_link_and_400_for_an_invalid_one(self):
        for expired, status, heading in ((True, 410, "This link has expired"), (False, 400, "This link doesn't work")):
            with self.subTest(expired=expired):
                response = token_error(self.request, expired=expired, what="preferences")
                self.assertContains(response, heading, status_code=status)

    def test_it_is_never_cached_or_indexed(self):
        response = token_error(self.request, expired=True, what="confirm")
        self.assertIn("no-cache", response["Cache-Control"])
        self.assertEqual(response["X-Robots-Tag"], "noindex")

    def test_it_sends_an_engage_link_to_the_preferences_request_page(self):
        response = token_error(self.request, expired=False, what="unsubscribe")
        self.assertContains(response, 'href="/preferences/"', status_code=400)
        self.assertNotContains(response, "sign the petition again", status_code=400)

    def test_it_gives_advice_for_each_kind_of_expired_link(self):
        advice = {
            "export": "copy of your data",
            "confirm": "fill in the form again",
            "preferences": "Links to your preferences",
            "unsubscribe": "Links to your preferences",
        }
        for what, text in advice.items():
            with self.subTest(what=what):
                self.assertContains(token_error(self.request, expired=True, what=what), text, status_code=410)


class TokenErrorsDecoratorTests(TestCase):
    def setUp(self):
        self.request = RequestFactory().get("/anything/")

    def test_it_turns_an_expired_token_into_the_410_page(self):
        response = token_errors("export")(view_raising(TokenExpired))(self.request, token="t")
        self.assertContains(response, "This link has expired", status_code=410)
        self.assertContains(response, "copy of your data", status_code=410)

    def test_it_turns_an_invalid_token_into_the_400_page(self):
        response = token_errors("confirm")(view_raising(TokenInvalid))(self.request, token="t")
        self.assertEqual(response.status_code, 400)

    def test_it_leaves_a_good_token_to_the_view(self):
        response = token_errors("export")(view_raising(None))(self.request, token="t")
        self.assertEqual((response.status_code, response.content), (200, b"fine: t"))

    def test_it_lets_other_errors_through(self):
        with self.assertRaises(ValueError):
            token_errors("export")(view_raising(ValueError("boom")))(self.request, token="t")

    def test_it_refuses_an_unknown_kind_of_link(self):
        with self.assertRaises(ValueError):
            token_errors("nonsense")
