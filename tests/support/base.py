"""The people and organisations most tests start from, made afresh for every test through the
same factories the other tests use."""

import json

from django.test import TestCase

from tests.support.factories import (
    make_cosponsorship,
    make_list,
    make_organisation,
    make_organiser,
    make_other_partner,
    make_partner,
    make_petition,
    sign_data,
)


class MusterTestCase(TestCase):
    """One coalition:

    - self.host: Health Campaigns Together, the host organisation;
    - self.partner: We Own It, a partner, whose site (`partner_origins`) may embed its petitions;
    - self.organiser: a superuser, not logged in;
    - self.news: Coalition news, the host's public list;
    - self.petition: Scrap the ICP contract, the host's open petition (no co-sponsors yet).
    """

    partner_origins = "https://weownit.org.uk"

    def setUp(self):
        super().setUp()
        self.host = make_organisation()
        self.partner = make_partner(origins=self.partner_origins)
        self.organiser = make_organiser()
        self.news = make_list(organisation=self.host)
        self.petition = make_petition(organisation=self.host)

    def post(self, path, data=None, **extra):
        """POST as a browser does, then run what the view deferred until its transaction
        committed (the emails it sends, the count it updates)."""
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(path, data, **extra)

    def post_json(self, path, body, *, origin=None, **extra):
        """POST `body` as JSON, from a page on `origin` (None: a request with no Origin header)."""
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        return self.post(path, json.dumps(body), content_type="application/json", **headers, **extra)

    def sign(self, petition=None, *, ip=None, **fields):
        """Sign `petition` (this test's own by default) on its public page with Ada's details,
        `fields` changed, from the address `ip` (the test client's own by default)."""
        extra = {"REMOTE_ADDR": ip} if ip else {}
        return self.post(f"/p/{(petition or self.petition).slug}/sign", sign_data(**fields), **extra)


class CosponsoredTestCase(MusterTestCase):
    """MusterTestCase's petition co-sponsored by its partner and by self.other_partner, Keep Our
    NHS Public (whose site is https://keepournhspublic.com)."""

    def setUp(self):
        super().setUp()
        self.other_partner = make_other_partner()
        make_cosponsorship(petition=self.petition, organisation=self.partner)
        make_cosponsorship(petition=self.petition, organisation=self.other_partner)
