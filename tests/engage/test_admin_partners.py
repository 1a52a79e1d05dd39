"""Admin for partners: a key is shown once on creation and stored hashed; revoking is an action;
an organisation's origins must be origins; members are listed on the organisation."""

from django.contrib.auth import get_user_model
from django.test import TestCase

from engage.models import Organisation, PartnerApiKey
from engage.services.partner_keys import partner_api_key_authenticate, partner_api_key_create, partner_api_key_hash
from tests.support.factories import make_organiser, make_partner

KEYS = "/admin/engage/partnerapikey/"
ORGANISATIONS = "/admin/engage/organisation/"


class PartnerAdminTestCase(TestCase):
    def setUp(self):
        self.organiser = make_organiser()
        self.client.force_login(self.organiser)
        self.partner = make_partner()


class KeyAdminTests(PartnerAdminTestCase):
    def test_creating_a_key_shows_it_once_and_stores_only_its_hash(self):
        response = self.client.post(KEYS + "add/", {"organisation": self.partner.pk, "name": "CRM sync"})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "shown only this once")
        key = PartnerApiKey.objects.get()
        plain = response.context["plain"]
        self.assertContains(response, plain)
        self.assertEqual(key.key_hash, partner_api_key_hash(plain))
        self.assertEqual(partner_api_key_authenticate(plain=plain).organisation, self.partner)
        # Not kept anywhere the next page could show it.
        page = self.client.get(KEYS + f"{key.pk}/change/")
        self.assertNotContains(page, plain)
        self.assertContains(page, key.prefix)
        self.assertNotContains(self.client.get(KEYS), plain)

    def test_the_revoke_action_revokes_at_once(self):
        key, plain = partner_api_key_create(organisation=self.partner, name="CRM")
        response = self.client.post(KEYS, {"action": "revoke", "_selected_action": [key.pk]}, follow=True)
        self.assertContains(response, "1 key revoked")
        self.assertIsNone(partner_api_key_authenticate(plain=plain))
        self.assertContains(self.client.get(KEYS), "revoked")

    def test_keys_cannot_be_deleted_or_edited(self):
        key, _ = partner_api_key_create(organisation=self.partner, name="CRM")
        self.assertEqual(self.client.get(KEYS + f"{key.pk}/delete/").status_code, 403)
        self.client.post(KEYS + f"{key.pk}/change/", {"name": "renamed", "key_hash": "x" * 64})
        key.refresh_from_db()
        self.assertEqual(key.name, "CRM")


class OrganisationAdminTests(PartnerAdminTestCase):
    def form(self, **overrides):
        data = {
            "name": "We Own It", "slug": "we-own-it", "kind": "partner", "website": "", "logo_url": "",
            "allowed_origins": "",
            "people-TOTAL_FORMS": 0, "people-INITIAL_FORMS": 0, "people-MIN_NUM_FORMS": 0, "people-MAX_NUM_FORMS": 1000,
            "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0, "api_keys-MIN_NUM_FORMS": 0, "api_keys-MAX_NUM_FORMS": 1000,
        }  # fmt: skip
        data.update(overrides)
        return data

    def test_origins_are_validated_and_tidied(self):
        url = ORGANISATIONS + f"{self.partner.pk}/change/"
        bad = self.client.post(url, self.form(allowed_origins="https://weownit.org.uk\nweownit.org.uk/join\n*"))
        self.assertEqual(bad.status_code, 200)
        self.assertContains(bad, "Not: weownit.org.uk/join, *")
        good = self.client.post(url, self.form(allowed_origins="  https://WeOwnIt.org.uk/ \n\nhttp://127.0.0.1:8001"))
        self.assertEqual(good.status_code, 302, good.content[:2000])
        self.partner.refresh_from_db()
        self.assertEqual(self.partner.allowed_origins, "https://weownit.org.uk\nhttp://127.0.0.1:8001")

    def test_members_keys_and_links_show_on_the_organisation(self):
        member = get_user_model().objects.create_user("sam", "sam@weownit.org.uk", "x")
        self.partner.members.add(member)
        partner_api_key_create(organisation=self.partner, name="CRM sync")
        page = self.client.get(ORGANISATIONS + f"{self.partner.pk}/change/")
        self.assertContains(page, "CRM sync")
        self.assertContains(page, "Get embed code for each petition it co-sponsors")
        self.assertContains(page, f"/admin/petitions/cosponsorship/?organisation__id__exact={self.partner.pk}")
        listing = self.client.get(ORGANISATIONS)
        self.assertContains(listing, "https://weownit.org.uk")
        self.assertEqual(Organisation.objects.count(), 1)
