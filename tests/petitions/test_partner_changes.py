"""Partners hear about withdrawals and erasures: the change feed shows each partner the people
it received who withdrew or were erased, and no one else; its signed webhook is retried until
the partner takes it, with the same event id; and the address is kept only until the partner
has it, or 30 days (docs/design.md, "Partners hear about withdrawals and erasures")."""

import base64
import csv
import hashlib
import hmac
import io
import json
import socket
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from engage.models import PartnerNotice, PartnerWebhook, PartnerWebhookAttempt, Supporter
from engage.selectors import supporters_by_email
from engage.services.consent import consent_record
from engage.services.erasure import supporter_erase
from engage.services.partner_keys import partner_api_key_create
from engage.services.partner_notices import (
    partner_notices_purge,
    partner_notices_sweep,
    partner_webhook_register,
    webhook_url_allowed,
)
from engage.services.preferences import preferences_update
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_partner, make_signature

FEED = "/api/partner/changes"
CSV = "/api/partner/changes.csv"
HOOK = "https://crm.weownit.example/hooks/muster"
POST = "engage.services.partner_notices.requests.post"


def resolving_to(*addresses):
    """DNS, the outside world: the partner's host name resolves to these addresses."""
    found = [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443)) for a in addresses]
    return mock.patch("engage.services.partner_notices.socket.getaddrinfo", return_value=found)


class PartnerChangesTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        dns = resolving_to("93.184.215.14")  # the partners' hosts are on the public internet
        dns.start()
        self.addCleanup(dns.stop)
        self.a, self.b = self.partner, self.other_partner
        self.plain_a = partner_api_key_create(organisation=self.a, name="A's CRM")[1]
        self.plain_b = partner_api_key_create(organisation=self.b, name="B's CRM")[1]
        for email, boxes in [("ada@example.org", ["we-own-it"]), ("bob@example.org", ["keep-our-nhs-public"]),
                             ("cat@example.org", ["we-own-it", "keep-our-nhs-public"]), ("dan@example.org", [])]:
            make_signature(petition=self.petition, email=email, opt_in=True, boxes=boxes, confirm=True)

    def person(self, email) -> Supporter:
        return supporters_by_email(email).get()

    def withdraw(self, email, organisation):
        """What the preference page writes when a box is unticked."""
        with self.captureOnCommitCallbacks(execute=True):
            consent_record(supporter=self.person(email), organisation=organisation, given=False,
                           wording="Unticked", source="preferences")

    def erase(self, email):
        with self.captureOnCommitCallbacks(execute=True):
            supporter_erase(supporter=self.person(email))

    def get(self, key, url=FEED, **params):
        return self.client.get(url, params, HTTP_AUTHORIZATION=f"Bearer {key}")

    def changes(self, key, **params):
        response = self.get(key, **params)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def seen(self, key, **params):
        return [(row["kind"], row["email"]) for row in self.changes(key, **params)["results"]]


