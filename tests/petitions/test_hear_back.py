"""People who act must hear back: the page after signing (or subscribing, joining) names the
address the confirmation went to and sends it again on request, rate-limited, at most
CONFIRM_RESENDS_MAX times, answering alike whether or not the address has anything waiting."""

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail, signing
from django.test import override_settings

from engage.check_email import SALT
from petitions.models import Signature
from petitions.services.signing import signature_confirm
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition, make_signature, sign_data
from tests.support.web import SIGNATURE_CONFIRM_LINK, SIGNUP_CONFIRM_LINK, frozen_ratelimit_clock

SIGNED = "/p/scrap-the-icp-contract/signed"
RESEND = "/p/scrap-the-icp-contract/signed/resend"


def forged_token(email, *, what="signature", ref=None):
    """What the page would carry for `email`: made here as the server makes it, so a test can
    ask on behalf of an address it never signed with (as nobody outside can)."""
    return signing.dumps({"email": email, "what": what, "ref": ref}, salt=SALT, compress=True)


class ResendTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.enterContext(frozen_ratelimit_clock())

    def token_on_page(self, path):
        page = self.client.get(path)
        return page.context["resend_token"]

    def to(self, email="ada@example.org"):
        return [m for m in mail.outbox if m.to == [email]]


class PetitionResendTests(ResendTestCase):
    def test_it_names_the_address_and_sends_the_same_confirmation_again(self):
        self.sign(email=" Ada@Example.org")
        page = self.client.get(SIGNED)
        self.assertContains(page, "We sent it to <strong>ada@example.org</strong>", html=False)
        self.assertContains(page, "Send it again")
        self.assertIn("no-cache", page["Cache-Control"])
        response = self.post(RESEND, {"token": page.context["resend_token"]})
        self.assertEqual((response.status_code, response["Location"]), (303, f"{SIGNED}?resent=1"))
        first, again = self.to()
        self.assertEqual(SIGNATURE_CONFIRM_LINK.search(first.body).group(1), SIGNATURE_CONFIRM_LINK.search(again.body).group(1))
        self.assertContains(self.client.get(response["Location"]), "If a confirmation is waiting for that address")

    @override_settings(CONFIRM_RESEND_RATE_PER_ADDRESS="100/60s", CONFIRM_RESEND_RATE_PER_IP=["100/60s"])
    def test_it_sends_at_most_the_bounded_number_of_copies(self):
        self.sign()
        token = self.token_on_page(SIGNED)
        for _ in range(settings.CONFIRM_RESENDS_MAX + 2):
            self.assertEqual(self.post(RESEND, {"token": token}).status_code, 303)
        self.assertEqual(len(self.to()), 1 + settings.CONFIRM_RESENDS_MAX)

    def test_the_answer_is_the_same_whatever_the_address_has_waiting(self):
        self.sign(email="pending@example.org")
        confirmed = make_signature(petition=self.petition, email="confirmed@example.org", confirm=True)
        make_signature(petition=self.petition, email="held@example.org", hold_reason=Signature.HoldReason.RATE_LIMIT)
        mail.outbox.clear()
        answers = {}
        for email in ("pending@example.org", "confirmed@example.org", "held@example.org", "stranger@example.org"):
            response = self.post(RESEND, {"token": forged_token(email, ref=self.petition.pk)}, REMOTE_ADDR=f"192.0.2.{len(answers)}")
            answers[email] = (response.status_code, response["Location"])
        self.assertEqual(len(set(answers.values())), 1, answers)
        self.assertEqual([m.to for m in mail.outbox], [["pending@example.org"]])
        self.assertEqual(confirmed.status, Signature.Status.CONFIRMED)

    def test_a_tampered_or_foreign_button_is_refused_with_a_message(self):
        self.sign()
        token = self.token_on_page(SIGNED)
        other = make_petition(slug="save-our-buses", organisation=self.host)
        mail.outbox.clear()
        for path, data in (
            (RESEND, {"token": token[:-2] + "xx"}),
            (RESEND, {}),
            (RESEND, {"token": forged_token("ada@example.org", what="signup")}),
            (f"/p/{other.slug}/signed/resend", {"token": token}),
        ):
            with self.subTest(path=path, data=data):
                response = self.post(path, data)
                self.assertContains(response, "This button has expired", status_code=400)
        self.assertEqual(mail.outbox, [])

    def test_the_address_never_comes_from_the_query_string(self):
        page = self.client.get(SIGNED + "?email=victim@example.org&address=victim@example.org")
        self.assertNotContains(page, "victim@example.org")
        self.assertNotContains(page, "Send it again")

    @override_settings(CONFIRM_RESEND_RATE_PER_ADDRESS="2/3600s")
    def test_asking_too_often_for_one_address_is_refused_with_a_message(self):
        self.sign()
        token = self.token_on_page(SIGNED)
        self.post(RESEND, {"token": token})
        self.post(RESEND, {"token": token}, REMOTE_ADDR="192.0.2.9")
        response = self.post(RESEND, {"token": token}, REMOTE_ADDR="192.0.2.10")
        self.assertContains(response, "Please wait a few minutes", status_code=429)
        self.assertNotContains(response, "Send it again", status_code=429)  # no button that cannot work
        self.assertEqual(len(self.to()), 3)

    @override_settings(CONFIRM_RESEND_RATE_PER_IP=["2/600s"])
    def test_asking_too_often_from_one_ip_is_refused_whatever_the_address(self):
        for email in ("a@example.org", "b@example.org"):
            self.post(RESEND, {"token": forged_token(email, ref=self.petition.pk)})
        response = self.post(RESEND, {"token": forged_token("c@example.org", ref=self.petition.pk)})
        self.assertEqual(response.status_code, 429)

    def test_a_forged_cookie_names_nobody(self):
        self.client.cookies["muster_check_email"] = forged_token("victim@example.org", ref=self.petition.pk)[:-3] + "abc"
        self.assertNotContains(self.client.get(SIGNED), "victim@example.org")

    def test_signing_writes_no_session(self):
        self.sign()
        self.assertFalse(Session.objects.exists())

    def test_a_confirmed_signature_is_sent_nothing_more(self):
        self.sign()
        token = self.token_on_page(SIGNED)
        signature_confirm(signature=Signature.objects.get())
        mail.outbox.clear()
        self.post(RESEND, {"token": token})
        self.assertEqual(mail.outbox, [])


