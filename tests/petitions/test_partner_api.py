"""The partner API: a key reads its own organisation's opted-in supporters and no one else's,
never a supporter who did not opt in to it (or withdrew, or never confirmed), and a revoked key
reads nothing."""

import csv
import io

from django.core import mail

from engage.links import preferences_token
from engage.services.consent import consent_record
from engage.services.partner_keys import partner_api_key_create, partner_api_key_revoke
from engage.services.supporters import supporter_get_or_create
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_signature
from tests.support.web import SIGNATURE_CONFIRM_LINK

LIST = "/api/partner/supporters"
CSV = "/api/partner/supporters.csv"


class PartnerApiTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        self.a, self.b = self.partner, self.other_partner
        self.key_a, self.plain_a = partner_api_key_create(organisation=self.a, name="A's CRM")
        self.key_b, self.plain_b = partner_api_key_create(organisation=self.b, name="B's CRM")
        self.sign_as("ada@example.org", ["we-own-it"])
        self.sign_as("bob@example.org", ["keep-our-nhs-public"])
        self.sign_as("cat@example.org", ["we-own-it", "keep-our-nhs-public"])
        self.sign_as("dan@example.org", [])
        self.sign_as("fay@example.org", ["we-own-it"], confirm=False)

    def sign_as(self, email, boxes, *, confirm=True):
        """`email` signs this test's petition, ticking the host's box and the co-sponsors' `boxes`."""
        return make_signature(
            petition=self.petition, email=email, first_name=email.split("@")[0].title(), last_name="Example",
            opt_in=True, boxes=boxes, confirm=confirm,
        )

    def get(self, url=LIST, key=None, **params):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        return self.client.get(url, params, **headers)

    def emails(self, key, **params):
        response = self.get(key=key, **params)
        self.assertEqual(response.status_code, 200, response.content)
        return sorted(row["email"] for row in response.json()["results"])


class IsolationTests(PartnerApiTestCase):
    def test_each_key_reads_only_its_own_opted_in_and_confirmed_supporters(self):
        self.assertEqual(self.emails(self.plain_a), ["ada@example.org", "cat@example.org"])
        self.assertEqual(self.emails(self.plain_b), ["bob@example.org", "cat@example.org"])

    def test_a_row_says_who_and_which_consent(self):
        row = next(r for r in self.get(key=self.plain_a).json()["results"] if r["email"] == "ada@example.org")
        self.assertEqual(
            set(row), {"email", "first_name", "last_name", "country", "postcode", "opted_in_at", "wording", "source"}
        )
        self.assertEqual(row["first_name"], "Ada")
        self.assertEqual(row["postcode"], "S70 2AB")
        self.assertEqual(row["wording"], "Keep me updated by We Own It. You can unsubscribe at any time.")
        self.assertEqual(row["source"], "petition:scrap-the-icp-contract")

    def test_the_hosts_opt_ins_are_not_a_partners(self):
        host_key = partner_api_key_create(organisation=self.petition.organisation, name="host")[1]
        # Everyone ticked the host's box, but it is the host's list, not a partner's; fay has not
        # confirmed, so her ticked box is not on anyone's ledger yet.
        self.assertEqual(len(self.emails(host_key)), 4)
        self.assertNotIn("dan@example.org", self.emails(self.plain_a))

    def test_a_withdrawal_removes_the_person_at_once(self):
        cat = supporter_get_or_create(email="cat@example.org", first_name="", last_name="", country="GB", postcode="")[0]
        # What the preference centre writes when cat unticks We Own It.
        consent_record(supporter=cat, organisation=self.a, given=False, wording="Unticked We Own It", source="preferences")
        self.assertEqual(self.emails(self.plain_a), ["ada@example.org"])
        self.assertEqual(self.emails(self.plain_b), ["bob@example.org", "cat@example.org"])
        csv_emails = [row["email"] for row in csv.DictReader(io.StringIO(self.csv_text(self.plain_a)))]
        self.assertEqual(csv_emails, ["ada@example.org"])

    def test_unticking_the_partner_on_the_preference_page_removes_the_person_at_once(self):
        cat = supporter_get_or_create(email="cat@example.org", first_name="", last_name="", country="GB", postcode="")[0]
        page = self.client.get(f"/preferences/{preferences_token(cat)}/")
        self.assertContains(page, "We Own It")
        # Keep the host and Keep Our NHS Public ticked; untick We Own It.
        keep = [self.petition.organisation.pk, self.b.pk]
        response = self.client.post(f"/preferences/{preferences_token(cat)}/choices", {"organisations": keep})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.emails(self.plain_a), ["ada@example.org"])
        self.assertEqual(self.emails(self.plain_b), ["bob@example.org", "cat@example.org"])

    def test_an_unconfirmed_signer_is_never_shared_until_they_confirm(self):
        self.assertNotIn("fay@example.org", self.emails(self.plain_a))
        self.post(SIGNATURE_CONFIRM_LINK.search(next(m for m in mail.outbox if m.to == ["fay@example.org"]).body).group(1))
        self.assertIn("fay@example.org", self.emails(self.plain_a))

    def csv_text(self, key, **params):
        response = self.get(CSV, key=key, **params)
        self.assertEqual(response.status_code, 200)
        return b"".join(response.streaming_content).decode()