class FeedTests(PartnerChangesTestCase):
    def test_it_shows_a_withdrawal_to_the_partner_that_had_the_person_only(self):
        self.withdraw("ada@example.org", self.a)
        self.assertEqual(self.seen(self.plain_a), [("withdrawn", "ada@example.org")])
        self.assertEqual(self.seen(self.plain_b), [])

    def test_it_hears_of_a_withdrawal_made_on_the_preference_page(self):
        cat = self.person("cat@example.org")
        with self.captureOnCommitCallbacks(execute=True):
            preferences_update(supporter=cat, list_ids_on=set(), organisation_ids_on={self.host.pk, self.b.pk})
        self.assertEqual(self.seen(self.plain_a), [("withdrawn", "cat@example.org")])
        self.assertEqual(self.seen(self.plain_b), [])

    def test_it_notes_no_withdrawal_of_a_consent_never_given(self):
        # dan never opted in to A: A never had him, so A hears nothing, and keeps nothing of him.
        self.withdraw("dan@example.org", self.a)
        self.withdraw("ada@example.org", self.b)
        self.assertEqual(self.seen(self.plain_a), [])
        self.assertEqual(self.seen(self.plain_b), [])
        self.assertFalse(PartnerNotice.objects.exists())

    def test_it_notes_a_second_opt_out_once(self):
        self.withdraw("ada@example.org", self.a)
        self.withdraw("ada@example.org", self.a)
        self.assertEqual(PartnerNotice.objects.count(), 1)

    def test_it_shows_an_erasure_to_every_partner_the_person_opted_in_to_and_no_other(self):
        self.erase("cat@example.org")
        self.erase("ada@example.org")
        self.assertEqual(self.seen(self.plain_a), [("erased", "cat@example.org"), ("erased", "ada@example.org")])
        self.assertEqual(self.seen(self.plain_b), [("erased", "cat@example.org")])

    def test_an_erasure_still_erases_and_the_notice_is_the_only_place_the_address_survives(self):
        self.erase("ada@example.org")
        self.assertFalse(Supporter.objects.filter(email="ada@example.org").exists())
        holding = PartnerNotice.objects.filter(email="ada@example.org")
        self.assertEqual([n.organisation for n in holding], [self.a])
        # No link back to the person: nothing about her but the address and the event.
        self.assertNotIn("supporter", {f.name for f in PartnerNotice._meta.get_fields()})

    def test_an_organisation_with_no_key_and_no_webhook_gets_no_notice(self):
        # The host's own people are its own: without a key it never received them, so no copy is kept.
        self.erase("dan@example.org")
        self.assertFalse(PartnerNotice.objects.filter(organisation=self.host).exists())

    def test_the_address_is_given_once_then_forgotten(self):
        self.withdraw("ada@example.org", self.a)
        first = self.changes(self.plain_a)["results"]
        self.assertEqual(first[0]["email"], "ada@example.org")
        again = self.changes(self.plain_a)["results"]
        self.assertEqual([(r["id"], r["kind"], r["email"]) for r in again], [(first[0]["id"], "withdrawn", None)])
        notice = PartnerNotice.objects.get()
        self.assertEqual(notice.email, "")
        self.assertIsNotNone(notice.fetched_at)

    def test_since_keeps_the_events_at_or_after_it(self):
        self.withdraw("ada@example.org", self.a)
        self.withdraw("cat@example.org", self.a)
        early, late = PartnerNotice.objects.order_by("pk")
        PartnerNotice.objects.filter(pk=early.pk).update(occurred_at=timezone.now() - timedelta(days=3))
        cut = (timezone.now() - timedelta(days=1)).astimezone(timezone.get_fixed_timezone(-90))
        self.assertEqual(self.seen(self.plain_a, since=cut.isoformat()), [("withdrawn", "cat@example.org")])
        day = (timezone.localdate() - timedelta(days=5)).isoformat()
        self.assertEqual([r["id"] for r in self.changes(self.plain_a, since=day)["results"]],
                         [str(early.event_id), str(late.event_id)])

    def test_the_cursor_walks_every_event_once_in_order(self):
        for email in ["ada@example.org", "cat@example.org"]:
            self.withdraw(email, self.a)
        self.erase("cat@example.org")
        ids, url, pages = [], None, 0
        page = self.changes(self.plain_a, limit=1)
        while True:
            pages += 1
            ids += [row["id"] for row in page["results"]]
            if page["next"] is None:
                break
            url = page["next"]
            response = self.client.get(url, HTTP_AUTHORIZATION=f"Bearer {self.plain_a}")
            self.assertEqual(response.status_code, 200)
            page = response.json()
        expected = [str(n.event_id) for n in PartnerNotice.objects.filter(organisation=self.a).order_by("occurred_at", "pk")]
        self.assertEqual(ids, expected)
        self.assertEqual(len(ids), 3)
        self.assertGreaterEqual(pages, 3)

    def test_a_bad_since_or_cursor_is_a_400_with_a_message(self):
        for since in ["nope", "2026-13-01", "2026-01-31T09:00:00+24:00", "2026-01-31T09:00:00 01:00",
                      "0001-01-01T00:00:00+01:00", "２０２６-01-31", "2026-01-31T0²:00", "2026-01-31\n", "1" * 500]:
            with self.subTest(since=since):
                response = self.get(self.plain_a, since=since)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(set(response.json()["fields"]), {"since"})
                self.assertIn("ISO 8601", response.json()["fields"]["since"][0])
                csv_response = self.get(self.plain_a, url=CSV, since=since)
                self.assertEqual(csv_response.status_code, 400)
        self.assertEqual(self.get(self.plain_a, cursor="!!!").status_code, 400)

    def test_a_key_is_needed(self):
        self.assertEqual(self.client.get(FEED).status_code, 401)
        self.assertEqual(self.client.get(CSV).status_code, 401)

    def test_the_csv_lists_the_same_events_and_forgets_their_addresses(self):
        self.withdraw("ada@example.org", self.a)
        self.erase("cat@example.org")
        response = self.get(self.plain_a, url=CSV)
        self.assertEqual(response.status_code, 200)
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        self.assertEqual([(r["kind"], r["email"]) for r in rows], [("withdrawn", "ada@example.org"), ("erased", "cat@example.org")])
        self.assertFalse(PartnerNotice.objects.filter(organisation=self.a).exclude(email="").exists())
        self.assertTrue(PartnerNotice.objects.filter(organisation=self.b, email="cat@example.org").exists())


