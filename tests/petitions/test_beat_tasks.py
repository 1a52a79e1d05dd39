from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.test import TestCase

from engage.models import Consent, Supporter
from mailings.models import OutboundEmail
from petitions import tasks
from petitions.models import Petition, Signature
from petitions.selectors import count_key
from petitions.services.signing import PetitionNotOpen, petition_sign, signature_confirm, signatures_invalidate
from tests.support.cache import clear_test_cache
from tests.support.factories import make_petition, make_signature
from tests.support.web import later


def sign(petition, **fields):
    """Ada signs through the service; what signing defers to its commit (the confirmation
    email) never runs, as when the broker is down."""
    return make_signature(petition=petition, on_commit=False, **fields)


class SignTransactionTests(TestCase):
    def test_a_rolled_back_sign_queues_nothing(self):
        petition = make_petition()
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            try:
                with transaction.atomic():
                    petition_sign(
                        petition=petition, first_name="Ada", last_name="Lovelace", email="ada@example.org",
                        country="GB", postcode="S70 2AB", opt_in=True,
                    )
                    raise RuntimeError("the request failed after signing")
            except RuntimeError:
                pass
        self.assertEqual(callbacks, [])
        self.assertEqual(mail.outbox, [])
        self.assertFalse(Signature.objects.exists())
        self.assertFalse(Supporter.objects.exists())
        self.assertFalse(Consent.objects.exists())

    def test_it_refuses_a_closed_petition(self):
        petition = make_petition(status=Petition.Status.CLOSED)
        with self.assertRaises(PetitionNotOpen):
            sign(petition)
        self.assertFalse(Signature.objects.exists())


class ReminderTests(TestCase):
    def setUp(self):
        self.petition = make_petition()
        self.signature = make_signature(petition=self.petition)
        mail.outbox.clear()

    def test_it_sends_nothing_before_the_delay(self):
        with later(settings.CONFIRM_REMINDER_AFTER - timedelta(minutes=5)):
            tasks.signatures_remind.delay()
        self.assertEqual(mail.outbox, [])

    def test_it_reminds_once_even_when_beat_runs_twice(self):
        with later(settings.CONFIRM_REMINDER_AFTER + timedelta(minutes=1)):
            tasks.signatures_remind.delay()
            tasks.signatures_remind.delay()
        with later(settings.CONFIRM_REMINDER_AFTER + timedelta(hours=5)):
            tasks.signatures_remind.delay()
        self.assertEqual(len(mail.outbox), 1)
        self.assertIn("Reminder", mail.outbox[0].subject)
        self.assertIn("/confirm/", mail.outbox[0].body)
        self.assertEqual(OutboundEmail.objects.filter(kind="signature_reminder", status="sent").count(), 1)

    def test_a_duplicate_run_after_an_unrecorded_send_still_sends_once(self):
        # The email went out but the worker died before marking the signature reminded.
        with later(settings.CONFIRM_REMINDER_AFTER + timedelta(minutes=1)):
            tasks.signatures_remind.delay()
            Signature.objects.update(reminder_sent_at=None)
            tasks.signatures_remind.delay()
        self.assertEqual(len(mail.outbox), 1)

    def test_confirmed_signatures_are_not_reminded(self):
        signature_confirm(signature=self.signature)
        with later(settings.CONFIRM_REMINDER_AFTER + timedelta(minutes=1)):
            tasks.signatures_remind.delay()
        self.assertEqual(mail.outbox, [])


