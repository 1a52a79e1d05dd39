"""The public count API: the summary with the live count, cacheable, and cheap: no COUNT(*),
one query when the cache is cold and none when it is warm."""

from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from petitions.models import Petition
from petitions.selectors import count_key
from petitions.services.counts import counts_reconcile
from petitions.services.lifecycle import petition_set_status
from tests.support.cache import clear_test_cache
from tests.support.factories import make_petition, make_signature


class CountApiTestCase(TestCase):
    def setUp(self):
        self.petition = make_petition(goal=250)
        self.url = f"/api/petitions/{self.petition.slug}"

    def signed(self, n, *, confirm=True):
        """n signatures through the service, confirmed unless told otherwise."""
        signatures = []
        for _ in range(n):
            self.people = getattr(self, "people", 0) + 1
            signatures.append(make_signature(
                petition=self.petition, first_name="Person", last_name=f"Number {self.people}",
                email=f"person{self.people}@example.org", confirm=confirm,
            ))
        return signatures

    def get(self, **headers):
        return self.client.get(self.url, **headers)

    def count_queries(self, queries):
        return [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


class SummaryTests(CountApiTestCase):
    def test_it_returns_the_public_summary_as_json(self):
        self.signed(2)
        self.signed(1, confirm=False)
        response = self.get()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        data = response.json()
        self.assertEqual(data["slug"], self.petition.slug)
        self.assertEqual(data["title"], "Scrap the ICP contract")
        self.assertEqual(data["signature_count"], 2)
        self.assertEqual(data["goal"], 250)
        self.assertEqual(data["status"], "open")
        self.assertEqual(data["closes_at"], self.petition.closes_at.isoformat())
        self.assertEqual(data["url"], f"http://testserver/p/{self.petition.slug}/")
        # Nothing about people.
        self.assertNotIn("example.org", response.content.decode())

    def test_it_has_cache_headers(self):
        response = self.get()
        self.assertIn("max-age=", response["Cache-Control"])
        self.assertIn("public", response["Cache-Control"])
        self.assertRegex(response["ETag"], r'^"[0-9a-f]+"$')
        self.assertEqual(response["Access-Control-Allow-Origin"], "*")

    def test_a_matching_if_none_match_gets_304_with_an_empty_body(self):
        etag = self.get()["ETag"]
        response = self.get(HTTP_IF_NONE_MATCH=etag)
        self.assertEqual(response.status_code, 304)
        self.assertEqual(response.content, b"")
        self.assertEqual(response["ETag"], etag)
        self.assertIn("max-age=", response["Cache-Control"])

        listed = self.get(HTTP_IF_NONE_MATCH=f'"something-else", {etag}')
        self.assertEqual(listed.status_code, 304)

    def test_a_stale_if_none_match_gets_the_full_body(self):
        response = self.get(HTTP_IF_NONE_MATCH='"stale"')
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["slug"], self.petition.slug)

    def test_the_etag_changes_after_a_confirmation(self):
        first = self.get()
        self.signed(1)
        response = self.get(HTTP_IF_NONE_MATCH=first["ETag"])
        self.assertEqual(response.status_code, 200)
        self.assertNotEqual(response["ETag"], first["ETag"])
        self.assertEqual(response.json()["signature_count"], 1)

    def test_the_etag_does_not_change_for_an_unconfirmed_signature(self):
        etag = self.get()["ETag"]
        self.signed(1, confirm=False)
        self.assertEqual(self.get(HTTP_IF_NONE_MATCH=etag).status_code, 304)

    def test_the_status_follows_the_petition(self):
        petition_set_status(petition=self.petition, status=Petition.Status.CLOSED)
        self.assertEqual(self.get().json()["status"], "closed")

    def test_an_unknown_petition_is_a_json_404(self):
        response = self.client.get("/api/petitions/no-such-petition")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertEqual(response.json()["error"], "not_found")

    def test_a_draft_is_a_json_404(self):
        draft = make_petition(slug="a-draft", status=Petition.Status.DRAFT)
        response = self.client.get(f"/api/petitions/{draft.slug}")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["error"], "not_found")

    def test_other_methods_are_not_allowed(self):
        for method in ("post", "put", "delete"):
            with self.subTest(method=method):
                response = getattr(self.client, method)(self.url)
                self.assertEqual(response.status_code, 405)
        self.assertEqual(self.get().json()["signature_count"], 0)


class QueryTests(CountApiTestCase):
    def test_a_cold_cache_costs_at_most_one_query_and_no_count(self):
        self.signed(3)
        clear_test_cache()
        with CaptureQueriesContext(connection) as queries:
            response = self.get()
        self.assertEqual(response.status_code, 200)
        self.assertLessEqual(len(queries), 1)
        self.assertEqual(self.count_queries(queries), [])

    def test_a_warm_cache_costs_no_query(self):
        self.signed(3)
        self.get()
        with self.assertNumQueries(0):
            response = self.get()
        self.assertEqual(response.json()["signature_count"], 3)
        with self.assertNumQueries(0):
            self.assertEqual(self.get(HTTP_IF_NONE_MATCH=response["ETag"]).status_code, 304)

    def test_the_live_count_comes_from_the_cache_without_counting_rows(self):
        self.get()
        self.signed(2)
        with CaptureQueriesContext(connection) as api_queries:
            self.assertEqual(self.get().json()["signature_count"], 2)
        self.assertEqual(len(api_queries), 0)
        self.assertEqual(self.count_queries(api_queries), [])


class ColdCacheTests(CountApiTestCase):
    def test_a_cold_cache_falls_back_to_the_reconciled_column(self):
        self.signed(3)
        self.signed(1, confirm=False)
        self.assertEqual(counts_reconcile(), 1)
        self.petition.refresh_from_db()
        self.assertEqual(self.petition.signature_count, 3)
        self.assertIsNotNone(self.petition.counted_at)

        clear_test_cache()
        self.assertIsNone(cache.get(count_key(self.petition.pk)))
        self.assertEqual(self.get().json()["signature_count"], 3)

    def test_without_reconciliation_the_cold_fallback_is_the_last_reconciled_figure(self):
        self.signed(2)
        clear_test_cache()
        # Not yet reconciled: the column still says 0, and that is what a cold cache shows.
        self.assertEqual(self.get().json()["signature_count"], 0)
        counts_reconcile()
        clear_test_cache()
        self.assertEqual(self.get().json()["signature_count"], 2)

    def test_reconciliation_corrects_a_drifted_cache(self):
        self.signed(2)
        cache.set(count_key(self.petition.pk), 99, None)
        self.assertEqual(self.get().json()["signature_count"], 99)
        counts_reconcile()
        self.assertEqual(self.get().json()["signature_count"], 2)
        # Nothing changed since, so a second run updates no petition.
        self.assertEqual(counts_reconcile(), 0)

    def test_a_confirmation_on_a_cold_cache_seeds_the_exact_count(self):
        self.signed(2)
        clear_test_cache()
        self.signed(1)
        self.assertEqual(cache.get(count_key(self.petition.pk)), 3)
        self.assertEqual(self.get().json()["signature_count"], 3)
