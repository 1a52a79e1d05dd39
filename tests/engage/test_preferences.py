"""The preference page: reached by a signed link, every change written to a ledger."""

import time
from unittest.mock import patch

from django.core import mail

from engage.links import PREFERENCES_MAX_AGE, preferences_url
from engage.models import Consent, Subscription, SubscriptionEvent, Supporter, SupporterChange
from engage.services.consent import consent_record
from engage.services.subscriptions import subscription_set
from engage.services.supporters import supporter_get_or_create
from engage.tokens import new_nonce
from tests.support.base import MusterTestCase
from tests.support.factories import make_list
from tests.support.web import PREFERENCES_LINK, link_in_last_email, path_of


class PreferencesTestCase(MusterTestCase):
    partner_origins = ""  # the partner has no embed

    def setUp(self):
        super().setUp()
        self.paper = make_list(slug="quarterly-paper", name="Quarterly newspaper")
        self.hidden = make_list(slug="organisers", name="Organisers only", public=False)
        self.other_hidden = make_list(slug="secret", name="Secret list", public=False)
        self.ada, _ = supporter_get_or_create(
            email="ada@example.org", first_name="Ada", last_name="Lovelace", country="GB", postcode="S70 2AB"
        )
        for each in (self.news, self.hidden):
            subscription_set(supporter=self.ada, mailing_list=each, subscribed=True, wording=each.opt_in_wording, source="test")
        consent_record(supporter=self.ada, organisation=self.host, given=True, wording="Yes", source="test")
        consent_record(supporter=self.ada, organisation=self.partner, given=False, wording="No", source="test")
        self.path = path_of(preferences_url(self.ada))

    def statuses(self):
        return dict(Subscription.objects.filter(supporter=self.ada).values_list("mailing_list__slug", "status"))

    def latest_consent(self, organisation):
        return Consent.objects.filter(supporter=self.ada, organisation=organisation).latest("id")

    def save_choices(self, lists=(), organisations=()):
        return self.client.post(
            f"{self.path}choices",
            {"lists": [str(each.pk) for each in lists], "organisations": [str(org.pk) for org in organisations]},
        )


