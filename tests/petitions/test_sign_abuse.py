"""Over a rate limit or caught by the honeypot, a signature is held: stored, answered exactly as
any other, sent nothing and not counted, until an organiser releases or invalidates it."""

import hashlib

from django.core import mail
from django.test import override_settings

from engage.models import Consent, Supporter
from petitions.models import Petition, Signature
from petitions.services.counts import counts_reconcile
from petitions.services.signing import confirm_url, ip_hash, signatures_invalidate, signatures_release
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition, sign_data
from tests.support.web import SIGNATURE_CONFIRM_LINK, frozen_ratelimit_clock

IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"


class AbuseTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.enterContext(frozen_ratelimit_clock())

    def sign(self, petition=None, *, ip=IP, **fields):
        return super().sign(petition, ip=ip, **fields)

    def signature(self, email):
        return Signature.objects.get(supporter__email=email)

    def api_count(self, petition=None):
        petition = petition or self.petition
        return self.client.get(f"/api/petitions/{petition.slug}").json()["signature_count"]

    def confirm(self, email):
        message = next(m for m in mail.outbox if m.to == [email] and "confirm" in m.subject.lower())
        return self.post(SIGNATURE_CONFIRM_LINK.search(message.body).group(1))

    def assertSameResponse(self, normal, other):
        self.assertEqual(normal.status_code, 303)
        self.assertEqual(other.status_code, normal.status_code)
        self.assertEqual(other["Location"], normal["Location"])
        self.assertEqual(other.content, normal.content)

    def assertHeld(self, email, reason):
        signature = self.signature(email)
        self.assertEqual(signature.status, Signature.Status.HELD)
        self.assertEqual(signature.hold_reason, reason)
        self.assertEqual(signature.confirmation_sent_at, None)
        self.assertFalse([m for m in mail.outbox if m.to == [email]])
        return signature


