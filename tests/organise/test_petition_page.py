"""The workspace's petition page: its figures agree with a count of the signatures, the host
sees the coalition's and a partner only its own slice, and its exports. (Who may open it at all
is in test_access.)"""

import csv
import io
from collections import Counter
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from mailings.models import Mailing
from petitions.models import Signature
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_mailing, make_petition, make_signature, make_supporter


def rows(response, name):
    """A figure table of the page, as the view built it: {label: [figures]}."""
    table = next(t for t in response.context["tables"] if t.name == name)
    return {row[0]: list(row[1:]) for row in table.rows}


class PetitionPageTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        self.a, self.b = self.partner, self.other_partner
        users = get_user_model().objects
        self.host_user = users.create_user("hilda", password="pw")
        self.host.members.add(self.host_user)
        self.alice = users.create_user("alice", password="pw")
        self.a.members.add(self.alice)
        self.bert = users.create_user("bert", password="pw")
        self.b.members.add(self.bert)
        make_supporter("known@example.org", opted_in=None)
        # Through A: three confirmed (two from the newsletter; known@ was with us already), one pending, one held.
        self.sign("a1@example.org", partner=self.a, source="newsletter", boxes=["we-own-it"], postcode="S70 2AB")
        self.sign("a2@example.org", partner=self.a, source="newsletter", postcode="LS1 4AP")
        self.sign("known@example.org", partner=self.a, boxes=["we-own-it"], postcode="S1 2HE")
        self.sign("a4@example.org", partner=self.a, confirm=False)
        self.sign("held@example.org", partner=self.a, hold_reason=Signature.HoldReason.HONEYPOT, confirm=False)
        # Through B: five on twitter, all opting in to B, one also to A.
        for n in range(5):
            self.sign(f"b{n}@example.org", partner=self.b, source="twitter", postcode="SW1A 1AA",
                      boxes=["keep-our-nhs-public", "we-own-it"] if n == 0 else ["keep-our-nhs-public"])
        # Direct, on the petition's own page: one in France, one opting in to the host.
        self.sign("page@example.org", boxes=["we-own-it"], opt_in=True, postcode="S70 1AA")
        self.sign("paris@example.org", country="FR", postcode="75001")
        self.invalid = self.sign("invalid@example.org", source="twitter")
        from petitions.services.signing import signatures_invalidate

        signatures_invalidate(signature_ids=[self.invalid.pk])

    def sign(self, email, *, confirm=True, **extra):
        return make_signature(petition=self.petition, email=email, first_name="P", last_name="Q", confirm=confirm, **extra)

    def url(self, org, **query):
        url = reverse("organise:petition", kwargs={"org": org.slug, "slug": self.petition.slug})
        return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")

    def confirmed(self):
        return Signature.objects.filter(petition=self.petition, status=Signature.Status.CONFIRMED)


