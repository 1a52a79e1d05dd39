"""The purge of unconfirmed signatures deletes a person only when nothing else of theirs is
held: a subscriber (or anyone with a consent row) who never confirmed a signature stays."""

from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.test import TestCase
from django.utils import timezone

from engage.models import Consent, MailingList, Subscription, Supporter
from engage.services.consent import consent_record
from engage.services.erasure import supporter_erase
from engage.services.subscriptions import subscription_set
from petitions.models import Signature
from petitions.services.signing import petition_sign, signatures_unconfirmed_purge
from tests.support.factories import make_organisation, make_petition

PERSON = {"first_name": "Ada", "last_name": "Lovelace", "country": "GB", "postcode": "S70 2AB"}


def _sign(petition, email):
    return petition_sign(petition=petition, email=email, opt_in=False, source="", ip="192.0.2.1", **PERSON).signature


class PurgeKeepsPeopleTests(TestCase):
    def setUp(self):
        self.petition = make_petition()
        self.news = MailingList.objects.create(organisation=make_organisation(), slug="news", name="News")

    def purge_after_the_period(self):
        later = timezone.now() + settings.UNCONFIRMED_PURGE_AFTER + timedelta(hours=1)
        with mock.patch("django.utils.timezone.now", return_value=later):
            return signatures_unconfirmed_purge()

    def test_it_keeps_a_subscriber_whose_signature_was_never_confirmed(self):
        signature = _sign(self.petition, "subscriber@example.org")
        subscription_set(
            supporter=signature.supporter, mailing_list=self.news, subscribed=True, wording="Email me News", source="test"
        )

        self.assertEqual(self.purge_after_the_period(), 1)

        self.assertFalse(Signature.objects.filter(pk=signature.pk).exists())
        self.assertTrue(Supporter.objects.filter(pk=signature.supporter_id).exists())
        self.assertTrue(
            Subscription.objects.filter(supporter_id=signature.supporter_id, status=Subscription.Status.SUBSCRIBED).exists()
        )

    def test_it_keeps_someone_whose_opt_out_must_go_on_being_honoured(self):
        signature = _sign(self.petition, "opted-out@example.org")
        consent_record(
            supporter=signature.supporter, organisation=self.petition.organisation, given=False, wording="Stop", source="test"
        )

        self.purge_after_the_period()

        self.assertTrue(Consent.objects.filter(supporter_id=signature.supporter_id, given=False).exists())

    def test_it_deletes_someone_with_nothing_else_here(self):
        signature = _sign(self.petition, "only-signed@example.org")

        self.purge_after_the_period()

        self.assertFalse(Supporter.objects.filter(pk=signature.supporter_id).exists())

    def test_it_purges_a_batch_that_holds_an_erased_persons_signature(self):
        erased = _sign(self.petition, "erased@example.org")
        other = _sign(self.petition, "other@example.org")
        supporter_erase(supporter=erased.supporter)  # the signature stays, without its person

        self.assertEqual(self.purge_after_the_period(), 2)

        self.assertFalse(Signature.objects.filter(pk__in=[erased.pk, other.pk]).exists())
        self.assertFalse(Supporter.objects.filter(pk=other.supporter_id).exists())
