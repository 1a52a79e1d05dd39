"""Each web process reuses its count JSON for COUNT_MEMO_SECONDS (on in production, off in the
other tests) before asking the cache again: a surge of widget polls costs Redis one read a
second per process and petition, and no answer is older than that."""

from unittest.mock import patch

from django.core.cache import cache
from django.test import override_settings

from petitions.views import api
from petitions.views.api import _memo
from tests.support.base import MusterTestCase
from tests.support.factories import make_signature


@override_settings(COUNT_MEMO_SECONDS=1)
class CountMemoTests(MusterTestCase):
    def setUp(self):
        super().setUp()
        _memo.clear()
        self.addCleanup(_memo.clear)
        self.url = f"/api/petitions/{self.petition.slug}"
        self.clock = 1000.0
        patcher = patch("petitions.views.api.time.monotonic", side_effect=lambda: self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)

    def confirm_one(self, n):
        make_signature(petition=self.petition, first_name="P", last_name=str(n), email=f"p{n}@example.org", confirm=True)

    def count(self, **headers):
        return self.client.get(self.url, **headers).json()["signature_count"]

    def test_within_the_memo_the_cache_is_not_asked_and_nothing_is_queried(self):
        first = self.client.get(self.url)
        with patch.object(cache, "get", side_effect=AssertionError("asked the cache")), self.assertNumQueries(0):
            again = self.client.get(self.url)
            not_modified = self.client.get(self.url, HTTP_IF_NONE_MATCH=first["ETag"])
        self.assertEqual(again.content, first.content)
        self.assertEqual(again["ETag"], first["ETag"])
        self.assertEqual(not_modified.status_code, 304)

    def test_a_new_count_shows_once_the_memo_expires(self):
        self.assertEqual(self.count(), 0)
        self.confirm_one(1)
        self.clock += 0.5
        self.assertEqual(self.count(), 0)  # at most COUNT_MEMO_SECONDS old
        self.clock += 0.6
        self.assertEqual(self.count(), 1)

    def test_each_host_gets_its_own_absolute_url(self):
        self.assertEqual(self.client.get(self.url).json()["url"], f"http://testserver/p/{self.petition.slug}/")
        other = self.client.get(self.url, HTTP_HOST="muster.test", secure=True).json()
        self.assertEqual(other["url"], f"https://muster.test/p/{self.petition.slug}/")

    def test_a_disallowed_host_is_refused_even_after_a_memo_for_an_allowed_one(self):
        self.client.get(self.url)
        self.assertEqual(self.client.get(self.url, HTTP_HOST="evil.example").status_code, 400)

    def test_unknown_petitions_are_not_remembered(self):
        self.assertEqual(self.client.get("/api/petitions/nope").status_code, 404)
        self.assertEqual(_memo, {})

    def test_the_memo_stays_small(self):
        with patch.object(api, "_MEMO_MAX_ENTRIES", 3):
            for n in range(3):
                _memo[("http", f"host{n}", "x")] = (0.0, b"", "")
            self.client.get(self.url)
        self.assertEqual(list(_memo), [("http", "testserver", self.petition.slug)])

    @override_settings(COUNT_MEMO_SECONDS=0)
    def test_zero_turns_it_off(self):
        self.count()
        self.confirm_one(1)
        self.assertEqual(self.count(), 1)
        self.assertEqual(_memo, {})