class SignupResendTests(ResendTestCase):
    def test_subscribing_names_the_address_and_sends_it_again(self):
        self.post("/subscribe/", sign_data(lists=[self.news.pk]))
        page = self.client.get("/check-your-email/?for=subscribe")
        self.assertContains(page, "We sent it to <strong>ada@example.org</strong>", html=False)
        response = self.post("/check-your-email/resend", {"token": page.context["resend_token"]})
        self.assertEqual((response.status_code, response["Location"]), (303, "/check-your-email/?resent=1"))
        first, again = self.to()
        self.assertEqual(SIGNUP_CONFIRM_LINK.search(first.body).group(1), SIGNUP_CONFIRM_LINK.search(again.body).group(1))

    def test_joining_names_the_address_too(self):
        self.post("/join/", sign_data(joining_as="individual", opt_in="on", lists=[self.news.pk]))
        self.assertContains(self.client.get("/check-your-email/?for=join"), "<strong>ada@example.org</strong>", html=False)

    def test_the_answer_is_the_same_for_an_address_with_nothing_waiting(self):
        self.post("/subscribe/", sign_data(lists=[self.news.pk]))
        mail.outbox.clear()
        known = self.post("/check-your-email/resend", {"token": forged_token("ada@example.org", what="signup")})
        unknown = self.post("/check-your-email/resend", {"token": forged_token("nobody@example.org", what="signup")})
        self.assertEqual((known.status_code, known["Location"]), (unknown.status_code, unknown["Location"]))
        self.assertEqual([m.to for m in mail.outbox], [["ada@example.org"]])

    def test_a_petitions_button_does_not_work_here(self):
        response = self.post("/check-your-email/resend", {"token": forged_token("ada@example.org", ref=self.petition.pk)})
        self.assertContains(response, "This button has expired", status_code=400)

    def test_the_preferences_page_names_no_address(self):
        self.post("/subscribe/", sign_data(lists=[self.news.pk]))
        self.assertNotContains(self.client.get("/check-your-email/?for=preferences"), "ada@example.org")
