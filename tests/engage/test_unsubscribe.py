"""Unsubscribe links and RFC 8058 one-click: GET never changes anything, POST does, at once."""

import time
from unittest.mock import patch

from django.test import Client

from engage import links
from engage.links import (
    UNSUBSCRIBE_MAX_AGE,
    mailing_links,
    one_click_unsubscribe_url,
    read_unsubscribe_token,
    unsubscribe_url,
)
from engage.models import Consent, Subscription, SubscriptionEvent, Supporter
from engage.services.consent import consent_record
from engage.services.subscriptions import subscription_set
from engage.services.supporters import supporter_get_or_create
from engage.tokens import new_nonce
from mailings.selectors.recipients import recipients_eligible
from tests.support.base import MusterTestCase
from tests.support.factories import make_list
from tests.support.web import path_of

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class UnsubscribeTestCase(MusterTestCase):
    partner_origins = ""  # the partner has no embed

    def setUp(self):
        super().setUp()
        self.paper = make_list(slug="quarterly-paper", name="Quarterly newspaper")
        self.partner_news = make_list(slug="we-own-it-news", name="We Own It news", organisation=self.partner)
        self.ada, _ = supporter_get_or_create(
            email="ada@example.org", first_name="Ada", last_name="Lovelace", country="GB", postcode="S70 2AB"
        )
        for each in (self.news, self.paper, self.partner_news):
            subscription_set(supporter=self.ada, mailing_list=each, subscribed=True, wording=each.opt_in_wording, source="test")
            consent_record(supporter=self.ada, organisation=each.organisation, given=True, wording=each.opt_in_wording, source="test")
        self.ledgers_before = (Consent.objects.count(), SubscriptionEvent.objects.count())

    def status(self, mailing_list):
        return Subscription.objects.get(supporter=self.ada, mailing_list=mailing_list).status

    def eligible(self, mailing_list):
        everyone = Supporter.objects.all()
        return list(recipients_eligible(everyone, organisation=mailing_list.organisation, mailing_list=mailing_list))

    def assertNothingChanged(self):
        self.assertEqual((Consent.objects.count(), SubscriptionEvent.objects.count()), self.ledgers_before)
        self.assertEqual(set(Subscription.objects.values_list("status", flat=True)), {Subscription.Status.SUBSCRIBED})


