"""Reviewing held signatures shows each address with Gmail dots and +tags folded, and how many
other signatures of the same petition share that mailbox (a fraud signal, not a merge)."""

from engage.normalise import email_fold_aliases
from petitions.models import Signature
from petitions.selectors import signatures_alias_neighbours
from tests.support.base import MusterTestCase
from tests.support.factories import make_petition


def test_folding_drops_tags_everywhere_and_dots_only_at_gmail():
    assert email_fold_aliases("a.da+petition@googlemail.com") == "ada@gmail.com"
    assert email_fold_aliases("a.da+x+y@gmail.com") == "ada@gmail.com"
    assert email_fold_aliases("a.da+news@example.org") == "a.da@example.org"


class HeldReviewTests(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)
        self.sign(email="a.da+1@googlemail.com", website="bot")
        self.sign(email="ada+2@gmail.com", website="bot")
        self.sign(email="ADA@gmail.com")
        self.sign(email="a.da@example.org", website="bot")
        self.sign(make_petition(slug="elsewhere", title="Elsewhere"), email="ada+3@gmail.com")

    def signature(self, email):
        return Signature.objects.select_related("supporter").get(supporter__email=email, petition=self.petition)

    def test_the_held_list_shows_the_folded_address_and_how_many_others_share_it(self):
        response = self.client.get("/admin/petitions/signature/", {"status__exact": "held"})
        self.assertContains(response, "ada@gmail.com (<strong>2 other signatures</strong>)", count=2, html=False)
        self.assertContains(response, "a.da@example.org (no other signature)")

    def test_the_signature_page_shows_it_too(self):
        page = self.client.get(f"/admin/petitions/signature/{self.signature('ada+2@gmail.com').pk}/change/")
        self.assertContains(page, "ada@gmail.com (<strong>2 other signatures</strong>)", html=False)

    def test_one_query_serves_a_whole_page(self):
        signatures = list(Signature.objects.select_related("supporter"))
        with self.assertNumQueries(1):
            neighbours = signatures_alias_neighbours(signatures)
        self.assertEqual(neighbours[self.signature("a.da+1@googlemail.com").pk], ("ada@gmail.com", 2))
        self.assertEqual(neighbours[self.signature("a.da@example.org").pk], ("a.da@example.org", 0))
