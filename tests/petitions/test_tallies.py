"""The tallies agree with a recount from the signatures table, whatever happens to the
signatures: a seeded random walk of signing (held or not), confirming, releasing, invalidating,
anonymising (retention), erasing people and purging, with a recount after every step
(docs/design.md, "Figures come from tallies").

The seed is in every failure message; replay one with TALLY_SEED=<seed>.
"""

import os
import random
from collections import Counter
from datetime import UTC, timedelta
from unittest.mock import patch

from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from engage.models import Supporter
from engage.services.erasure import supporter_erase
from petitions.models import OptInTally, Petition, PlaceTally, Signature, SignatureTally
from petitions.services.counts import counts_reconcile
from petitions.services.erasure import signatures_strip
from petitions.services.lifecycle import petition_set_status
from petitions.services.retention import signatures_anonymise_due
from petitions.services.signing import (
    signature_confirm,
    signatures_invalidate,
    signatures_release,
    signatures_unconfirmed_purge,
)
from petitions.services.tallies import tallies_rebuild
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_cosponsorship, make_petition, make_signature

AREAS = [("GB", "S70 2AB"), ("GB", "LS1 4AP"), ("GB", "NP22 3XA"), ("GB", "SW1A 1AA"), ("FR", "75001"), ("IE", "")]
SOURCES = ["", "newsletter", "twitter"]


def recount(petition) -> dict[str, Counter]:
    """The tallies' figures counted afresh from the signatures, written independently of
    petitions.services.tallies."""
    signatures, places, opt_ins = Counter(), Counter(), Counter()
    for s in Signature.objects.filter(petition=petition, status=Signature.Status.CONFIRMED):
        at = (s.confirmed_at or s.created_at).astimezone(UTC)
        hour = at.replace(minute=0, second=0, microsecond=0)
        partner = s.partner_id or 0
        signatures[(hour, partner, s.source, s.new_supporter)] += 1
        places[(at.date(), partner, s.country, s.postcode_area)] += 1
        for organisation in {box["organisation_id"] for box in s.opt_ins_pending}:
            opt_ins[(hour, organisation, partner)] += 1
    return {"signatures": signatures, "places": places, "opt_ins": opt_ins}


def tallied(petition) -> dict[str, Counter]:
    def nonzero(rows):
        return Counter({tuple(key): n for *key, n in rows if n})

    return {
        "signatures": nonzero(SignatureTally.objects.filter(petition=petition).values_list(
            "hour", "partner_key", "source", "new_supporter", "signatures")),
        "places": nonzero(PlaceTally.objects.filter(petition=petition).values_list(
            "day", "partner_key", "country", "postcode_area", "signatures")),
        "opt_ins": nonzero(OptInTally.objects.filter(petition=petition).values_list(
            "hour", "organisation_key", "partner_key", "opt_ins")),
    }