class RetentionTests(PartnerChangesTestCase):
    def test_an_address_never_fetched_is_forgotten_after_30_days_and_the_event_kept(self):
        self.withdraw("ada@example.org", self.a)
        self.withdraw("cat@example.org", self.a)
        old, recent = PartnerNotice.objects.order_by("pk")
        PartnerNotice.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(days=30, minutes=1))
        self.assertEqual(partner_notices_purge(), 1)
        old.refresh_from_db()
        recent.refresh_from_db()
        self.assertEqual((old.email, old.kind), ("", "withdrawn"))
        self.assertIsNotNone(old.email_cleared_at)
        self.assertEqual(recent.email, "cat@example.org")
        self.assertEqual([r["email"] for r in self.changes(self.plain_a)["results"]], [None, "cat@example.org"])


class WebhookTestCase(PartnerChangesTestCase):
    def setUp(self):
        super().setUp()
        self.webhook, self.secret = partner_webhook_register(organisation=self.a, url=HOOK)

    def answering(self, *statuses):
        return mock.patch(POST, side_effect=[mock.Mock(status_code=status) for status in statuses])

    def verify(self, call):
        """Check the call as the partner would: the HMAC of "<t>." + body under its secret."""
        body, headers = call.kwargs["data"], call.kwargs["headers"]
        fields = dict(part.split("=", 1) for part in headers["Muster-Signature"].split(","))
        expected = hmac.new(self.secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
        self.assertTrue(hmac.compare_digest(fields["v1"], expected))
        self.assertLess(abs(int(fields["t"]) - timezone.now().timestamp()), 60)
        event = json.loads(body)
        self.assertEqual(headers["Muster-Event-Id"], event["id"])
        return event

    def make_due(self):
        """Let the back-off pass (as the clock would), as far as the sweep's grace."""
        PartnerNotice.objects.update(webhook_next_at=timezone.now() - timedelta(minutes=10))


class WebhookTests(WebhookTestCase):
    def test_each_event_is_posted_signed_to_the_partner_that_had_the_person(self):
        with self.answering(200) as post:
            self.erase("cat@example.org")
        self.assertEqual(post.call_count, 1)  # B has no webhook
        self.assertEqual(post.call_args.args, (HOOK,))
        self.assertFalse(post.call_args.kwargs["allow_redirects"])
        event = self.verify(post.call_args)
        notice = PartnerNotice.objects.get(organisation=self.a)
        self.assertEqual(event, {"id": str(notice.event_id), "kind": "erased", "occurred_at": notice.occurred_at.isoformat(),
                                 "email": "cat@example.org", "organisation": "we-own-it"})

    def test_a_signature_under_another_secret_does_not_verify(self):
        with self.answering(200) as post:
            self.withdraw("ada@example.org", self.a)
        self.secret = "mwh_not-the-secret"
        with self.assertRaises(AssertionError):
            self.verify(post.call_args)

    def test_a_delivery_forgets_the_address_and_is_not_sent_again(self):
        with self.answering(200):
            self.withdraw("ada@example.org", self.a)
        notice = PartnerNotice.objects.get()
        self.assertEqual((notice.webhook_status, notice.email), (PartnerNotice.Webhook.DELIVERED, ""))
        self.make_due()
        with self.answering() as again:
            self.assertEqual(partner_notices_sweep(), 0)
        again.assert_not_called()
        # The feed still lists the event, without the address.
        self.assertEqual(self.seen(self.plain_a), [("withdrawn", None)])

    def test_a_500_is_retried_with_backoff_and_the_same_event_id(self):
        with self.answering(500) as post:
            self.withdraw("ada@example.org", self.a)
        notice = PartnerNotice.objects.get()
        self.assertEqual((notice.webhook_status, notice.webhook_attempts), (PartnerNotice.Webhook.PENDING, 1))
        self.assertGreater(notice.webhook_next_at, timezone.now())
        self.assertEqual(notice.email, "ada@example.org")
        first = self.verify(post.call_args)
        # Not before the back-off has passed.
        with self.answering() as early:
            self.assertEqual(partner_notices_sweep(), 0)
        early.assert_not_called()

        self.make_due()
        with self.answering(503) as post:
            partner_notices_sweep()
        notice.refresh_from_db()
        self.assertEqual(notice.webhook_attempts, 2)
        self.assertGreater(notice.webhook_next_at - timezone.now(), timedelta(minutes=1))  # it grew

        self.make_due()
        with self.answering(200) as post:
            self.assertEqual(partner_notices_sweep(), 1)
        self.assertEqual(self.verify(post.call_args), first)
        notice.refresh_from_db()
        self.assertEqual((notice.webhook_status, notice.email), (PartnerNotice.Webhook.DELIVERED, ""))
        attempts = PartnerWebhookAttempt.objects.filter(notice=notice).order_by("number")
        self.assertEqual([(a.number, a.status_code) for a in attempts], [(1, 500), (2, 503), (3, 200)])
        self.assertTrue(all(a.finished_at for a in attempts))

    def test_a_failed_connection_is_recorded_and_retried(self):
        import requests

        with mock.patch(POST, side_effect=requests.ConnectionError("refused")):
            self.withdraw("ada@example.org", self.a)
        attempt = PartnerWebhookAttempt.objects.get()
        self.assertEqual((attempt.status_code, attempt.error), (None, "ConnectionError"))
        self.assertEqual(PartnerNotice.objects.get().webhook_status, PartnerNotice.Webhook.PENDING)

    def test_running_the_task_twice_sends_once(self):
        from engage import tasks

        with self.answering(200) as post:
            self.withdraw("ada@example.org", self.a)
            notice = PartnerNotice.objects.get()
            self.assertEqual(tasks.partner_notice_deliver(notice.pk), "not_due")
        self.assertEqual(post.call_count, 1)

    def test_a_claim_held_by_a_worker_that_died_is_taken_back_by_the_sweep(self):
        with mock.patch("engage.services.partner_notices.transaction.on_commit"):  # the task is lost
            self.withdraw("ada@example.org", self.a)
        # A worker claimed it and died during the call.
        PartnerNotice.objects.update(webhook_claimed_at=timezone.now() - timedelta(minutes=1))
        self.make_due()
        with self.answering() as post:
            self.assertEqual(partner_notices_sweep(), 0)  # its claim is still young
        post.assert_not_called()
        PartnerNotice.objects.update(webhook_claimed_at=timezone.now() - timedelta(minutes=30))
        with self.answering(200) as post:
            self.assertEqual(partner_notices_sweep(), 1)
        self.assertEqual(PartnerNotice.objects.get().webhook_status, PartnerNotice.Webhook.DELIVERED)

    def test_attempts_are_bounded(self):
        with self.answering(*[500] * 10) as post:
            self.withdraw("ada@example.org", self.a)
            for _ in range(12):
                self.make_due()
                partner_notices_sweep()
        self.assertEqual(post.call_count, 10)
        notice = PartnerNotice.objects.get()
        self.assertEqual(notice.webhook_status, PartnerNotice.Webhook.FAILED)
        # Its address still waits for the feed, or the 30-day purge.
        self.assertEqual(notice.email, "ada@example.org")

    def test_fetching_the_feed_calls_off_a_pending_delivery(self):
        with self.answering(500):
            self.withdraw("ada@example.org", self.a)
        self.assertEqual(self.seen(self.plain_a), [("withdrawn", "ada@example.org")])
        self.make_due()
        with self.answering() as post:
            partner_notices_sweep()
        post.assert_not_called()
        self.assertEqual(PartnerNotice.objects.get().webhook_status, PartnerNotice.Webhook.FETCHED)


class WebhookUrlTests(WebhookTestCase):
    def test_only_https_except_localhost_in_debug(self):
        self.assertTrue(webhook_url_allowed("https://crm.example/hook"))
        self.assertFalse(webhook_url_allowed("http://crm.example/hook"))
        self.assertFalse(webhook_url_allowed("http://localhost:8080/hook"))
        self.assertFalse(webhook_url_allowed("ftp://crm.example/hook"))
        with override_settings(DEBUG=True):
            self.assertTrue(webhook_url_allowed("http://localhost:8080/hook"))
            self.assertTrue(webhook_url_allowed("http://127.0.0.1/hook"))
            self.assertFalse(webhook_url_allowed("http://crm.example/hook"))
        with self.assertRaises(ValueError):
            partner_webhook_register(organisation=self.b, url="http://crm.example/hook")

    def test_no_private_network_address_is_accepted(self):
        for url in (
            "https://127.0.0.1/hook", "https://10.0.0.5/hook", "https://192.168.1.1/", "https://169.254.169.254/latest",
            "https://[::1]/hook", "https://[fd00::1]/", "https://localhost/hook", "https://redis.localhost/",
            "https://0.0.0.0/", "https://[::ffff:127.0.0.1]/", "https://crm.example:99999/hook",
        ):
            self.assertFalse(webhook_url_allowed(url), url)
        self.assertTrue(webhook_url_allowed("https://93.184.215.14/hook"))
        with override_settings(DEBUG=True):
            self.assertFalse(webhook_url_allowed("https://10.0.0.5/hook"))

    def test_a_name_pointed_at_a_private_address_is_not_posted_to_and_is_retried(self):
        with resolving_to("93.184.215.14", "10.1.2.3"), mock.patch(POST) as post:
            self.withdraw("ada@example.org", self.a)
        post.assert_not_called()
        notice = PartnerNotice.objects.get(organisation=self.a)
        self.assertEqual(notice.webhook_status, PartnerNotice.Webhook.PENDING)
        self.assertEqual(notice.attempts.get().error, "host not found or not public")
        self.make_due()
        with self.answering(200) as post:
            self.assertEqual(partner_notices_sweep(), 1)
        post.assert_called_once()
        notice.refresh_from_db()
        self.assertEqual(notice.webhook_status, PartnerNotice.Webhook.DELIVERED)

    def test_a_name_that_does_not_resolve_is_retried(self):
        with mock.patch("engage.services.partner_notices.socket.getaddrinfo", side_effect=socket.gaierror("no such name")), \
                mock.patch(POST) as post:
            self.withdraw("ada@example.org", self.a)
        post.assert_not_called()
        self.assertEqual(PartnerNotice.objects.get(organisation=self.a).attempts.get().error, "host not found or not public")


class WebhookAdminTests(PartnerChangesTestCase):
    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)

    def test_an_organiser_registers_a_webhook_and_sees_its_secret_once(self):
        refused = self.client.post("/admin/engage/partnerwebhook/add/", {"organisation": self.a.pk, "url": "http://crm.example/hook"})
        self.assertEqual(refused.status_code, 200)
        self.assertContains(refused, "public https address")
        self.assertFalse(PartnerWebhook.objects.exists())

        added = self.client.post("/admin/engage/partnerwebhook/add/", {"organisation": self.a.pk, "url": HOOK})
        webhook = PartnerWebhook.objects.get()
        self.assertEqual((webhook.organisation, webhook.url, webhook.active), (self.a, HOOK, True))
        self.assertContains(added, webhook.secret)
        self.assertContains(added, "shown only this once")
        page = self.client.get(f"/admin/engage/partnerwebhook/{webhook.pk}/change/")
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, webhook.secret)

        old = webhook.secret
        replaced = self.client.post("/admin/engage/partnerwebhook/", {"action": "secret_replace", "_selected_action": [webhook.pk]})
        webhook.refresh_from_db()
        self.assertNotEqual(webhook.secret, old)
        self.assertContains(replaced, webhook.secret)

    def test_the_notices_are_listed_without_their_addresses(self):
        partner_webhook_register(organisation=self.a, url=HOOK)
        with mock.patch(POST, return_value=mock.Mock(status_code=500)):
            self.withdraw("ada@example.org", self.a)
        notice = PartnerNotice.objects.get()
        listing = self.client.get("/admin/engage/partnernotice/")
        self.assertContains(listing, str(notice.event_id))
        detail = self.client.get(f"/admin/engage/partnernotice/{notice.pk}/change/")
        self.assertEqual(detail.status_code, 200)
        self.assertContains(detail, "500")
        for page in (listing, detail):
            self.assertNotContains(page, "ada@example.org")