class AuthTests(PartnerApiTestCase):
    def test_missing_wrong_and_revoked_keys_get_401_and_no_data(self):
        partner_api_key_revoke(key=self.key_b)
        cases = {
            "no header": {},
            "revoked": {"HTTP_AUTHORIZATION": f"Bearer {self.plain_b}"},
            "unknown": {"HTTP_AUTHORIZATION": "Bearer mpk_notakey"},
            "basic scheme": {"HTTP_AUTHORIZATION": f"Basic {self.plain_a}"},
            "empty bearer": {"HTTP_AUTHORIZATION": "Bearer "},
            "query string": {},
        }
        for name, headers in cases.items():
            for url in (LIST, CSV):
                with self.subTest(name=name, url=url):
                    response = self.client.get(url, {"key": self.plain_a} if name == "query string" else {}, **headers)
                    self.assertEqual(response.status_code, 401)
                    self.assertEqual(response.json()["error"], "unauthorized")
                    self.assertIn("Bearer", response["WWW-Authenticate"])
                    self.assertNotIn(b"example.org", response.content)

    def test_revoking_takes_effect_on_the_next_request(self):
        self.assertEqual(self.get(key=self.plain_a).status_code, 200)
        partner_api_key_revoke(key=self.key_a)
        self.assertEqual(self.get(key=self.plain_a).status_code, 401)

    def test_answers_are_not_cached_or_shared_with_browsers(self):
        response = self.get(key=self.plain_a)
        self.assertIn("no-store", response["Cache-Control"])
        self.assertNotIn("Access-Control-Allow-Origin", response)


class PagingTests(PartnerApiTestCase):
    def setUp(self):
        super().setUp()
        for n in range(5):
            self.sign_as(f"extra{n}@example.org", ["we-own-it"])

    def test_following_next_links_gives_everyone_once(self):
        seen, url, pages = [], LIST + "?limit=3", 0
        while url:
            response = self.client.get(url, HTTP_AUTHORIZATION=f"Bearer {self.plain_a}")
            self.assertEqual(response.status_code, 200)
            body = response.json()
            self.assertLessEqual(len(body["results"]), 3)
            seen += [row["email"] for row in body["results"]]
            url = body["next"]
            pages += 1
        self.assertEqual(pages, 3)
        self.assertEqual(len(seen), 7)
        self.assertEqual(len(set(seen)), 7)
        self.assertEqual(seen[:2], ["ada@example.org", "cat@example.org"])  # oldest opt-in first

    def test_since_filters_by_the_opt_in_time(self):
        rows = self.get(key=self.plain_a).json()["results"]
        since = rows[3]["opted_in_at"]
        self.assertEqual([r["email"] for r in self.get(key=self.plain_a, since=since).json()["results"]], [r["email"] for r in rows[3:]])
        self.assertEqual(self.get(key=self.plain_a, since="2000-01-01").json()["results"], rows)
        self.assertEqual(self.get(key=self.plain_a, since="2999-01-01").json()["results"], [])
        self.assertEqual(len(list(csv.reader(io.StringIO(IsolationTests.csv_text(self, self.plain_a, since=since))))), 5)

    def test_bad_parameters_get_400_with_field_errors(self):
        cases = {"since": ["yesterday", "2026-13-01", "2026-02-30T10:00"], "limit": ["0", "501", "ten", "-1"],
                 "cursor": ["!!!", "bm90IGEgY3Vyc29y", "MjAyNi0wMS0wMVQwMDowMDowMHxhYmM"]}  # fmt: skip
        for field, values in cases.items():
            for value in values:
                with self.subTest(field=field, value=value):
                    response = self.get(key=self.plain_a, **{field: value})
                    self.assertEqual(response.status_code, 400)
                    self.assertIn(field, response.json()["fields"])
        self.assertEqual(self.get(CSV, key=self.plain_a, since="nope").status_code, 400)

    def test_a_page_costs_two_queries_once_the_key_was_used_recently(self):
        self.get(key=self.plain_a)
        with self.assertNumQueries(2):  # the key with its organisation, then the page
            self.assertEqual(self.get(key=self.plain_a, limit=5).status_code, 200)


class CsvTests(PartnerApiTestCase):
    def test_it_exports_the_same_people_with_formulas_neutralised(self):
        evil = supporter_get_or_create(email="evil@example.org", first_name="=HYPERLINK(1)", last_name="@SUM(A1)", country="GB", postcode="")[0]
        consent_record(supporter=evil, organisation=self.a, given=True, wording="w", source="test")
        response = self.get(CSV, key=self.plain_a)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response["Content-Type"].startswith("text/csv"))
        self.assertIn('filename="supporters-we-own-it-', response["Content-Disposition"])
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        self.assertEqual([r["email"] for r in rows], ["ada@example.org", "cat@example.org", "evil@example.org"])
        self.assertEqual(rows[2]["first_name"], "'=HYPERLINK(1)")
        self.assertEqual(rows[2]["last_name"], "'@SUM(A1)")

    def test_another_partners_csv_does_not_hold_them(self):
        text = b"".join(self.get(CSV, key=self.plain_b).streaming_content).decode()
        self.assertNotIn("ada@example.org", text)
        self.assertIn("bob@example.org", text)