class TalliesAgreeWithARecount(CosponsoredTestCase):
    steps = 160

    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("TALLY_SEED") or random.SystemRandom().randrange(10**9))
        self.random = random.Random(self.seed)
        self.emails = 0

    def check(self, petition, step):
        message = f"TALLY_SEED={self.seed}, after step {step}"
        self.assertEqual(tallied(petition), recount(petition), message)

    def sign(self, petition):
        r = self.random
        self.emails += 1
        # Some addresses sign twice (nothing changes), some are people we knew already.
        email = f"p{r.randrange(self.emails + 1)}@example.org" if r.random() < 0.2 else f"s{self.emails}@example.org"
        country, postcode = r.choice(AREAS)
        make_signature(
            petition=petition, email=email, country=country, postcode=postcode, opt_in=r.random() < 0.5,
            boxes=r.sample(["we-own-it", "keep-our-nhs-public"], r.randrange(3)),
            partner=r.choice([None, self.partner, self.other_partner]), source=r.choice(SOURCES),
            hold_reason=Signature.HoldReason.RATE_LIMIT if r.random() < 0.2 else "",
        )

    def some(self, petition, *statuses, k=3):
        rows = Signature.objects.filter(petition=petition)
        if statuses:
            rows = rows.filter(status__in=statuses)
        ids = list(rows.values_list("pk", flat=True))
        return self.random.sample(ids, min(len(ids), self.random.randrange(1, k + 1)))

    def step(self, petition, now):
        r = self.random
        action = r.choices(
            ["sign", "confirm", "release", "invalidate", "anonymise", "erase", "purge", "later"],
            weights=[30, 30, 8, 8, 5, 5, 3, 6],
        )[0]
        if action == "sign":
            self.sign(petition)
        elif action == "confirm":
            for pk in self.some(petition, Signature.Status.PENDING, Signature.Status.CONFIRMED):
                with self.captureOnCommitCallbacks(execute=True):
                    signature_confirm(signature=Signature.objects.get(pk=pk))
        elif action == "release":
            with self.captureOnCommitCallbacks(execute=True):
                signatures_release(signature_ids=self.some(petition, Signature.Status.HELD))
        elif action == "invalidate":
            signatures_invalidate(signature_ids=self.some(petition))
        elif action == "anonymise":
            signatures_strip(Signature.objects.filter(pk__in=self.some(petition)))
        elif action == "erase":
            ids = self.some(petition)
            for supporter in Supporter.objects.filter(signatures__pk__in=ids).distinct():
                supporter_erase(supporter=supporter)
        elif action == "purge":
            Signature.objects.filter(pk__in=self.some(petition, Signature.Status.PENDING)).update(
                created_at=timezone.now() - timedelta(days=40)
            )
            signatures_unconfirmed_purge()
        return action

    def test_after_every_step_of_a_random_walk(self):
        done = Counter()
        clock = timezone.now()
        for n in range(self.steps):
            # Time moves on in hours, so signatures are tallied in several hours and days.
            if self.random.random() < 0.15:
                clock += timedelta(hours=self.random.choice([1, 5, 26]))
            with patch("django.utils.timezone.now", return_value=clock):
                done[self.step(self.petition, clock)] += 1
            self.check(self.petition, f"{n} ({done})")
        # The walk did each thing at least once (else the seed proves little: the assertion names it).
        for action in ("sign", "confirm", "release", "invalidate", "anonymise", "erase"):
            self.assertTrue(done[action], f"TALLY_SEED={self.seed} never did {action}: {done}")
        self.assertTrue(SignatureTally.objects.filter(petition=self.petition, signatures__gt=0).exists())
        # The rebuild writes exactly what was kept up to date.
        before = tallied(self.petition)
        tallies_rebuild(petition=self.petition)
        self.assertEqual(tallied(self.petition), before, f"TALLY_SEED={self.seed}")

    def test_retention_and_the_repair_command(self):
        for _ in range(30):
            self.sign(self.petition)
        for pk in self.some(self.petition, Signature.Status.PENDING, k=20):
            with self.captureOnCommitCallbacks(execute=True):
                signature_confirm(signature=Signature.objects.get(pk=pk))
        self.check(self.petition, "signing")
        petition_set_status(petition=self.petition, status=Petition.Status.CLOSED, at=timezone.now() - timedelta(days=400))
        Petition.objects.filter(pk=self.petition.pk).update(closed_at=timezone.now() - timedelta(days=400))
        self.assertGreater(signatures_anonymise_due(), 0)
        self.check(self.petition, "retention")
        self.assertFalse(OptInTally.objects.filter(petition=self.petition, opt_ins__gt=0).exists())
        # Damage, then repair with the command.
        SignatureTally.objects.filter(petition=self.petition).update(signatures=99)
        PlaceTally.objects.filter(petition=self.petition).delete()
        call_command("tallies_rebuild", "--petition", self.petition.slug, stdout=open(os.devnull, "w"))
        self.check(self.petition, "repair")
        total = sum(SignatureTally.objects.filter(petition=self.petition).values_list("signatures", flat=True))
        counts_reconcile()
        self.petition.refresh_from_db()
        self.assertEqual(total, self.petition.signature_count)


class TalliesOfOnePetitionOnly(TestCase):
    def test_a_second_petition_keeps_its_own_rows(self):
        from tests.support.factories import make_organisation, make_partner

        make_organisation()
        partner = make_partner()
        one, two = make_petition(slug="one"), make_petition(slug="two")
        make_cosponsorship(petition=two, organisation=partner)
        make_signature(petition=one, email="a@example.org", confirm=True, opt_in=True)
        make_signature(petition=two, email="a@example.org", confirm=True, boxes=["we-own-it"], partner=partner)
        make_signature(petition=two, email="b@example.org", confirm=True, partner=partner, source="x")
        self.assertEqual(sum(SignatureTally.objects.filter(petition=one).values_list("signatures", flat=True)), 1)
        row = SignatureTally.objects.get(petition=two, source="x")
        self.assertEqual((row.partner_key, row.signatures, row.new_supporter), (partner.pk, 1, True))
        self.assertEqual(list(OptInTally.objects.filter(petition=two).values_list("organisation_key", "opt_ins")), [(partner.pk, 1)])
        tallies_rebuild(petition=one)
        self.assertEqual(SignatureTally.objects.filter(petition=two).count(), 2)


# --- at the same moment, on real PostgreSQL -------------------------------------------------------

import pytest  # noqa: E402

from tests.petitions.test_concurrency import run_concurrently  # noqa: E402


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_surge_on_one_hot_row_with_invalidations_and_a_rebuild_alongside_loses_nothing():
    """Many confirmations adding to the same tally rows at once, invalidations and erasures of
    some of them and a rebuild meanwhile: no deadlock, and the tallies equal a recount."""
    from tests.support.factories import make_organisation, make_partner

    make_organisation()
    partner = make_partner()
    petition = make_petition()
    make_cosponsorship(petition=petition, organisation=partner)
    signatures = [
        make_signature(petition=petition, email=f"surge{n}@example.org", opt_in=True, boxes=["we-own-it"], on_commit=False)
        for n in range(24)
    ]

    def act(n):
        signature = signatures[n]
        signature_confirm(signature=signature)
        if n % 4 == 0:
            signatures_invalidate(signature_ids=[signatures[(n + 1) % len(signatures)].pk])
        if n % 6 == 1:
            supporter_erase(supporter=Supporter.objects.get(signatures__pk=signatures[(n + 2) % len(signatures)].pk))
        if n == 12:
            tallies_rebuild(petition=petition)

    assert run_concurrently(len(signatures), act) == []
    counted = recount(petition)
    assert tallied(petition) == counted
    assert sum(counted["signatures"].values()) == Signature.objects.filter(status=Signature.Status.CONFIRMED).count() > 0