class PreferencePageTests(PreferencesTestCase):
    def test_it_shows_the_person_their_lists_and_consents_and_changes_nothing(self):
        before = (Consent.objects.count(), SubscriptionEvent.objects.count(), SupporterChange.objects.count())
        page = self.client.get(self.path)
        self.assertContains(page, "ada@example.org")
        self.assertContains(page, f'value="{self.news.pk}" id="list-{self.news.pk}" checked')
        self.assertContains(page, f'value="{self.paper.pk}" id="list-{self.paper.pk}">')
        self.assertContains(page, "Organisers only")  # hidden, but they are on it
        self.assertNotContains(page, "Secret list")
        self.assertContains(page, f'value="{self.host.pk}" id="organisation-{self.host.pk}" checked')
        self.assertContains(page, f'value="{self.partner.pk}" id="organisation-{self.partner.pk}">')
        self.assertContains(page, 'value="Lovelace"')
        self.assertEqual(page["X-Robots-Tag"], "noindex")
        self.assertEqual(self.client.head(self.path).status_code, 200)
        self.assertEqual(before, (Consent.objects.count(), SubscriptionEvent.objects.count(), SupporterChange.objects.count()))

    def test_switching_lists_writes_subscription_ledger_rows(self):
        response = self.save_choices(lists=[self.paper, self.hidden], organisations=[self.host])
        self.assertEqual((response.status_code, response["Location"]), (303, f"{self.path}?saved=choices"))
        self.assertEqual(self.statuses(), {"coalition-news": "unsubscribed", "quarterly-paper": "subscribed", "organisers": "subscribed"})
        events = list(SubscriptionEvent.objects.filter(source="preferences").values_list("mailing_list__slug", "status", "wording"))
        self.assertEqual(sorted(events), [
            ("coalition-news", "unsubscribed", "Unsubscribe me from Coalition news."),
            ("quarterly-paper", "subscribed", self.paper.opt_in_wording),
        ])
        self.assertContains(self.client.get(response["Location"]), "Your choices are saved.")
        # Saving the same choices again writes nothing.
        self.save_choices(lists=[self.paper, self.hidden], organisations=[self.host])
        self.assertEqual(SubscriptionEvent.objects.filter(source="preferences").count(), 2)

    def test_withdrawing_consent_writes_an_opt_out_and_stops_every_list_of_that_organisation(self):
        self.save_choices(lists=[self.news, self.paper, self.hidden], organisations=[])
        withdrawal = self.latest_consent(self.host)
        self.assertEqual((withdrawal.given, withdrawal.wording, withdrawal.source),
                         (False, "Stop all emails from Health Campaigns Together.", "preferences"))
        self.assertEqual(set(self.statuses().values()), {"unsubscribed"})
        self.assertEqual(Subscription.objects.filter(mailing_list=self.paper).count(), 0)

    def test_giving_consent_and_switching_a_list_on_record_the_wording_shown(self):
        consent_record(supporter=self.ada, organisation=self.host, given=False, wording="No", source="test")
        self.save_choices(lists=[self.news, self.paper], organisations=[self.partner])
        self.assertTrue(self.latest_consent(self.partner).given)
        self.assertEqual(self.latest_consent(self.partner).wording,
                         "Keep me updated by email by We Own It about its campaigns. I can unsubscribe at any time.")
        # Switching a host list on is consent to that list, in its words, and not to the host's other mail.
        self.assertEqual(self.latest_consent(self.host).wording, "No")
        self.assertFalse(self.latest_consent(self.host).given)
        self.assertEqual(self.statuses()[self.paper.slug], "subscribed")
        self.assertEqual(
            SubscriptionEvent.objects.filter(supporter=self.ada, mailing_list=self.paper).latest("created_at", "id").wording,
            self.paper.opt_in_wording,
        )

    def test_forged_or_unknown_ids_change_nothing(self):
        before = self.statuses()
        response = self.client.post(
            f"{self.path}choices",
            {"lists": [str(self.news.pk), str(self.hidden.pk), str(self.other_hidden.pk), "x", "-1", "99999"],
             "organisations": [str(self.host.pk), "abc", "99999"]},
        )
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.statuses(), before)

    def test_correcting_details_records_which_fields_changed(self):
        response = self.client.post(f"{self.path}details", {"first_name": "Augusta", "last_name": "Lovelace", "country": "GB", "postcode": "sw1a1aa"})
        self.assertEqual(response.status_code, 303)
        self.ada.refresh_from_db()
        self.assertEqual((self.ada.first_name, self.ada.postcode), ("Augusta", "SW1A 1AA"))
        change = SupporterChange.objects.get()
        self.assertEqual((change.fields, change.source), ("first_name,postcode", "preferences"))
        self.assertNotIn("Ada", change.fields)

    def test_bad_details_are_refused_with_a_message_and_nothing_saved(self):
        for data, message in (
            ({"first_name": "", "last_name": "L", "country": "GB", "postcode": "S70 2AB"}, "Enter your first name."),
            ({"first_name": "A", "last_name": "L", "country": "GB", "postcode": "nowhere"}, "Enter a valid UK postcode"),
            ({"first_name": "=cmd", "last_name": "L", "country": "GB", "postcode": "S70 2AB"}, "can&#x27;t start with"),
            ({"first_name": "A", "last_name": "L", "country": "ZZ", "postcode": ""}, "Select a valid choice"),
        ):
            with self.subTest(data=data):
                self.assertContains(self.client.post(f"{self.path}details", data), message, status_code=400)
        self.assertFalse(SupporterChange.objects.exists())
        self.ada.refresh_from_db()
        self.assertEqual(self.ada.first_name, "Ada")

    def test_tampered_expired_and_revoked_links_are_refused(self):
        token = self.path.split("/")[-2]
        tampered = f"/preferences/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}/"
        for path in (tampered, "/preferences/rubbish/"):
            self.assertEqual(self.client.get(path).status_code, 400)
            self.assertEqual(self.client.post(f"{path}choices", {"lists": []}).status_code, 400)
        with patch("django.core.signing.time.time", return_value=time.time() + PREFERENCES_MAX_AGE.total_seconds() + 60):
            self.assertEqual(self.client.get(self.path).status_code, 410)
        Supporter.objects.filter(pk=self.ada.pk).update(link_nonce=new_nonce())
        self.assertEqual(self.client.get(self.path).status_code, 410)
        self.assertEqual(self.client.post(f"{self.path}choices", {"lists": []}).status_code, 410)
        self.assertEqual(set(self.statuses().values()), {"subscribed"})

    def test_get_never_changes_state_and_methods_are_checked(self):
        self.assertEqual(self.client.get(f"{self.path}choices").status_code, 405)
        self.assertEqual(self.client.get(f"{self.path}details").status_code, 405)
        self.assertEqual(self.client.get(f"{self.path}export").status_code, 405)
        self.assertEqual(set(self.statuses().values()), {"subscribed"})


class PreferencesLinkRequestTests(PreferencesTestCase):
    def request_link(self, email):
        return self.post("/preferences/", {"email": email})

    def test_a_supporter_gets_a_link_and_anyone_else_the_same_answer(self):
        known = self.request_link(" ADA@example.org ")
        unknown = self.request_link("nobody@example.org")
        self.assertEqual((known.status_code, known["Location"]), (unknown.status_code, unknown["Location"]))
        self.assertEqual([m.to for m in mail.outbox], [["ada@example.org"]])
        path = link_in_last_email(PREFERENCES_LINK)
        self.assertContains(self.client.get(path), "Your preferences")
        # Asking again within the interval sends nothing more.
        self.request_link("ada@example.org")
        self.assertEqual(len(mail.outbox), 1)

    def test_bad_input_is_refused_with_a_message(self):
        self.assertContains(self.client.post("/preferences/", {"email": "nope"}), "Enter an email address", status_code=400)
        self.assertContains(self.client.post("/preferences/", {}), "Enter your email address.", status_code=400)
        self.assertEqual(mail.outbox, [])
