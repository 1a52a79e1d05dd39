"""Engage's migration 0007: supporters stored under NFC, NFD and punycode spellings of one
address, written before normalisation (raw rows, no normaliser), become one person with all
of their history, in order, and the suppression keyed by an old spelling follows them."""

import hashlib
import hmac
import unicodedata
from datetime import timedelta
from importlib import import_module

import idna
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from engage.models import (
    Affiliate,
    Consent,
    DataExport,
    Membership,
    Signup,
    Subscription,
    SubscriptionEvent,
    Supporter,
    SupporterChange,
    Suppression,
)
from engage.services.supporter_merge import supporters_merge_by_address
from engage.suppression import email_digest, email_hash, is_suppressed
from mailings.models import Delivery, OutboundEmail, SoftBounceCount, WebhookEvent
from petitions.models import Signature
from tests.support.base import MusterTestCase
from tests.support.factories import make_mailing, make_petition

NFC = "zoe@bücher-exämple.org"
NFD = unicodedata.normalize("NFD", NFC)
PUNYCODE = "Zoe@" + idna.encode("bücher-exämple.org").decode().upper() + "."
MIGRATION = "0007_supporters_merged_by_normalised_address"


def legacy_digest(email):
    return hmac.new(settings.SUPPRESSION_HASH_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).digest()


