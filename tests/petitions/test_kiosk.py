"""Kiosk mode (docs/design.md, "Kiosk mode"): an organiser opens a signed, expiring kiosk link on
one device; many people sign on it in a row, each sent their confirmation, with the stall as
the source and no per-IP limit; the per-petition limit and the honeypot still hold. Organisers
see how many signatures are held and release them in bulk."""

import re
import time
from unittest.mock import patch

from django.conf import settings
from django.core import mail
from django.test import override_settings

from petitions.kiosk import kiosk_url
from petitions.models import Petition, Signature
from petitions.services.lifecycle import petition_set_status
from tests.support.base import MusterTestCase
from tests.support.factories import make_signature, sign_data
from tests.support.web import frozen_ratelimit_clock, path_of

STALL_IP = "203.0.113.50"
PEOPLE = ["ada@example.org", "bea@example.org", "cal@example.org", "dee@example.org", "eve@example.org"]


# The production default (the test settings raise it so that other tests never meet it).
@override_settings(SIGN_RATE_PER_IP_PETITION=["3/60s", "10/3600s"])
class KioskTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.enterContext(frozen_ratelimit_clock())
        self.kiosk = path_of(kiosk_url(petition=self.petition, stall="market-square"))

    def sign_at_kiosk(self, email, path=None, **fields):
        return self.post(path or self.kiosk, sign_data(email=email, **fields), REMOTE_ADDR=STALL_IP)


class KioskSigningTests(KioskTestCase):
    def test_five_people_on_one_phone_within_a_minute_are_all_sent_their_confirmation(self):
        for email in PEOPLE:
            response = self.sign_at_kiosk(email)
            self.assertEqual((response.status_code, response["Location"]), (303, f"{self.kiosk}?thanks=1"))
        signatures = Signature.objects.filter(supporter__email__in=PEOPLE)
        self.assertEqual(
            sorted(signatures.values_list("status", "source", "hold_reason")),
            [(Signature.Status.PENDING, "market-square", "")] * len(PEOPLE),
        )
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), sorted(PEOPLE))

    def test_the_same_five_on_the_petition_page_meet_the_per_ip_limit(self):
        # The control: without the kiosk link the device's address is limited (3 a minute).
        for email in PEOPLE:
            self.sign(email=email, ip=STALL_IP)
        held = Signature.objects.filter(status=Signature.Status.HELD, hold_reason=Signature.HoldReason.RATE_LIMIT)
        self.assertEqual(held.count(), 2)

    def test_after_each_signature_it_thanks_and_resets_with_nothing_of_the_last_signer(self):
        self.sign_at_kiosk("ada@example.org", first_name="Augusta", last_name="Lovelace", postcode="S70 2AB")
        page = self.client.get(f"{self.kiosk}?thanks=1")
        self.assertContains(page, "Thank you — check your email to confirm.")
        for trace in ("ada@example.org", "Augusta", "Lovelace", "S70 2AB"):
            self.assertNotContains(page, trace)
        self.assertContains(page, '<form method="post" action="' + self.kiosk.split("?")[0] + '" autocomplete="off"', html=False)
        self.assertEqual(re.findall(r'autocomplete="(?!off)[^"]*"', page.content.decode()), [])
        self.assertIn("no-cache", page["Cache-Control"])
        # Nothing leads away from the stall's form.
        self.assertNotContains(page, 'href="/join/"')
        self.assertNotContains(page, 'href="/preferences/"')

    def test_the_form_cannot_choose_another_source(self):
        self.sign_at_kiosk("ada@example.org", source="someone-else")
        self.assertEqual(Signature.objects.get().source, "market-square")

    @override_settings(SIGN_RATE_PER_PETITION="2/60s")
    def test_the_per_petition_limit_still_holds(self):
        for email in PEOPLE[:3]:
            self.sign_at_kiosk(email)
        self.assertEqual(Signature.objects.filter(status=Signature.Status.HELD).count(), 1)

    def test_the_honeypot_still_holds(self):
        self.sign_at_kiosk("bot@example.org", website="http://spam.example")
        self.assertEqual(Signature.objects.get().hold_reason, Signature.HoldReason.HONEYPOT)
        self.assertEqual(mail.outbox, [])

    def test_bad_input_is_refused_with_messages(self):
        response = self.sign_at_kiosk("not-an-address", first_name="")
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "There is a problem", status_code=400)
        self.assertFalse(Signature.objects.exists())

    def test_a_tampered_link_is_refused_and_an_expired_one_is_gone(self):
        self.assertContains(self.client.get(self.kiosk[:-3] + "xx/"), "Ask an organiser", status_code=400)
        later = time.time() + settings.KIOSK_LINK_MAX_AGE.total_seconds() + 60
        with patch("django.core.signing.time.time", return_value=later):
            self.assertContains(self.client.get(self.kiosk), "Kiosk links work for a limited time", status_code=410)
            self.assertEqual(self.sign_at_kiosk("ada@example.org").status_code, 410)
        self.assertFalse(Signature.objects.exists())

    def test_a_closed_petition_takes_no_signatures(self):
        petition_set_status(petition=self.petition, status=Petition.Status.CLOSED)
        self.assertNotContains(self.client.get(self.kiosk), "Sign the petition</button>", html=False)
        self.assertEqual(self.sign_at_kiosk("ada@example.org").status_code, 409)
        self.assertFalse(Signature.objects.exists())


