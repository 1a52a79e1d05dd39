"""The subscribe and join forms: scanner-safe double opt-in, the ledgers, bad input, abuse."""

import time
from datetime import timedelta
from unittest.mock import patch

from django.conf import settings
from django.core import mail
from django.test import override_settings

from engage import tasks
from engage.models import (
    Affiliate,
    Consent,
    Membership,
    Signup,
    Subscription,
    SubscriptionEvent,
    Supporter,
    Suppression,
)
from engage.services.signups import signups_release
from engage.services.subscriptions import unsubscribe
from engage.services.suppression import suppression_add
from engage.suppression import email_hash
from tests.support.base import MusterTestCase
from tests.support.factories import make_list, sign_data
from tests.support.web import SIGNUP_CONFIRM_LINK, frozen_ratelimit_clock, later, link_in_last_email


class SignupTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.paper = make_list(slug="quarterly-paper", name="Quarterly newspaper", consent_wording="Post me the quarterly newspaper's email edition.")
        self.hidden = make_list(slug="organisers", name="Organisers only", public=False)

    def subscribe(self, **overrides):
        data = sign_data(lists=[self.news.pk, self.paper.pk])
        data.update(overrides)
        return self.post("/subscribe/", data)

    def join(self, **overrides):
        data = sign_data(joining_as="individual", opt_in="on", lists=[self.news.pk])
        data.update(overrides)
        return self.post("/join/", data)


