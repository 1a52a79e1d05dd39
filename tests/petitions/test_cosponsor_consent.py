"""Co-sponsors on the sign form: one unticked box per active co-sponsor, each naming the
organisation; a ticked box reaches the consent ledger when the signature is confirmed; a
signature records the partner that brought it."""

import re

from django.core import mail

from engage.models import Consent
from engage.services.supporters import supporter_get_or_create
from petitions.models import Signature
from petitions.services.signing import petition_sign, signatures_release
from tests.support.base import CosponsoredTestCase
from tests.support.factories import make_cosponsorship, make_partner, make_petition
from tests.support.web import SIGNATURE_CONFIRM_LINK


class CosponsorTestCase(CosponsoredTestCase):
    def setUp(self):
        super().setUp()
        self.we_own_it, self.knhsp = self.partner, self.other_partner
        self.dormant = make_partner(slug="dormant", name="Dormant Group", origins="")
        make_cosponsorship(petition=self.petition, organisation=self.dormant, active=False)

    def confirm_last(self):
        return self.post(SIGNATURE_CONFIRM_LINK.search(mail.outbox[-1].body).group(1))


class FormTests(CosponsorTestCase):
    def test_it_shows_one_unticked_box_per_active_cosponsor_naming_it(self):
        response = self.client.get(f"/p/{self.petition.slug}/")
        html = response.content.decode()
        boxes = re.findall(r'<input type="checkbox" name="partner_opt_in" value="([^"]+)"[^>]*>', html)
        self.assertEqual(boxes, ["keep-our-nhs-public", "we-own-it"])
        self.assertNotIn("checked", "".join(re.findall(r'<input type="checkbox"[^>]*>', html)))
        self.assertContains(response, "Keep me updated by We Own It.")
        self.assertContains(response, "Keep me updated by Keep Our NHS Public.")
        self.assertContains(response, "Keep me updated by Health Campaigns Together")
        self.assertNotContains(response, "Dormant Group")

    def test_a_petition_without_cosponsors_shows_only_the_hosts_box(self):
        other = make_petition(slug="fund-our-nhs")
        response = self.client.get(f"/p/{other.slug}/")
        self.assertNotContains(response, 'name="partner_opt_in"')
        self.assertContains(response, 'name="opt_in"')

    def test_a_box_for_an_organisation_that_is_not_an_active_cosponsor_is_refused(self):
        for slug in ("dormant", "nobody"):
            with self.subTest(slug=slug):
                response = self.sign(partner_opt_in=[slug])
                self.assertEqual(response.status_code, 400)
                self.assertContains(response, "is not a co-sponsor of this petition", status_code=400)
        self.assertEqual(Signature.objects.count(), 0)