class HostTests(PetitionPageTestCase):
    def test_every_figure_agrees_with_a_count_of_the_signatures(self):
        self.client.force_login(self.host_user)
        page = self.client.get(self.url(self.host))
        self.assertEqual(page.status_code, 200)
        confirmed = self.confirmed()
        self.assertEqual(page.context["total"], confirmed.count())
        self.assertEqual(page.context["total"], 10)
        self.assertEqual(sum(n for (n,) in rows(page, "over-time").values()), 10)
        self.assertEqual(list(rows(page, "total").values())[-1], [10])
        self.assertEqual(rows(page, "by-source"), {"twitter": [5, 5], "newsletter": [2, 2], "(none)": [3, 2]})
        self.assertEqual(rows(page, "by-area"), {"SW": [5], "S": [3], "LS": [1]})
        self.assertEqual(rows(page, "by-country"), {"United Kingdom (GB)": [9], "France (FR)": [1]})
        partners = rows(page, "by-partner")
        direct = next(k for k in partners if k.startswith("Direct"))
        # Opt-ins to that organisation by any route: A's box on a1, known, b0 and page@; B's on b0-b4.
        self.assertEqual(partners, {direct: [2, 2, 1], "Keep Our NHS Public": [5, 5, 5], "We Own It": [3, 2, 4]})
        by_source = Counter(confirmed.values_list("source", flat=True))
        self.assertEqual({k if k != "(none)" else "": v[0] for k, v in rows(page, "by-source").items()}, by_source)

    def test_the_time_chart_is_hourly_for_48_hours_then_daily_with_the_goal_and_mailing_markers(self):
        Signature.objects.filter(petition=self.petition).update(confirmed_at=timezone.now() - timedelta(days=5))
        from petitions.services.tallies import tallies_rebuild

        tallies_rebuild(petition=self.petition)
        mailing = make_mailing(name="Hand-in call")
        Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.SENT, started_at=timezone.now() - timedelta(hours=3))
        self.client.force_login(self.host_user)
        page = self.client.get(self.url(self.host))
        over_time = next(t for t in page.context["tables"] if t.name == "over-time")
        labels = [row[0] for row in over_time.rows]
        hourly = [label for label in labels if " " in label]
        self.assertEqual(len(hourly), 48)
        self.assertTrue(all(" " not in label for label in labels[: -48]))
        five_days_ago = timezone.localtime(timezone.now() - timedelta(days=5)).date().isoformat()
        self.assertEqual(dict(over_time.rows)[five_days_ago], 10)
        total = next(t for t in page.context["tables"] if t.name == "total")
        self.assertEqual(total.chart_lines, [{"label": "Goal", "value": self.petition.goal}])
        self.assertEqual([m["label"] for m in total.chart_markers], ["Hand-in call"])
        self.assertIn(total.chart_markers[0]["at"], hourly)
        self.assertContains(page, "Hand-in call")

    def test_each_table_downloads_as_csv_and_an_unknown_one_is_a_404(self):
        self.client.force_login(self.host_user)
        response = self.client.get(self.url(self.host, csv="by-area"))
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        body = b"".join(response.streaming_content).decode()
        self.assertEqual(list(csv.reader(io.StringIO(body))), [["Postcode area", "Confirmed signatures"], ["SW", "5"], ["S", "3"], ["LS", "1"]])
        self.assertEqual(self.client.get(self.url(self.host, csv="nothing")).status_code, 404)

    def test_the_hand_in_export_and_embed_codes(self):
        self.client.force_login(self.host_user)
        page = self.client.get(self.url(self.host))
        handin = reverse("organise:petition-handin", kwargs={"org": self.host.slug, "slug": self.petition.slug})
        self.assertContains(page, handin)
        self.assertContains(page, "partner=we-own-it")
        self.assertContains(page, "partner=keep-our-nhs-public")
        self.assertContains(page, "data-copy=")
        response = self.client.get(handin)
        self.assertEqual(response.status_code, 200)
        lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        self.assertEqual(lines[0][:3], ["petition", "first_name", "last_name"])
        self.assertEqual(len(lines) - 1, self.confirmed().count())
        self.assertNotIn("@", "".join(",".join(line) for line in lines))

    def test_it_links_the_petitions_updates_with_their_counts(self):
        from petitions.services.updates import petition_update_publish

        petition_update_publish(petition=self.petition, kind="news", title="Hand-in on Friday", body="Come along.")
        make_signature(petition=self.petition, email="wants-news@example.org", updates_opt_in=True, confirm=True)
        self.client.force_login(self.host_user)
        page = self.client.get(self.url(self.host))
        self.assertContains(page, reverse("organise:petition_update_new", kwargs={"org": self.host.slug, "slug": self.petition.slug}))
        self.assertContains(page, "1 update on the petition")
        self.assertContains(page, "1 signer asked to be emailed updates")

    def test_the_page_costs_the_same_queries_however_many_signatures(self):
        self.client.force_login(self.host_user)
        self.client.get(self.url(self.host))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as before:
            self.client.get(self.url(self.host))
        for n in range(20):
            self.sign(f"more{n}@example.org", partner=self.b, source=f"s{n}")
        with CaptureQueriesContext(connection) as after:
            self.client.get(self.url(self.host))
        self.assertEqual(len(before), len(after))
        self.assertFalse([q["sql"] for q in after.captured_queries if '"petitions_signature"' in q["sql"].split("WHERE")[0]
                          and "FROM" in q["sql"]], "the page read the signatures table")