class SubscribeTests(SignupTestCase):
    def test_it_shows_public_lists_unticked_and_hides_hidden_ones(self):
        page = self.client.get("/subscribe/?source=leaflet")
        self.assertContains(page, "Email me Coalition news from Health Campaigns Together.")
        self.assertContains(page, "Post me the quarterly newspaper&#x27;s email edition.")
        self.assertNotContains(page, "Organisers only")
        self.assertNotContains(page, "checked")
        self.assertContains(page, 'value="leaflet"')

    def test_it_subscribes_only_after_the_emailed_link_is_confirmed_by_post(self):
        response = self.subscribe(source="leaflet")
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response["Location"], "/check-your-email/?for=subscribe")
        self.assertContains(self.client.get(response["Location"]), "Check your email")

        subscriptions = Subscription.objects.filter(supporter__email="ada@example.org")
        self.assertEqual({s.status for s in subscriptions}, {Subscription.Status.PENDING})
        self.assertFalse(Consent.objects.exists())
        self.assertFalse(SubscriptionEvent.objects.exists())
        self.assertEqual(len(mail.outbox), 1)
        self.assertIn("confirm your subscription", mail.outbox[0].subject)
        self.assertIn("Quarterly newspaper", mail.outbox[0].body)
        path = link_in_last_email(SIGNUP_CONFIRM_LINK)
        supporter = Supporter.objects.get()
        self.assertNotIn("ada", path)
        self.assertNotIn(f"/{supporter.pk}/", path)

        # A mail scanner opening the link changes nothing.
        for _ in range(2):
            page = self.client.get(path)
            self.assertContains(page, "Confirm your subscription")
        self.assertEqual({s.status for s in subscriptions.all()}, {Subscription.Status.PENDING})
        self.assertFalse(Consent.objects.exists())

        confirmed = self.post(path, {})
        self.assertEqual(confirmed.status_code, 303)
        self.assertEqual({s.status for s in subscriptions.all()}, {Subscription.Status.SUBSCRIBED})
        self.assertContains(self.client.get(path), "You're subscribed")

        # A subscription is consent to its list alone: its wording goes to the list's ledger,
        # and nothing is written as consent to the organisation's other mail.
        self.assertFalse(Consent.objects.exists())
        self.assertEqual(
            sorted(SubscriptionEvent.objects.values_list("mailing_list__slug", "status", "wording", "source")),
            [
                ("coalition-news", "subscribed", "Email me Coalition news from Health Campaigns Together. I can unsubscribe at any time.", "subscribe-form:leaflet"),
                ("quarterly-paper", "subscribed", "Post me the quarterly newspaper's email edition.", "subscribe-form:leaflet"),
            ],
        )

        # Confirming twice writes nothing more.
        self.post(path, {})
        self.assertEqual(Consent.objects.count(), 0)
        self.assertEqual(SubscriptionEvent.objects.count(), 2)

    def test_the_ledger_keeps_the_wording_shown_even_if_the_list_is_edited_before_confirming(self):
        self.subscribe(lists=[self.paper.pk])
        self.paper.consent_wording = "Something else entirely."
        self.paper.save()
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        self.assertEqual(SubscriptionEvent.objects.get().wording, "Post me the quarterly newspaper's email edition.")

    def test_it_refuses_bad_input_with_messages_and_stores_nothing(self):
        cases = [
            ({"email": ""}, "Enter your email address."),
            ({"email": "not-an-address"}, "Enter an email address like name@example.com."),
            ({"lists": []}, "Choose at least one list."),
            ({"lists": [self.hidden.pk]}, "Choose from the lists shown."),
            ({"lists": ["nonsense"]}, "Choose from the lists shown."),
            ({"first_name": "=HYPERLINK(1)"}, "A name can"),
            ({"first_name": "Visit www.spam.com"}, "web address"),
            ({"country": "XX"}, "Select a valid choice"),
            ({"postcode": "NOT A POSTCODE"}, "Enter a valid UK postcode"),
            ({"email": '"a\x07b"@example.org'}, "invisible control characters"),
        ]
        for overrides, message in cases:
            with self.subTest(overrides=overrides):
                response = self.subscribe(**overrides)
                self.assertEqual(response.status_code, 400)
                self.assertContains(response, message, status_code=400)
        self.assertFalse(Supporter.objects.exists())
        self.assertFalse(Signup.objects.exists())
        self.assertEqual(mail.outbox, [])

    def test_a_postcode_is_optional_but_normalised(self):
        self.subscribe(email="bea@example.org", postcode="")
        self.subscribe(email="cy@example.org", postcode="sw1a1aa")
        self.assertEqual(dict(Supporter.objects.values_list("email", "postcode")), {"bea@example.org": "", "cy@example.org": "SW1A 1AA"})

    def test_a_body_too_large_is_refused(self):
        response = self.client.post("/subscribe/", {"first_name": "x" * 70_000})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(Signup.objects.exists())

    def test_tampered_and_expired_links_are_refused(self):
        self.subscribe()
        path = link_in_last_email(SIGNUP_CONFIRM_LINK)
        tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
        for method in (self.client.get, self.client.post):
            self.assertEqual(method(tampered).status_code, 400)
            self.assertEqual(method("/signup/confirm/garbage/").status_code, 400)
        with patch("django.core.signing.time.time", return_value=time.time() + settings.CONFIRM_TOKEN_MAX_AGE.total_seconds() + 60):
            self.assertEqual(self.client.post(path).status_code, 410)
        self.assertFalse(Subscription.objects.filter(status=Subscription.Status.SUBSCRIBED).exists())

    def test_a_suppressed_address_gets_the_same_answer_and_nothing_else(self):
        normal = self.subscribe(email="bea@example.org")
        suppression_add(email="ada@example.org", reason=Suppression.Reason.HARD_BOUNCE)
        mail.outbox.clear()
        suppressed = self.subscribe(email=" ADA@example.org")
        self.assertEqual((suppressed.status_code, suppressed["Location"]), (normal.status_code, normal["Location"]))
        self.assertFalse(Supporter.objects.filter(email="ada@example.org").exists())
        self.assertEqual(mail.outbox, [])

    def test_an_unsubscribed_list_stays_off_until_the_person_confirms_again(self):
        self.subscribe(lists=[self.news.pk])
        first = link_in_last_email(SIGNUP_CONFIRM_LINK)
        self.post(first, {})
        supporter = Supporter.objects.get()
        unsubscribe(supporter=supporter, mailing_list=self.news, wording="Unsubscribe me.", source="test")
        mail.outbox.clear()
        self.subscribe(lists=[self.news.pk])
        subscription = Subscription.objects.get()
        self.assertEqual(subscription.status, Subscription.Status.UNSUBSCRIBED)
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        subscription.refresh_from_db()
        self.assertEqual(subscription.status, Subscription.Status.SUBSCRIBED)


