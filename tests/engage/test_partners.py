"""Partner keys (shown once, stored as a hash, revocable) and the one selector that decides which
supporters a partner may receive: the latest consent row for that partner is an opt-in."""

from datetime import timedelta
from unittest.mock import patch

from django.test import TestCase
from django.utils import timezone

from engage.models import PartnerApiKey
from engage.partners import organisation_origins, origin_valid
from engage.selectors import partner_opt_ins_current
from engage.services.consent import consent_record
from engage.services.partner_keys import (
    partner_api_key_authenticate,
    partner_api_key_create,
    partner_api_key_hash,
    partner_api_key_revoke,
)
from engage.services.supporters import supporter_get_or_create
from tests.support.factories import make_other_partner, make_partner


def person(email):
    return supporter_get_or_create(email=email, first_name="P", last_name="Q", country="GB", postcode="S70 2AB")[0]


class KeyTests(TestCase):
    def setUp(self):
        self.partner = make_partner()

    def test_the_plain_key_is_returned_once_and_only_its_hash_is_stored(self):
        key, plain = partner_api_key_create(organisation=self.partner, name="CRM sync")
        self.assertTrue(plain.startswith("mpk_"))
        self.assertGreaterEqual(len(plain), 40)
        stored = PartnerApiKey.objects.get(pk=key.pk)
        self.assertEqual(stored.key_hash, partner_api_key_hash(plain))
        self.assertEqual(stored.prefix, plain[:12])
        self.assertNotIn(plain, [str(v) for v in PartnerApiKey.objects.values_list().get()])

    def test_it_authenticates_a_live_key_and_notes_its_use(self):
        key, plain = partner_api_key_create(organisation=self.partner, name="CRM")
        found = partner_api_key_authenticate(plain=plain)
        self.assertEqual(found.pk, key.pk)
        self.assertEqual(found.organisation, self.partner)
        key.refresh_from_db()
        self.assertIsNotNone(key.last_used_at)

    def test_it_writes_last_used_at_at_most_every_few_minutes(self):
        _, plain = partner_api_key_create(organisation=self.partner, name="CRM")
        partner_api_key_authenticate(plain=plain)
        with self.assertNumQueries(1):
            partner_api_key_authenticate(plain=plain)
        later = timezone.now() + timedelta(minutes=6)
        with patch("django.utils.timezone.now", return_value=later), self.assertNumQueries(2):
            partner_api_key_authenticate(plain=plain)

    def test_unknown_malformed_and_revoked_keys_fail(self):
        key, plain = partner_api_key_create(organisation=self.partner, name="CRM")
        for bad in ("", "mpk_", plain + "x", plain[:-1], "x" * 1000, "mpk_" + "a" * 500):
            with self.subTest(bad=bad[:20]):
                self.assertIsNone(partner_api_key_authenticate(plain=bad))
        self.assertTrue(partner_api_key_revoke(key=key))
        self.assertFalse(partner_api_key_revoke(key=key))
        self.assertIsNone(partner_api_key_authenticate(plain=plain))


class OriginTests(TestCase):
    def test_it_accepts_origins_only(self):
        for good in ("https://weownit.org.uk", "http://127.0.0.1:8001", "https://a-b.example.co.uk:443"):
            self.assertTrue(origin_valid(good), good)
        for bad in ("*", "https://", "weownit.org.uk", "https://weownit.org.uk/path", "https://a.org; script-src *",
                    "javascript:alert(1)", "https://-bad.org", "ftp://x.org", "https://a.org 'unsafe-inline'"):
            self.assertFalse(origin_valid(bad), bad)

    def test_an_organisations_list_keeps_only_valid_origins_lower_cased(self):
        partner = make_partner(origins="https://WeOwnIt.org.uk/\n\n  https://www.weownit.org.uk  \n*\nhttps://x.org; frame-ancestors *")
        self.assertEqual(organisation_origins(partner), ["https://weownit.org.uk", "https://www.weownit.org.uk"])


class OptInSelectorTests(TestCase):
    def setUp(self):
        self.a = make_partner()
        self.b = make_other_partner(origins="")

    def record(self, supporter, organisation, given):
        return consent_record(supporter=supporter, organisation=organisation, given=given, wording="w", source="test")

    def emails(self, organisation, **kwargs):
        return [row.supporter.email for row in partner_opt_ins_current(organisation=organisation, **kwargs)]

    def test_it_lists_only_people_whose_latest_row_for_the_partner_is_an_opt_in(self):
        ada, bob, cat, dan = (person(f"{n}@example.org") for n in ("ada", "bob", "cat", "dan"))
        self.record(ada, self.a, True)
        self.record(bob, self.b, True)
        self.record(cat, self.a, True)
        self.record(cat, self.a, False)  # withdrew
        self.record(dan, self.a, False)
        self.record(dan, self.a, True)  # opted in again
        self.assertEqual(self.emails(self.a), ["ada@example.org", "dan@example.org"])
        self.assertEqual(self.emails(self.b), ["bob@example.org"])

    def test_one_row_per_person_however_often_they_opted_in(self):
        ada = person("ada@example.org")
        self.record(ada, self.a, True)
        latest = self.record(ada, self.a, True)
        rows = list(partner_opt_ins_current(organisation=self.a))
        self.assertEqual([row.pk for row in rows], [latest.pk])

    def test_a_withdrawal_takes_effect_at_once(self):
        ada = person("ada@example.org")
        self.record(ada, self.a, True)
        self.assertEqual(self.emails(self.a), ["ada@example.org"])
        self.record(ada, self.a, False)
        self.assertEqual(self.emails(self.a), [])

    def test_another_organisations_rows_change_nothing(self):
        ada = person("ada@example.org")
        self.record(ada, self.a, True)
        self.record(ada, self.b, False)
        self.assertEqual(self.emails(self.a), ["ada@example.org"])

    def test_since_keeps_opt_ins_at_or_after_it(self):
        ada, bob = person("ada@example.org"), person("bob@example.org")
        self.record(ada, self.a, True)
        later = self.record(bob, self.a, True)
        self.assertEqual(self.emails(self.a, since=later.created_at), ["bob@example.org"])
        self.assertEqual(self.emails(self.a, since=later.created_at + timedelta(seconds=1)), [])

    def test_it_runs_one_query(self):
        for n in range(5):
            self.record(person(f"p{n}@example.org"), self.a, True)
        with self.assertNumQueries(1):
            rows = list(partner_opt_ins_current(organisation=self.a))
            [row.supporter.email for row in rows]