class PartnerTests(PetitionPageTestCase):
    def test_a_partner_sees_only_the_signatures_through_it(self):
        self.client.force_login(self.alice)
        page = self.client.get(self.url(self.a))
        self.assertEqual(page.status_code, 200)
        self.assertEqual(page.context["total"], 3)
        self.assertEqual(rows(page, "by-source"), {"newsletter": [2, 2], "(none)": [1, 0]})
        self.assertEqual(rows(page, "by-partner"), {"We Own It": [3, 2, 4]})
        self.assertEqual(rows(page, "by-area"), {"S": [2], "LS": [1]})
        self.assertEqual(sum(n for (n,) in rows(page, "over-time").values()), 3)
        html = page.content.decode()
        for theirs in ("twitter", "Keep Our NHS Public", "SW", "France", "keep-our-nhs-public"):
            self.assertNotIn(theirs, html)
        # Its own embed code only, and no hand-in export.
        self.assertIn("partner=we-own-it", html)
        self.assertNotIn("handin.csv", html)
        handin = reverse("organise:petition-handin", kwargs={"org": self.a.slug, "slug": self.petition.slug})
        self.assertEqual(self.client.get(handin).status_code, 403)

    def test_its_csv_is_its_slice_too(self):
        self.client.force_login(self.bert)
        body = b"".join(self.client.get(self.url(self.b, csv="by-source")).streaming_content).decode()
        self.assertEqual(body.splitlines(), ["Source code,Confirmed signatures,New supporters", "twitter,5,5"])

    def test_on_a_petition_it_runs_its_slice_is_the_direct_signatures(self):
        own = make_petition(slug="save-our-buses", title="Save our buses", organisation=self.a)
        make_signature(petition=own, email="bus@example.org", confirm=True, source="leaflet")
        make_signature(petition=own, email="bus2@example.org", confirm=True, partner=self.a)  # its own embed
        make_signature(petition=own, email="bus3@example.org", confirm=True, partner=self.host)  # not through it
        self.client.force_login(self.alice)
        page = self.client.get(reverse("organise:petition", kwargs={"org": self.a.slug, "slug": own.slug}))
        self.assertEqual(page.context["total"], 2)
        self.assertEqual(rows(page, "by-source"), {"leaflet": [1, 1], "(none)": [1, 1]})
        self.assertContains(page, "You run this petition")

    def test_another_partners_petition_is_a_404(self):
        own = make_petition(slug="save-our-buses", title="Save our buses", organisation=self.a)
        self.client.force_login(self.bert)
        url = reverse("organise:petition", kwargs={"org": self.b.slug, "slug": own.slug})
        self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.get(url + "?csv=by-source").status_code, 404)


class ListTests(PetitionPageTestCase):
    def test_the_list_counts_each_petition(self):
        make_petition(slug="fund-our-nhs", title="Fund our NHS")
        self.client.force_login(self.host_user)
        page = self.client.get(reverse("organise:petitions", kwargs={"org": self.host.slug}))
        table = page.context["table"]
        self.assertEqual({r[0]: r[2:] for r in table.rows}, {"Scrap the ICP contract": (10, 10, 10, 9), "Fund our NHS": (0, 0, 0, 0)})
        self.client.force_login(self.alice)
        page = self.client.get(reverse("organise:petitions", kwargs={"org": self.a.slug}))
        self.assertEqual({r[0]: r[2:] for r in page.context["table"].rows}, {"Scrap the ICP contract": (3, 3, 3, 2)})