class MergeTests(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.t0 = timezone.now() - timedelta(days=30)
        # Raw rows, as they were stored before: the model's own writers would normalise the hash.
        self.nfd, self.nfc, self.puny, self.bea = Supporter._base_manager.bulk_create([
            Supporter(email=email, first_name="Zoë", last_name=str(n), link_nonce=f"nonce-{n}", email_hash=legacy_digest(email))
            for n, email in enumerate([NFD, NFC, PUNYCODE, "bea@example.org"])
        ])
        for n, supporter in enumerate([self.nfd, self.nfc, self.puny, self.bea]):
            Supporter.objects.filter(pk=supporter.pk).update(created_at=self.at(n))
        self.other_petition = make_petition(slug="save-our-hospital", title="Save our hospital")
        self.mailing = make_mailing(mailing_list=self.news)

    def at(self, days):
        return self.t0 + timedelta(days=days)

    def dated(self, row, days, field="created_at"):
        type(row)._base_manager.filter(pk=row.pk).update(**{field: self.at(days)})
        return row

    def signature(self, supporter, petition, days, **fields):
        row = Signature.objects.create(petition=petition, supporter=supporter, confirm_nonce=f"c{supporter.pk}-{petition.pk}", **fields)
        return self.dated(row, days)

    def consent(self, supporter, given, days):
        row = Consent.objects.create(supporter=supporter, organisation=self.host, given=given, wording="Keep me updated", source=str(days))
        return self.dated(row, days)

    def build_history(self):
        self.first_signature = self.signature(self.nfd, self.petition, 1)
        self.signature(self.nfc, self.petition, 2, status=Signature.Status.CONFIRMED, confirmed_at=self.at(2))
        self.signature(self.puny, self.other_petition, 3)
        self.consents = [self.consent(self.nfc, False, 5), self.consent(self.nfd, True, 4), self.consent(self.puny, True, 6)]
        Subscription.objects.create(supporter=self.nfd, mailing_list=self.news, status="subscribed", subscribed_at=self.at(1))
        Subscription.objects.create(
            supporter=self.nfc, mailing_list=self.news, status="unsubscribed", subscribed_at=self.at(2), unsubscribed_at=self.at(7)
        )
        for supporter in (self.nfd, self.nfc):
            SubscriptionEvent.objects.create(supporter=supporter, mailing_list=self.news, status="subscribed", wording="w", source="s")
        kept = Delivery.objects.create(mailing=self.mailing, supporter=self.nfd, status=Delivery.Status.SENT)
        dropped = Delivery.objects.create(mailing=self.mailing, supporter=self.puny, status=Delivery.Status.SENT)
        WebhookEvent.objects.create(esp="postmark", event_id="e1", event_type="opened", delivery=dropped)
        OutboundEmail.objects.create(dedupe_key="confirm:1", kind="signature_confirm", supporter=self.nfc, to_email=NFC)
        Membership.objects.create(supporter=self.nfc, organisation=self.host, joined_at=self.at(3))
        Membership.objects.create(supporter=self.puny, organisation=self.host, joined_at=self.at(8))
        Signup.objects.create(supporter=self.puny, kind=Signup.Kind.SUBSCRIBE)
        DataExport.objects.create(supporter=self.nfc, requested_by="supporter")
        SupporterChange.objects.create(supporter=self.puny, fields="postcode", source="preferences")
        Affiliate.objects.create(organisation=self.host, name="Zoë's group", kind="other", contact=self.nfc)
        self.dated(Suppression.objects.create(email_hash=legacy_digest(PUNYCODE).hex(), reason="hard_bounce"), 9)
        SoftBounceCount.objects.create(email_hash=legacy_digest(NFC).hex(), count=2)
        return kept

    def test_the_three_spellings_become_the_earliest_supporter_with_all_their_history(self):
        kept_delivery = self.build_history()
        self.assertEqual(supporters_merge_by_address(), 2)

        zoe = Supporter.objects.get(email=NFC)
        self.assertEqual(zoe.pk, self.nfd.pk)
        self.assertEqual(bytes(zoe.email_hash), email_digest(NFC))
        self.assertEqual(set(Supporter.objects.values_list("email", flat=True)), {NFC, "bea@example.org"})

        signatures = Signature.objects.filter(supporter=zoe).order_by("petition_id")
        self.assertEqual([(s.petition, s.pk) for s in signatures][0], (self.petition, self.first_signature.pk))
        self.assertEqual(signatures[0].status, Signature.Status.CONFIRMED)  # the later one's confirmation
        self.assertEqual(Signature.objects.count(), 2)

        ledger = list(Consent.objects.filter(supporter=zoe).order_by("created_at", "id").values_list("source", "given"))
        self.assertEqual(ledger, [("4", True), ("5", False), ("6", True)])

        subscription = Subscription.objects.get()
        self.assertEqual(
            (subscription.supporter, subscription.status, subscription.subscribed_at, subscription.unsubscribed_at),
            (zoe, "unsubscribed", self.at(1), self.at(7)),
        )
        self.assertEqual(SubscriptionEvent.objects.filter(supporter=zoe).count(), 2)
        self.assertEqual(list(Delivery.objects.values_list("pk", "supporter")), [(kept_delivery.pk, zoe.pk)])
        self.assertEqual(WebhookEvent.objects.get().delivery_id, kept_delivery.pk)
        self.assertEqual(Membership.objects.get().joined_at, self.at(3))
        for model, field in ((OutboundEmail, "supporter"), (Signup, "supporter"), (DataExport, "supporter"),
                             (SupporterChange, "supporter"), (Affiliate, "contact")):
            self.assertEqual(list(model.objects.values_list(field, flat=True)), [zoe.pk], model.__name__)

        self.assertEqual(Suppression.objects.get().email_hash, email_hash(NFC))
        self.assertTrue(is_suppressed(NFD))
        self.assertEqual(SoftBounceCount.objects.get().email_hash, email_hash(NFC))
        self.assertEqual(Supporter.objects.get(email="bea@example.org").pk, self.bea.pk)

    def test_running_it_again_changes_nothing(self):
        self.build_history()
        supporters_merge_by_address()
        self.assertEqual(supporters_merge_by_address(), 0)
        self.assertEqual(Supporter.objects.count(), 2)

    def test_the_migration_runs_it_with_its_historical_models(self):
        self.build_history()
        state = MigrationLoader(connection).project_state(("engage", MIGRATION))
        migration = import_module(f"engage.migrations.{MIGRATION}")
        migration.supporters_merge(state.apps, connection.schema_editor())
        self.assertEqual(list(Supporter.objects.order_by("pk").values_list("email", flat=True)), [NFC, "bea@example.org"])
        self.assertEqual(Consent.objects.filter(supporter_id=self.nfd.pk).count(), 3)