class PurgeTests(TestCase):
    def test_it_purges_only_unconfirmed_data_past_the_period(self):
        petition = make_petition()
        stale = sign(petition, email="stale@example.org", opt_in=True)
        kept_person = sign(petition, email="kept@example.org")
        other = make_petition(slug="other", title="Other")
        signature_confirm(signature=sign(other, email="kept@example.org"))
        confirmed = sign(petition, email="confirmed@example.org")
        signature_confirm(signature=confirmed)

        with later(settings.UNCONFIRMED_PURGE_AFTER - timedelta(hours=1)):
            self.assertEqual(tasks.signatures_unconfirmed_purge.delay().get(), 0)
        with later(settings.UNCONFIRMED_PURGE_AFTER + timedelta(hours=1)):
            self.assertEqual(tasks.signatures_unconfirmed_purge.delay().get(), 2)

        self.assertFalse(Signature.objects.filter(pk__in=[stale.pk, kept_person.pk]).exists())
        self.assertFalse(Supporter.objects.filter(email="stale@example.org").exists())
        self.assertFalse(Consent.objects.filter(supporter_id=stale.supporter_id).exists())
        # Someone with a confirmed signature elsewhere stays; so does every confirmed signature.
        self.assertTrue(Supporter.objects.filter(email="kept@example.org").exists())
        self.assertTrue(Signature.objects.filter(pk=confirmed.pk, status="confirmed").exists())


class OwedConfirmationTests(TestCase):
    def test_a_confirmation_never_sent_is_sent_by_the_sweeper(self):
        petition = make_petition()
        # Signed while the broker was down: the on-commit publish never happened.
        signature = sign(petition)
        self.assertIsNone(signature.confirmation_sent_at)
        tasks.confirmations_owed_send.delay()
        self.assertEqual(mail.outbox, [], "too early: the normal path may still deliver it")
        with later(settings.CONFIRM_OWED_AFTER + timedelta(minutes=1)):
            tasks.confirmations_owed_send.delay()
            tasks.confirmations_owed_send.delay()
        self.assertEqual(len(mail.outbox), 1)
        signature.refresh_from_db()
        self.assertIsNotNone(signature.confirmation_sent_at)


class CountReconcileTests(TestCase):
    def test_it_resets_the_cached_count_and_the_column(self):
        petition = make_petition()
        for n in range(3):
            signature_confirm(signature=sign(petition, email=f"p{n}@example.org"))
        sign(petition, email="pending@example.org")
        cache.set(count_key(petition.pk), 999, None)  # drifted
        with self.assertNumQueries(3):  # petitions, one grouped COUNT, one bulk UPDATE
            tasks.counts_reconcile.delay()
        petition.refresh_from_db()
        self.assertEqual(petition.signature_count, 3)
        self.assertEqual(cache.get(count_key(petition.pk)), 3)
        # Nothing changed: no UPDATE.
        with self.assertNumQueries(2):
            tasks.counts_reconcile.delay()

    def test_invalidated_signatures_stop_counting(self):
        petition = make_petition()
        signature = sign(petition)
        with self.captureOnCommitCallbacks(execute=True):
            signature_confirm(signature=signature)
        self.assertEqual(cache.get(count_key(petition.pk)), 1)
        signatures_invalidate(signature_ids=[signature.pk])
        tasks.counts_reconcile.delay()
        self.assertEqual(cache.get(count_key(petition.pk)), 0)

    def test_a_cold_cache_is_seeded_from_the_database_on_confirm(self):
        petition = make_petition()
        signature_confirm(signature=sign(petition, email="a@example.org"))
        clear_test_cache()
        with self.captureOnCommitCallbacks(execute=True):
            signature_confirm(signature=sign(petition, email="b@example.org"))
        self.assertEqual(cache.get(count_key(petition.pk)), 2)


class ClosingTests(TestCase):
    def test_petitions_close_at_their_deadline(self):
        petition = make_petition()
        tasks.petitions_close_due.delay()
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.OPEN)
        with later(timedelta(days=31)):
            tasks.petitions_close_due.delay()
        petition.refresh_from_db()
        self.assertEqual(petition.status, Petition.Status.CLOSED)
        self.assertIsNotNone(petition.closed_at)


class DeadlineTests(TestCase):
    def test_signing_stops_at_the_deadline_before_beat_closes_the_petition(self):
        petition = make_petition()
        with later(timedelta(days=31)), self.assertRaises(PetitionNotOpen):
            sign(petition)
        self.assertFalse(Signature.objects.exists())
