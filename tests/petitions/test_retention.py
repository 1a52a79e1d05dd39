"""Retention: signatures are anonymised SIGNATURE_RETENTION_MONTHS after their petition
closes, keeping country and postcode area; only what is due, and the people left with nothing."""

from datetime import UTC, datetime, timedelta
from unittest import mock

from django.conf import settings
from django.test import TestCase
from django.utils import timezone

from config.celery import app
from engage.models import Supporter
from engage.services.subscriptions import subscription_set
from petitions import tasks
from petitions.models import Petition, Signature
from petitions.selectors import months_before
from petitions.services.counts import counts_reconcile
from tests.support.factories import make_list, make_petition, make_signature


def sign(petition, email, **fields):
    """A confirmed signature; the setUp runs what the signing deferred to commit all at once."""
    return make_signature(petition=petition, email=email, last_name=email.split("@")[0], ip="198.51.100.7",
                          confirm=True, on_commit=False, **fields)


def ended(petition, *, months_ago, days=0, status=Petition.Status.CLOSED, stamp="closed_at"):
    moment = months_before(timezone.now(), months_ago) - timedelta(days=days)
    Petition.objects.filter(pk=petition.pk).update(status=status, **{stamp: moment})


class RetentionTests(TestCase):
    def setUp(self):
        self.due = make_petition(slug="closed-long-ago")
        self.recent = make_petition(slug="closed-recently")
        self.open = make_petition(slug="still-open")
        self.handed_in = make_petition(slug="handed-in-long-ago")
        with self.captureOnCommitCallbacks(execute=True):
            sign(self.due, "only@example.org")                         # nothing else: deleted
            sign(self.due, "opted-in@example.org", opt_in=True)      # consent: kept
            sign(self.due, "two@example.org")                          # another signature: kept
            sign(self.open, "two@example.org")
            sign(self.due, "listed@example.org")                       # a subscription: kept
            sign(self.recent, "recent@example.org", postcode="LS1 4AP")
            sign(self.open, "open@example.org")
            sign(self.handed_in, "handed@example.org", postcode="M1 1AE")
        subscription_set(supporter=Supporter.objects.get(email="listed@example.org"), mailing_list=make_list(),
                         subscribed=True, wording="Email me", source="test")
        ended(self.due, months_ago=settings.SIGNATURE_RETENTION_MONTHS, days=1)
        ended(self.recent, months_ago=settings.SIGNATURE_RETENTION_MONTHS, days=-1)
        ended(self.handed_in, months_ago=settings.SIGNATURE_RETENTION_MONTHS + 2, status=Petition.Status.HANDED_IN, stamp="handed_in_at")

    def test_it_anonymises_only_what_is_due_keeping_place_and_counts(self):
        counts_reconcile()
        counts_before = dict(Petition.objects.values_list("slug", "signature_count"))
        self.assertEqual(tasks.signatures_anonymise_due.delay().get(), 5)

        anonymous = Signature.objects.filter(supporter__isnull=True)
        self.assertEqual(
            sorted(anonymous.values_list("petition__slug", "country", "postcode_area", "status", "ip_hash")),
            [("closed-long-ago", "GB", "S", "confirmed", "")] * 4 + [("handed-in-long-ago", "GB", "M", "confirmed", "")],
        )
        self.assertFalse(anonymous.filter(anonymised_at__isnull=True).exists())
        kept = Signature.objects.filter(supporter__isnull=False)
        self.assertEqual(sorted(kept.values_list("petition__slug", "supporter__email")), [
            ("closed-recently", "recent@example.org"), ("still-open", "open@example.org"), ("still-open", "two@example.org"),
        ])
        self.assertTrue(all(kept.values_list("ip_hash", flat=True)))
        self.assertEqual(
            sorted(Supporter.objects.values_list("email", flat=True)),
            ["listed@example.org", "open@example.org", "opted-in@example.org", "recent@example.org", "two@example.org"],
        )
        counts_reconcile()
        self.assertEqual(dict(Petition.objects.values_list("slug", "signature_count")), counts_before)

    def test_running_it_again_changes_nothing(self):
        tasks.signatures_anonymise_due.delay()
        self.assertEqual(tasks.signatures_anonymise_due.delay().get(), 0)

    def test_nothing_is_due_the_day_before(self):
        with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=2)):
            self.assertEqual(tasks.signatures_anonymise_due.delay().get(), 1)  # only the handed-in one
        self.assertEqual(Signature.objects.filter(petition=self.due, supporter__isnull=True).count(), 0)

    def test_the_setting_moves_the_cutoff(self):
        with self.settings(SIGNATURE_RETENTION_MONTHS=12):
            self.assertEqual(tasks.signatures_anonymise_due.delay().get(), 0)

    def test_it_runs_daily_from_beat(self):
        entry = settings.CELERY_BEAT_SCHEDULE["anonymise-signatures-past-retention"]
        self.assertIn(entry["task"], app.tasks)


def test_months_before_counts_calendar_months():
    utc = UTC
    assert months_before(datetime(2026, 8, 31, 12, tzinfo=utc), 6) == datetime(2026, 2, 28, 12, tzinfo=utc)
    assert months_before(datetime(2026, 3, 15, tzinfo=utc), 6) == datetime(2025, 9, 15, tzinfo=utc)
    assert months_before(datetime(2028, 8, 29, tzinfo=utc), 6) == datetime(2028, 2, 29, tzinfo=utc)