class LedgerTests(CosponsorTestCase):
    def test_a_ticked_box_reaches_the_ledger_only_on_confirmation_with_its_wording(self):
        self.sign(partner_opt_in=["we-own-it"], opt_in="on", source="leaflet")
        # Every ticked box, the host's too, waits for the emailed link.
        self.assertFalse(Consent.objects.exists())
        self.confirm_last()
        self.assertTrue(Consent.objects.filter(organisation__slug="health-campaigns-together", given=True).exists())
        partner_rows = Consent.objects.filter(organisation=self.we_own_it)
        self.assertEqual(partner_rows.count(), 1)
        row = partner_rows.get()
        self.assertTrue(row.given)
        self.assertEqual(row.wording, "Keep me updated by We Own It. You can unsubscribe at any time.")
        self.assertEqual(row.source, "petition:scrap-the-icp-contract:leaflet")
        self.assertFalse(Consent.objects.filter(organisation=self.knhsp).exists())

    def test_each_ticked_box_writes_its_own_row(self):
        self.sign(partner_opt_in=["we-own-it", "keep-our-nhs-public"])
        self.confirm_last()
        self.assertEqual(
            sorted(Consent.objects.values_list("organisation__slug", "wording")),
            [
                ("keep-our-nhs-public", "Keep me updated by Keep Our NHS Public. You can unsubscribe at any time."),
                ("we-own-it", "Keep me updated by We Own It. You can unsubscribe at any time."),
            ],
        )

    def test_no_box_ticked_writes_no_row(self):
        self.sign()
        self.confirm_last()
        self.assertFalse(Consent.objects.exists())

    def test_confirming_twice_writes_the_rows_once(self):
        self.sign(partner_opt_in=["we-own-it"])
        self.confirm_last()
        self.confirm_last()
        self.assertEqual(Consent.objects.filter(organisation=self.we_own_it).count(), 1)

    def test_an_unconfirmed_signature_never_reaches_the_partners_ledger(self):
        self.sign(partner_opt_in=["we-own-it"])
        self.assertFalse(Consent.objects.filter(organisation=self.we_own_it).exists())
        self.assertEqual(Signature.objects.get().opt_ins_pending[-1]["organisation_id"], self.we_own_it.pk)

    def test_signing_again_with_a_box_ticked_records_nothing(self):
        # Anyone can type anyone's address: a repeat submission must not add consent to a real person.
        self.sign()
        self.confirm_last()
        self.sign(partner_opt_in=["we-own-it"])
        self.assertFalse(Consent.objects.filter(organisation=self.we_own_it).exists())

    def test_a_held_signature_records_its_boxes_once_released_and_confirmed(self):
        self.sign(partner_opt_in=["we-own-it"], website="http://spam.example")
        signature = Signature.objects.get()
        self.assertEqual(signature.status, Signature.Status.HELD)
        with self.captureOnCommitCallbacks(execute=True):
            signatures_release(signature_ids=[signature.pk])
        self.confirm_last()
        self.assertTrue(Consent.objects.filter(organisation=self.we_own_it, given=True).exists())

    def test_the_service_refuses_a_cosponsorship_that_is_switched_off(self):
        dormant = self.petition.cosponsorships.get(organisation=self.dormant)
        with self.assertRaises(ValueError):
            petition_sign(
                petition=self.petition, first_name="Ada", last_name="L", email="a@example.org", country="GB",
                postcode="S70 2AB", opt_in=False, cosponsor_opt_ins=[dormant],
            )
        self.assertFalse(Signature.objects.exists())


class AttributionTests(CosponsorTestCase):
    def test_a_partner_link_attributes_the_signature(self):
        page = self.client.get(f"/p/{self.petition.slug}/?partner=we-own-it&source=newsletter")
        self.assertContains(page, 'name="partner" value="we-own-it"')
        self.sign(partner="we-own-it", source="newsletter", partner_opt_in=["we-own-it"])
        signature = Signature.objects.get()
        self.assertEqual(signature.partner, self.we_own_it)
        self.assertEqual(signature.source, "newsletter")
        self.confirm_last()
        self.assertEqual(
            Consent.objects.get(organisation=self.we_own_it).source,
            "petition:scrap-the-icp-contract:newsletter partner:we-own-it",
        )

    def test_an_unknown_or_switched_off_partner_is_ignored(self):
        for n, slug in enumerate(["nobody", "dormant", "<script>"]):
            with self.subTest(slug=slug):
                response = self.sign(partner=slug, email=f"p{n}@example.org")
                self.assertEqual(response.status_code, 303)
                self.assertIsNone(Signature.objects.get(supporter__email=f"p{n}@example.org").partner)

    def test_the_hosts_own_code_is_not_a_partner(self):
        self.sign(partner="health-campaigns-together")
        self.assertIsNone(Signature.objects.get().partner)

    def test_it_marks_whether_the_signature_brought_a_new_supporter(self):
        supporter_get_or_create(email="known@example.org", first_name="K", last_name="N", country="GB", postcode="")
        self.sign(email="known@example.org")
        self.sign(email="new@example.org")
        self.assertFalse(Signature.objects.get(supporter__email="known@example.org").new_supporter)
        self.assertTrue(Signature.objects.get(supporter__email="new@example.org").new_supporter)