class UnsubscribePageTests(UnsubscribeTestCase):
    def test_get_shows_one_button_and_changes_nothing(self):
        path = path_of(unsubscribe_url(self.ada, self.news))
        for _ in range(2):
            page = self.client.get(path)
            self.assertContains(page, "Unsubscribe me from Coalition news.")
            self.assertContains(page, '<button type="submit">Unsubscribe</button>', html=True)
        self.assertEqual(self.client.head(path).status_code, 200)
        self.assertNothingChanged()
        self.assertEqual(page["X-Robots-Tag"], "noindex")
        self.assertIn("no-cache", page["Cache-Control"])

    def test_post_unsubscribes_from_that_list_only(self):
        path = path_of(unsubscribe_url(self.ada, self.news))
        response = self.client.post(path)
        self.assertEqual((response.status_code, response["Location"]), (303, path))
        self.assertEqual(self.status(self.news), Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(self.status(self.paper), Subscription.Status.SUBSCRIBED)
        event = SubscriptionEvent.objects.latest("id")
        self.assertEqual((event.mailing_list, event.status, event.wording, event.source),
                         (self.news, "unsubscribed", "Unsubscribe me from Coalition news.", "unsubscribe-link"))
        # Consent to the organisation stands: the person still gets its other list.
        self.assertEqual(Consent.objects.count(), self.ledgers_before[0])
        self.assertContains(self.client.get(path), "You won't receive Coalition news any more.")
        self.assertNotIn(self.ada, self.eligible(self.news))
        self.assertIn(self.ada, self.eligible(self.paper))

    def test_the_all_lists_link_unsubscribes_from_the_host_and_withdraws_consent(self):
        path = path_of(unsubscribe_url(self.ada))
        self.assertContains(self.client.get(path), "Stop all emails from Health Campaigns Together.")
        self.client.post(path)
        self.assertEqual(self.status(self.news), Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(self.status(self.paper), Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(self.status(self.partner_news), Subscription.Status.SUBSCRIBED)
        withdrawal = Consent.objects.latest("id")
        self.assertEqual((withdrawal.organisation, withdrawal.given, withdrawal.wording),
                         (self.host, False, "Stop all emails from Health Campaigns Together."))
        self.assertContains(self.client.get(path), "You won't receive emails from Health Campaigns Together any more.")
        self.assertEqual(self.eligible(self.news), [])
        self.assertEqual(self.eligible(self.partner_news), [self.ada])

    def test_it_needs_a_csrf_token_unlike_one_click(self):
        strict = Client(enforce_csrf_checks=True)
        self.assertEqual(strict.post(path_of(unsubscribe_url(self.ada, self.news))).status_code, 403)
        self.assertNothingChanged()


class OneClickTests(UnsubscribeTestCase):
    def one_click(self, url, body=ONE_CLICK_BODY):
        # As a mail provider sends it: no cookies, no CSRF token.
        return Client(enforce_csrf_checks=True).post(path_of(url), body, content_type="application/x-www-form-urlencoded")

    def test_headers_point_at_the_one_click_endpoint(self):
        headers = mailing_links(self.ada, self.news).list_unsubscribe_headers
        self.assertEqual(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        url = headers["List-Unsubscribe"].strip("<>")
        self.assertTrue(url.startswith("https://muster.test/unsubscribe/"))
        self.assertTrue(url.endswith("/one-click"))
        self.assertNotIn("ada", url)
        token = url.removeprefix("https://muster.test/unsubscribe/").removesuffix("/one-click")
        self.assertEqual(read_unsubscribe_token(token), (self.ada, self.news))

    def test_a_post_without_cookies_answers_200_and_unsubscribes_at_once(self):
        response = self.one_click(one_click_unsubscribe_url(self.ada, self.news))
        self.assertEqual(response.status_code, 200)
        self.assertFalse(response.has_header("Location"))
        self.assertEqual(response.cookies, {})
        self.assertEqual(self.status(self.news), Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(SubscriptionEvent.objects.latest("id").source, "one-click")
        self.assertNotIn(self.ada, self.eligible(self.news))
        # A second POST (providers retry) answers the same and writes nothing more.
        events = SubscriptionEvent.objects.count()
        self.assertEqual(self.one_click(one_click_unsubscribe_url(self.ada, self.news)).status_code, 200)
        self.assertEqual(SubscriptionEvent.objects.count(), events)

    def test_one_click_costs_a_few_queries(self):
        # Providers post one-clicks in bursts after a big mailing: read the person and the list,
        # update one row, append one ledger row (the savepoint lines are the test's transaction).
        url = one_click_unsubscribe_url(self.ada, self.news)
        with self.assertNumQueries(7):
            self.one_click(url)
        with self.assertNumQueries(5):
            self.one_click(url)

    def test_the_all_lists_one_click_withdraws_consent_to_the_host(self):
        self.assertEqual(self.one_click(one_click_unsubscribe_url(self.ada)).status_code, 200)
        self.assertEqual(self.eligible(self.news), [])
        self.assertEqual(self.eligible(self.paper), [])
        self.assertFalse(Consent.objects.filter(organisation=self.host).latest("id").given)

    def test_a_get_of_the_one_click_address_only_shows_the_page(self):
        page = self.client.get(path_of(one_click_unsubscribe_url(self.ada, self.news)))
        self.assertContains(page, "Unsubscribe me from Coalition news.")
        self.assertNothingChanged()

    def test_tampered_foreign_and_expired_tokens_are_refused(self):
        url = one_click_unsubscribe_url(self.ada, self.news)
        token = url.split("/")[-2]
        nonce, stamp, mac = token.rsplit(":", 2)
        bad_tokens = [
            f"{nonce}:{stamp}:{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
            f"{nonce.replace(self.ada.link_nonce, new_nonce())}:{stamp}:{mac}",
            links.preferences_url(self.ada).split("/")[-2],  # a token for another purpose
            "nonsense",
        ]
        for bad in bad_tokens:
            with self.subTest(token=bad):
                self.assertEqual(self.one_click(f"https://muster.test/unsubscribe/{bad}/one-click").status_code, 400)
                self.assertEqual(self.client.get(f"/unsubscribe/{bad}/").status_code, 400)
                self.assertEqual(self.client.post(f"/unsubscribe/{bad}/").status_code, 400)
        with patch("django.core.signing.time.time", return_value=time.time() + UNSUBSCRIBE_MAX_AGE.total_seconds() + 60):
            self.assertEqual(self.one_click(url).status_code, 410)
        self.assertNothingChanged()

    def test_a_link_to_a_deleted_list_is_refused(self):
        url = one_click_unsubscribe_url(self.ada, self.paper)
        self.paper.delete()
        self.assertEqual(self.one_click(url).status_code, 400)

    def test_the_link_of_someone_no_longer_here_still_answers_200(self):
        url = one_click_unsubscribe_url(self.ada, self.news)
        Supporter.objects.filter(pk=self.ada.pk).update(link_nonce=new_nonce())  # links revoked
        self.assertEqual(self.one_click(url).status_code, 200)
        self.assertContains(self.client.get(path_of(unsubscribe_url(self.ada, self.news))), "You're unsubscribed")

    def test_other_methods_are_refused(self):
        self.assertEqual(self.client.put(path_of(one_click_unsubscribe_url(self.ada))).status_code, 405)
        self.assertEqual(self.client.delete(path_of(unsubscribe_url(self.ada))).status_code, 405)
