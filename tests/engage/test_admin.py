"""The organisers' admin for lists, subscriptions, suppressions, sign-ups and supporters."""

from django.conf import settings
from django.core import mail

from config.celery import app
from engage.models import (
    Affiliate,
    Membership,
    Signup,
    SubscriberImport,
    Subscription,
    SubscriptionEvent,
    Supporter,
    SupporterChange,
    Suppression,
)
from engage.services.signups import signup_create
from engage.services.supporters import supporter_get_or_create
from engage.suppression import email_hash
from tests.support.base import MusterTestCase
from tests.support.factories import sign_data
from tests.support.web import SIGNUP_CONFIRM_LINK, link_in_last_email


class EngageAdminTests(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)
        self.post("/join/", sign_data(joining_as="organisation", organisation_name="Barnsley SONHS",
                                      organisation_kind="campaign_group", lists=[self.news.pk]))
        self.client.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        self.ada = Supporter.objects.get()

    def test_every_page_opens(self):
        for model in (Supporter, Subscription, Suppression, Signup, Affiliate, Membership, SubscriberImport):
            with self.subTest(model=model.__name__):
                opts = model._meta
                self.assertEqual(self.client.get(f"/admin/{opts.app_label}/{opts.model_name}/").status_code, 200)
        self.assertContains(self.client.get("/admin/engage/mailinglist/"), "Coalition news")
        self.assertEqual(self.client.get(f"/admin/engage/supporter/{self.ada.pk}/change/").status_code, 200)
        self.assertEqual(self.client.get("/admin/engage/subscriberimport/add/").status_code, 200)
        self.assertEqual(self.client.get("/admin/engage/suppression/add/").status_code, 200)

    def test_an_organiser_suppresses_an_address_that_is_kept_only_as_a_hash(self):
        response = self.client.post("/admin/engage/suppression/add/", {"email": " Someone@Example.org", "reason": "manual"})
        self.assertEqual(response.status_code, 302)
        suppression = Suppression.objects.get()
        self.assertEqual((suppression.email_hash, suppression.reason), (email_hash("someone@example.org"), "manual"))
        self.assertContains(self.client.get("/admin/engage/suppression/?q=someone@example.org"), suppression.email_hash[:16])
        self.assertNotContains(self.client.get("/admin/engage/suppression/?q=other@example.org"), suppression.email_hash[:16])

    def test_unsubscribing_from_the_admin_writes_the_ledger(self):
        subscription = Subscription.objects.get()
        self.client.post("/admin/engage/subscription/", {"action": "unsubscribe", "_selected_action": [subscription.pk]})
        subscription.refresh_from_db()
        self.assertEqual(subscription.status, Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(SubscriptionEvent.objects.latest("id").wording, "Unsubscribed by an organiser (organiser).")

    def test_correcting_a_supporter_in_the_admin_records_the_change(self):
        data = {
            "first_name": "Augusta", "last_name": "Lovelace", "country": "GB", "postcode": "S70 2AB",
            "subscriptions-TOTAL_FORMS": "1", "subscriptions-INITIAL_FORMS": "1",
            "subscriptions-0-id": Subscription.objects.get().pk, "subscriptions-0-supporter": self.ada.pk,
            "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
        }
        response = self.client.post(f"/admin/engage/supporter/{self.ada.pk}/change/", data)
        self.assertEqual(response.status_code, 302)
        self.ada.refresh_from_db()
        self.assertEqual(self.ada.first_name, "Augusta")
        self.assertEqual(SupporterChange.objects.get().fields, "first_name")
        self.assertEqual(SupporterChange.objects.get().source, "admin:organiser")

    def test_releasing_a_held_signup_sends_its_confirmation(self):
        supporter, _ = supporter_get_or_create(email="held@example.org", first_name="H", last_name="H", country="GB", postcode="")
        held = signup_create(
            kind=Signup.Kind.SUBSCRIBE, email="held@example.org", first_name="H", last_name="H", country="GB", postcode="",
            mailing_lists=[self.news], hold_reason=Signup.HoldReason.HONEYPOT,
        )
        mail.outbox.clear()
        self.post("/admin/engage/signup/", {"action": "release", "_selected_action": [held.pk]})
        self.assertEqual([m.to for m in mail.outbox], [["held@example.org"]])


def test_every_engage_beat_entry_names_a_real_task():
    entries = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].startswith("engage.")]
    assert len(entries) == 7
    for name in entries:
        assert name in app.tasks