class OrganiserTests(KioskTestCase):
    def setUp(self):
        super().setUp()
        self.client.force_login(self.organiser)
        self.change = f"/admin/petitions/petition/{self.petition.pk}/change/"
        self.make_kiosk = f"/admin/petitions/petition/{self.petition.pk}/kiosk/"

    def test_the_petition_page_offers_a_kiosk_link_that_works(self):
        self.assertContains(self.client.get(self.change), "Open kiosk link")
        page = self.client.post(self.make_kiosk, {"stall": "Market square"})
        self.assertContains(page, "market-square")
        url = re.search(r"https://muster\.test(/kiosk/[^\s<\"]+/)", page.content.decode()).group(1)
        self.client.logout()
        self.sign_at_kiosk("ada@example.org", path=url)
        self.assertEqual(Signature.objects.get().source, "market-square")

    def test_a_stall_label_that_is_not_plain_is_refused_with_a_message(self):
        for label in ("", "   ", "x" * 65, "<script>"):
            with self.subTest(label=label):
                self.assertContains(self.client.post(self.make_kiosk, {"stall": label}), "Name the stall", status_code=400)

    def test_only_organisers_make_kiosk_links(self):
        self.client.logout()
        response = self.client.post(self.make_kiosk, {"stall": "market"})
        self.assertEqual(response.status_code, 302)
        self.assertIn("/admin/login/", response["Location"])

    def test_held_signatures_are_counted_for_organisers_and_released_in_bulk(self):
        for email in PEOPLE[:2]:
            make_signature(petition=self.petition, email=email, hold_reason=Signature.HoldReason.RATE_LIMIT)
        make_signature(petition=self.petition, email=PEOPLE[2])
        mail.outbox.clear()
        listing = self.client.get("/admin/petitions/petition/")
        held_url = f"/admin/petitions/signature/?status__exact=held&amp;petition__id__exact={self.petition.pk}"
        self.assertContains(listing, f'<a href="{held_url}">2</a>', html=False)
        self.assertContains(self.client.get(self.change), "<strong>2</strong> signatures are held", html=False)
        held_ids = list(Signature.objects.filter(status=Signature.Status.HELD).values_list("pk", flat=True))
        self.post("/admin/petitions/signature/", {"action": "release", "_selected_action": held_ids})
        self.assertFalse(Signature.objects.filter(status=Signature.Status.HELD).exists())
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), PEOPLE[:2])
        self.assertContains(self.client.get(self.change), "No signatures are held.")