_OFFSETS = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
_MOMENTS = st.builds(
    lambda moment, offset: moment.replace(tzinfo=dt_timezone(offset)).isoformat(),
    # The ends of the calendar too, where an offset takes the moment out of range.
    st.one_of(st.datetimes(), st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59)])),
    _OFFSETS.map(lambda d: timedelta(minutes=int(d.total_seconds() // 60))),
)
_SINCE_VALUES = st.one_of(
    _MOMENTS,
    st.dates().map(str),
    st.from_regex(r"\A[0-9T:+\- .Z²٣]{0,40}\Z"),
    st.text(max_size=60),
)


@pytest.fixture
def partner_key(db):
    """A partner and its key; read-only requests, so hypothesis's examples can share them."""
    return partner_api_key_create(organisation=make_partner(), name="CRM")[1]


@given(since=_SINCE_VALUES)
def test_any_since_is_a_page_or_a_400_never_a_500(client, partner_key, since):
    for url in (FEED, CSV):
        response = client.get(url, {"since": since}, HTTP_AUTHORIZATION=f"Bearer {partner_key}")
        assert response.status_code in (200, 400), (url, since)
        if response.status_code == 400:
            assert set(response.json()["fields"]) == {"since"}
        elif url == CSV:
            b"".join(response.streaming_content)


@given(cursor=st.one_of(st.text(max_size=80), st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode())))
def test_any_cursor_is_a_page_or_a_400_never_a_500(client, partner_key, cursor):
    response = client.get(FEED, {"cursor": cursor}, HTTP_AUTHORIZATION=f"Bearer {partner_key}")
    assert response.status_code in (200, 400), cursor