class RateLimitTests(AbuseTestCase):
    @override_settings(SIGN_RATE_PER_IP_PETITION=["1/60s"])
    def test_the_second_signature_from_one_ip_on_one_petition_is_held(self):
        normal = self.sign(email="first@example.org")
        held = self.sign(email="second@example.org")

        self.assertSameResponse(normal, held)
        first = self.signature("first@example.org")
        self.assertEqual(first.status, Signature.Status.PENDING)
        self.assertEqual(first.hold_reason, "")
        self.assertHeld("second@example.org", Signature.HoldReason.RATE_LIMIT)
        self.assertEqual([m.to for m in mail.outbox], [["first@example.org"]])

    @override_settings(SIGN_RATE_PER_IP_PETITION=["1/60s"])
    def test_a_held_signature_is_not_counted_even_after_reconciliation(self):
        self.sign(email="first@example.org")
        self.sign(email="second@example.org")
        self.assertEqual(self.confirm("first@example.org").status_code, 303)
        self.assertEqual(self.api_count(), 1)

        # Its confirm link (were it ever to leak) does not count it either.
        token = confirm_url(self.signature("second@example.org")).removeprefix("https://muster.test")
        self.assertEqual(self.post(token).status_code, 400)

        counts_reconcile()
        self.assertEqual(self.api_count(), 1)
        self.petition.refresh_from_db()
        self.assertEqual(self.petition.signature_count, 1)
        self.assertEqual(self.signature("second@example.org").status, Signature.Status.HELD)

    @override_settings(SIGN_RATE_PER_IP_PETITION=["1/60s"])
    def test_the_ip_limit_is_per_petition_and_per_address(self):
        other_petition = make_petition(slug="fund-our-nhs", title="Fund our NHS")
        self.sign(email="first@example.org")
        self.sign(email="second@example.org", petition=other_petition)
        self.sign(email="third@example.org", ip=OTHER_IP)
        self.assertEqual(
            set(Signature.objects.values_list("status", flat=True)), {Signature.Status.PENDING}
        )
        self.assertEqual(len(mail.outbox), 3)

    @override_settings(SIGN_RATE_PER_IP_PETITION=["1/60s"], CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR")
    def test_behind_a_proxy_the_address_the_proxy_appended_is_limited(self):
        with self.captureOnCommitCallbacks(execute=True):
            normal = self.client.post(
                f"/p/{self.petition.slug}/sign",
                sign_data(email="first@example.org"),
                REMOTE_ADDR="10.0.0.1",
                HTTP_X_FORWARDED_FOR=f"192.0.2.1, {IP}",
            )
            # A client cannot dodge the limit by making up the first address.
            held = self.client.post(
                f"/p/{self.petition.slug}/sign",
                sign_data(email="second@example.org"),
                REMOTE_ADDR="10.0.0.1",
                HTTP_X_FORWARDED_FOR=f"192.0.2.2, {IP}",
            )
        self.assertSameResponse(normal, held)
        self.assertHeld("second@example.org", Signature.HoldReason.RATE_LIMIT)
        self.assertEqual(self.signature("first@example.org").ip_hash, ip_hash(IP))

    @override_settings(SIGN_RATE_PER_PETITION="1/60s")
    def test_the_second_signature_on_a_petition_over_its_own_limit_is_held(self):
        normal = self.sign(email="first@example.org", ip=IP)
        held = self.sign(email="second@example.org", ip=OTHER_IP)

        self.assertSameResponse(normal, held)
        self.assertEqual(self.signature("first@example.org").status, Signature.Status.PENDING)
        self.assertHeld("second@example.org", Signature.HoldReason.RATE_LIMIT)
        self.assertEqual([m.to for m in mail.outbox], [["first@example.org"]])

        self.confirm("first@example.org")
        counts_reconcile()
        self.assertEqual(self.api_count(), 1)

    @override_settings(SIGN_RATE_PER_PETITION="1/60s")
    def test_the_petition_limit_does_not_hold_signatures_on_other_petitions(self):
        other_petition = make_petition(slug="fund-our-nhs", title="Fund our NHS")
        self.sign(email="first@example.org", ip=IP)
        self.sign(email="second@example.org", ip=OTHER_IP, petition=other_petition)
        self.assertEqual(self.signature("second@example.org").status, Signature.Status.PENDING)


class HoneypotTests(AbuseTestCase):
    def test_a_filled_honeypot_holds_the_signature_with_the_same_response(self):
        normal = self.sign(email="person@example.org")
        held = self.sign(email="bot@example.org", website="https://cheap-pills.example")

        self.assertSameResponse(normal, held)
        self.assertEqual(self.signature("person@example.org").status, Signature.Status.PENDING)
        self.assertHeld("bot@example.org", Signature.HoldReason.HONEYPOT)
        self.assertEqual([m.to for m in mail.outbox], [["person@example.org"]])

        counts_reconcile()
        self.assertEqual(self.api_count(), 0)

    def test_the_honeypot_is_in_the_form_but_hidden_from_people(self):
        page = self.client.get(self.petition.get_absolute_url())
        self.assertContains(page, 'name="website"')
        self.assertContains(page, 'class="honey" aria-hidden="true"')


class ReleaseAndInvalidateTests(AbuseTestCase):
    def hold(self, email, **overrides):
        self.sign(email=email, website="filled-by-a-bot", **overrides)
        return self.assertHeld(email, Signature.HoldReason.HONEYPOT)

    def test_releasing_makes_a_held_signature_pending_and_sends_its_confirmation(self):
        held = self.hold("held@example.org")
        with self.captureOnCommitCallbacks(execute=True):
            released = signatures_release(signature_ids=[held.pk])
        self.assertEqual(released, 1)
        held.refresh_from_db()
        self.assertEqual(held.status, Signature.Status.PENDING)
        self.assertIsNotNone(held.confirmation_sent_at)
        self.assertEqual(len(mail.outbox), 1)
        self.assertEqual(mail.outbox[0].to, ["held@example.org"])
        self.assertIn("confirm", mail.outbox[0].subject.lower())

        # Released, it confirms and counts like any other.
        self.assertEqual(self.confirm("held@example.org").status_code, 303)
        self.assertEqual(self.api_count(), 1)

    def test_releasing_leaves_signatures_that_are_not_held_alone(self):
        self.sign(email="pending@example.org")
        pending = self.signature("pending@example.org")
        outbox_before = len(mail.outbox)
        with self.captureOnCommitCallbacks(execute=True):
            released = signatures_release(signature_ids=[pending.pk])
        self.assertEqual(released, 0)
        self.assertEqual(len(mail.outbox), outbox_before)

    def test_invalidating_makes_signatures_invalid_and_uncounted(self):
        held = self.hold("held@example.org")
        self.sign(email="confirmed@example.org")
        self.confirm("confirmed@example.org")
        confirmed = self.signature("confirmed@example.org")
        self.assertEqual(self.api_count(), 1)

        invalidated = signatures_invalidate(signature_ids=[held.pk, confirmed.pk])
        self.assertEqual(invalidated, 2)
        for signature in (held, confirmed):
            signature.refresh_from_db()
            self.assertEqual(signature.status, Signature.Status.INVALID)
        counts_reconcile()
        self.assertEqual(self.api_count(), 0)
        self.assertEqual(len(mail.outbox), 1)  # only the confirmed one's own confirmation


class AdminReviewTests(AbuseTestCase):
    changelist = "/admin/petitions/signature/"

    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)
        self.sign(email="held-one@example.org", website="bot")
        self.sign(email="held-two@example.org", website="bot")
        self.sign(email="confirmed@example.org")
        self.confirm("confirmed@example.org")
        mail.outbox.clear()

    def act(self, action, emails):
        ids = [self.signature(email).pk for email in emails]
        return self.post(self.changelist, {"action": action, "_selected_action": ids}, follow=True)

    def test_the_release_action_releases_the_selected_held_signatures(self):
        response = self.act("release", ["held-one@example.org", "confirmed@example.org"])
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "1 held signature released.")
        self.assertEqual(self.signature("held-one@example.org").status, Signature.Status.PENDING)
        self.assertEqual(self.signature("held-two@example.org").status, Signature.Status.HELD)
        self.assertEqual(self.signature("confirmed@example.org").status, Signature.Status.CONFIRMED)
        self.assertEqual([m.to for m in mail.outbox], [["held-one@example.org"]])

    def test_the_invalidate_action_invalidates_the_selected_signatures(self):
        response = self.act("invalidate", ["held-two@example.org", "confirmed@example.org"])
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "2 signatures invalidated.")
        self.assertEqual(self.signature("held-one@example.org").status, Signature.Status.HELD)
        self.assertEqual(self.signature("held-two@example.org").status, Signature.Status.INVALID)
        self.assertEqual(self.signature("confirmed@example.org").status, Signature.Status.INVALID)
        self.assertEqual(mail.outbox, [])
        counts_reconcile()
        self.assertEqual(self.api_count(), 0)

    def test_the_actions_need_an_organiser(self):
        self.client.logout()
        response = self.act("release", ["held-one@example.org"])
        self.assertEqual(self.signature("held-one@example.org").status, Signature.Status.HELD)
        self.assertEqual(response.redirect_chain[0][0].split("?")[0], "/admin/login/")