class JoinTests(SignupTestCase):
    def test_joining_as_an_individual_needs_confirmation_and_records_the_opt_in(self):
        page = self.client.get("/join/")
        self.assertContains(page, "Join Health Campaigns Together")
        self.assertContains(page, " checked", count=1)  # the "individual" radio; no box is ticked
        response = self.join()
        self.assertEqual(response["Location"], "/check-your-email/?for=join")
        self.assertFalse(Membership.objects.exists())
        self.assertIn("joining Health Campaigns Together", mail.outbox[0].subject)
        path = link_in_last_email(SIGNUP_CONFIRM_LINK)
        self.client.get(path)
        self.assertFalse(Membership.objects.exists())
        self.post(path, {})
        membership = Membership.objects.get()
        self.assertEqual((membership.organisation, membership.supporter.email), (self.host, "ada@example.org"))
        self.assertEqual(
            sorted(Consent.objects.values_list("wording", flat=True)),
            ["Keep me updated by email by Health Campaigns Together about its campaigns. I can unsubscribe at any time."],
        )
        self.assertEqual(Subscription.objects.get().status, Subscription.Status.SUBSCRIBED)

    def test_joining_without_the_box_records_no_consent(self):
        self.join(opt_in="", lists=[])
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        self.assertTrue(Membership.objects.exists())
        self.assertFalse(Consent.objects.exists())

    def test_registering_an_affiliated_organisation(self):
        missing = self.join(joining_as="organisation")
        self.assertContains(missing, "Enter the organisation&#x27;s name.", status_code=400)
        self.assertContains(missing, "Choose the kind of organisation.", status_code=400)
        self.assertFalse(Affiliate.objects.exists())

        self.join(
            joining_as="organisation", organisation_name="Barnsley Save Our NHS",
            organisation_kind="campaign_group", organisation_website="barnsleysaveournhs.org.uk", opt_in="",
        )
        affiliate = Affiliate.objects.get()
        self.assertEqual(affiliate.status, Affiliate.Status.PENDING)
        self.assertEqual(affiliate.website, "https://barnsleysaveournhs.org.uk")
        self.assertIn("Barnsley Save Our NHS", mail.outbox[0].subject)
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        affiliate.refresh_from_db()
        self.assertEqual(affiliate.status, Affiliate.Status.CONFIRMED)
        self.assertEqual(affiliate.contact.email, "ada@example.org")
        self.assertFalse(Membership.objects.exists())

    def test_bad_input_never_gives_a_500(self):
        for data in (
            {"joining_as": "alien"},
            {"joining_as": "organisation", "organisation_kind": "cult", "organisation_name": "X"},
            {"joining_as": "organisation", "organisation_website": "not a url", "organisation_name": "X", "organisation_kind": "other"},
            {"lists": [self.paper.pk + 999]},
            {"organisation_name": "\x00"},
        ):
            with self.subTest(data=data):
                self.assertEqual(self.join(**data).status_code, 400)
        self.assertEqual(self.client.put("/join/").status_code, 405)
        self.assertFalse(Signup.objects.exists())

    def test_without_a_host_organisation_the_page_is_not_found(self):
        self.host.kind = "partner"
        self.host.save()
        self.assertEqual(self.client.get("/join/").status_code, 404)


