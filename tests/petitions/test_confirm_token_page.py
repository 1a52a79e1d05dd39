"""A petition's confirmation link that no longer works: engage's token page with the petition's
own advice and way on (petitions/token_error.html extends engage/token_error.html)."""

from django.http import HttpResponse
from django.test import RequestFactory, TestCase

from engage.token_pages import token_error, token_errors
from engage.tokens import TokenExpired

PAGE = "petitions/token_error.html"


class ConfirmTokenPageTests(TestCase):
    def setUp(self):
        self.request = RequestFactory().get("/confirm/anything/")

    def test_it_tells_the_signer_to_sign_again_and_links_to_the_petitions(self):
        for expired, status, heading in ((True, 410, "This link has expired"), (False, 400, "This link doesn't work")):
            with self.subTest(expired=expired):
                response = token_error(self.request, expired=expired, what="signature", template=PAGE)
                self.assertContains(response, heading, status_code=status)
                self.assertContains(response, "sign the petition again", status_code=status)
                self.assertContains(response, 'href="/"', status_code=status)
                self.assertContains(response, "See the petitions", status_code=status)
                self.assertNotContains(response, "Get a new link to your preferences", status_code=status)
                self.assertEqual(response["X-Robots-Tag"], "noindex")

    def test_the_decorator_takes_the_petitions_page(self):
        def view(request, token):
            raise TokenExpired

        response = token_errors("signature", template=PAGE)(view)(self.request, token="t")
        self.assertContains(response, "sign the petition again", status_code=410)

    def test_a_good_token_reaches_the_view(self):
        response = token_errors("signature", template=PAGE)(lambda request, token: HttpResponse("ok"))(self.request, token="t")
        self.assertEqual(response.content, b"ok")
