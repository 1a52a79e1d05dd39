"""What each suppression reason stops (docs/design.md, "What each suppression stops"): every
reason stops imports and bulk mail; a confirmation the person just asked for (by signing,
subscribing or joining) is sent after an erasure or a complaint, never after a bounce or an
organiser's suppression."""

from datetime import UTC, datetime

from django.conf import settings
from django.core import mail

from engage import imports
from engage.models import SubscriberImport, Supporter, Suppression
from engage.services.erasure import supporter_erase
from engage.services.imports import subscribers_import
from engage.services.suppression import suppression_add
from engage.suppression import is_suppressed
from mailings.selectors.recipients import recipients_eligible
from petitions.services.signing import signatures_remind
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition, make_supporter, sign_data
from tests.support.web import SIGNATURE_CONFIRM_LINK, SIGNUP_CONFIRM_LINK, later, link_in_last_email

Reason = Suppression.Reason
CONFIRMATION_SENT = {Reason.ERASED: True, Reason.COMPLAINT: True, Reason.HARD_BOUNCE: False,
                     Reason.SOFT_BOUNCES: False, Reason.MANUAL: False}


class SuppressionReasonTestCase(MusterTestCase):
    def suppress(self, reason, email="ada@example.org"):
        """Ada's address suppressed for `reason`: an erasure erases her as the preference page does."""
        if reason == Reason.ERASED:
            supporter_erase(supporter=make_supporter(email, organisation=self.host))
        else:
            suppression_add(email=email, reason=reason)
        mail.outbox.clear()

    def sent_to_ada(self):
        return [m for m in mail.outbox if m.to == ["ada@example.org"]]


class TransactionalTests(SuppressionReasonTestCase):
    def test_signing_again_is_confirmed_unless_the_reason_blocks_it(self):
        for reason, sent in CONFIRMATION_SENT.items():
            with self.subTest(reason=reason):
                petition = make_petition(slug=f"sign-{reason}".replace("_", "-"), organisation=self.host)
                email = f"{reason}@example.org"
                self.suppress(reason, email=email)
                response = self.sign(petition, email=email)
                self.assertEqual(response.status_code, 303)
                self.assertEqual(len([m for m in mail.outbox if m.to == [email]]), int(sent))

    def test_subscribing_and_joining_again_are_confirmed_unless_the_reason_blocks_it(self):
        for reason, sent in CONFIRMATION_SENT.items():
            for form in ("/subscribe/", "/join/"):
                with self.subTest(reason=reason, form=form):
                    email = f"{reason}-{form.strip('/')}@example.org"
                    self.suppress(reason, email=email)
                    data = sign_data(email=email, lists=[self.news.pk], joining_as="individual")
                    response = self.post(form, data)
                    self.assertEqual(response.status_code, 303)
                    self.assertEqual(len([m for m in mail.outbox if m.to == [email]]), int(sent))

    def test_an_erased_person_who_confirms_again_is_a_supporter_again(self):
        self.suppress(Reason.ERASED)
        self.sign(opt_in="on")
        self.post(link_in_last_email(SIGNATURE_CONFIRM_LINK), {})
        self.assertFalse(is_suppressed("ada@example.org"))
        ada = Supporter.objects.get(email="ada@example.org")
        self.assertIn(ada, recipients_eligible(Supporter.objects.all(), organisation=self.host, mailing_list=None))

    def test_an_erased_person_who_confirms_a_subscription_is_lifted_too(self):
        self.suppress(Reason.ERASED)
        self.post("/subscribe/", sign_data(lists=[self.news.pk]))
        self.post(link_in_last_email(SIGNUP_CONFIRM_LINK), {})
        self.assertFalse(is_suppressed("ada@example.org"))

    def test_a_complaint_is_not_lifted_by_confirming(self):
        self.suppress(Reason.COMPLAINT)
        self.sign(opt_in="on")
        self.post(link_in_last_email(SIGNATURE_CONFIRM_LINK), {})
        self.assertTrue(is_suppressed("ada@example.org"))
        self.assertFalse(recipients_eligible(Supporter.objects.all(), organisation=self.host, mailing_list=None).exists())

    def test_a_reminder_nobody_asked_for_is_not_sent_for_any_reason(self):
        for reason in CONFIRMATION_SENT:
            with self.subTest(reason=reason):
                petition = make_petition(slug=f"remind-{reason}".replace("_", "-"), organisation=self.host)
                self.sign(petition, email="ada@example.org")
                self.suppress(reason)
                with later(settings.CONFIRM_REMINDER_AFTER):
                    signatures_remind()
                self.assertEqual(self.sent_to_ada(), [])
                Supporter.objects.filter(email="ada@example.org").delete()
                Suppression.objects.all().delete()


class BulkAndImportTests(SuppressionReasonTestCase):
    def test_no_reason_lets_bulk_mail_through(self):
        for reason in CONFIRMATION_SENT:
            with self.subTest(reason=reason):
                email = f"bulk-{reason}@example.org"
                self.suppress(reason, email=email)
                if reason == Reason.ERASED:  # back as new, not yet confirmed
                    self.sign(make_petition(slug=f"bulk-{reason}", organisation=self.host), email=email, opt_in="on")
                supporter = make_supporter(email, organisation=self.host)
                eligible = recipients_eligible(Supporter.objects.all(), organisation=self.host, mailing_list=None)
                self.assertNotIn(supporter, eligible)

    def test_no_reason_lets_an_import_through(self):
        for reason in CONFIRMATION_SENT:
            with self.subTest(reason=reason):
                email = f"import-{reason}@example.org"
                self.suppress(reason, email=email)
                subscriber_import = SubscriberImport.objects.create(
                    mailing_list=self.news, file_name="x.csv", consent_wording="Old newsletter form",
                    consent_given_at=datetime(2019, 3, 1, tzinfo=UTC), column_map=imports.columns_guess(["Email"]),
                )
                subscribers_import(subscriber_import=subscriber_import, data=f"Email\n{email}\n".encode())
                self.assertFalse(Supporter.objects.filter(email=email).exists())