class IpHashTests(AbuseTestCase):
    def test_the_ip_address_is_stored_only_as_a_keyed_hash(self):
        self.sign(email="one@example.org", ip=IP, opt_in="on")
        self.sign(email="two@example.org", ip=IP)
        self.sign(email="three@example.org", ip=OTHER_IP)
        one, two, three = (self.signature(f"{n}@example.org") for n in ("one", "two", "three"))

        for signature in (one, two, three):
            values = [str(getattr(signature, field.attname)) for field in Signature._meta.concrete_fields]
            self.assertFalse([value for value in values if IP in value or OTHER_IP in value])
        for model in (Supporter, Consent):
            for row in model.objects.values():
                self.assertFalse([v for v in row.values() if isinstance(v, str) and (IP in v or OTHER_IP in v)])

        self.assertTrue(one.ip_hash)
        self.assertEqual(one.ip_hash, two.ip_hash)
        self.assertNotEqual(one.ip_hash, three.ip_hash)
        # Not a plain hash anyone could recompute from an address list.
        self.assertNotIn(one.ip_hash, hashlib.sha256(IP.encode()).hexdigest())
        self.assertNotIn(one.ip_hash, hashlib.md5(IP.encode()).hexdigest())

    def test_the_hash_depends_on_the_key(self):
        self.sign(email="one@example.org", ip=IP)
        with override_settings(IP_HASH_KEY="another-key"):
            self.sign(email="two@example.org", ip=IP)
        self.assertNotEqual(self.signature("one@example.org").ip_hash, self.signature("two@example.org").ip_hash)


class HeldPetitionStateTests(AbuseTestCase):
    def test_a_closed_petition_refuses_even_a_bot(self):
        Petition.objects.filter(pk=self.petition.pk).update(status=Petition.Status.CLOSED)
        response = self.sign(email="bot@example.org", website="bot")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(Signature.objects.count(), 0)