@override_settings(SIGNUP_RATE_PER_IP=["2/60s"])
class AbuseTests(SignupTestCase):
    def setUp(self):
        super().setUp()
        self.enterContext(frozen_ratelimit_clock())

    def test_over_the_limit_a_signup_is_held_and_answered_alike_until_released(self):
        first = self.subscribe(email="a@example.org")
        self.subscribe(email="b@example.org")
        third = self.join(email="c@example.org")
        self.assertEqual(third.status_code, 303)
        held = Signup.objects.get(supporter__email="c@example.org")
        self.assertEqual((held.status, held.hold_reason), (Signup.Status.HELD, Signup.HoldReason.RATE_LIMIT))
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), ["a@example.org", "b@example.org"])
        self.assertEqual(first.status_code, 303)
        # The held link does not work until an organiser releases it.
        with self.captureOnCommitCallbacks(execute=True):
            signups_release(signup_ids=[held.pk])
        path = link_in_last_email(SIGNUP_CONFIRM_LINK, to="c@example.org")
        self.post(path, {})
        self.assertTrue(Membership.objects.filter(supporter__email="c@example.org").exists())

    def test_another_address_limit_stops_flooding_one_inbox(self):
        with override_settings(SIGNUP_RATE_PER_IP=["1000/60s"]):
            for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
                self.post("/subscribe/", sign_data(lists=[self.news.pk]), REMOTE_ADDR=ip)
        self.assertEqual(len(mail.outbox), 3)
        self.assertEqual(Signup.objects.filter(status=Signup.Status.HELD).count(), 1)

    def test_the_honeypot_holds_silently(self):
        response = self.subscribe(website="http://spam.example")
        self.assertEqual(response.status_code, 303)
        self.assertEqual(Signup.objects.get().hold_reason, Signup.HoldReason.HONEYPOT)
        self.assertEqual(mail.outbox, [])


class OwedAndPurgeTests(SignupTestCase):
    def test_a_confirmation_the_broker_never_took_is_sent_by_the_sweeper_once(self):
        with patch.object(tasks.signup_confirmation_send, "apply_async", side_effect=ConnectionError("broker down")):
            response = self.subscribe()
        self.assertEqual(response.status_code, 303)
        self.assertEqual(mail.outbox, [])
        self.assertEqual(Signup.objects.get().status, Signup.Status.PENDING)
        with later(settings.CONFIRM_OWED_AFTER - timedelta(minutes=1)):
            tasks.signups_confirmation_owed_send.delay()
        self.assertEqual(mail.outbox, [])
        with later(settings.CONFIRM_OWED_AFTER + timedelta(minutes=1)):
            tasks.signups_confirmation_owed_send.delay()
            tasks.signups_confirmation_owed_send.delay()
        self.assertEqual(len(mail.outbox), 1)

    def test_unconfirmed_signups_are_purged_with_people_who_have_nothing_else(self):
        self.subscribe(email="gone@example.org")
        self.join(email="stays@example.org", lists=[])
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK, to="stays@example.org"), {})
        self.subscribe(email="stays@example.org", lists=[self.paper.pk])  # a second, unconfirmed request
        with later(settings.UNCONFIRMED_PURGE_AFTER - timedelta(days=1)):
            self.assertEqual(tasks.signups_unconfirmed_purge.delay().get(), 0)
        with later(settings.UNCONFIRMED_PURGE_AFTER + timedelta(days=1)):
            self.assertEqual(tasks.signups_unconfirmed_purge.delay().get(), 2)
        self.assertEqual(list(Supporter.objects.values_list("email", flat=True)), ["stays@example.org"])
        self.assertEqual(list(Signup.objects.values_list("status", flat=True)), [Signup.Status.CONFIRMED])
        self.assertFalse(Subscription.objects.filter(status=Subscription.Status.PENDING).exists())
        self.assertTrue(Membership.objects.exists())

    def test_the_suppression_hash_is_keyed_and_spelling_blind(self):
        hashed = email_hash("ada@example.org")
        self.assertEqual(email_hash(" Ada@Example.ORG"), hashed)
        self.assertEqual(len(hashed), 64)
        self.assertNotIn("ada", hashed)
        with self.settings(SUPPRESSION_HASH_KEY="another key"):
            self.assertNotEqual(email_hash("ada@example.org"), hashed)
