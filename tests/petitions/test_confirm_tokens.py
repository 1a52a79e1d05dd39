"""Confirmation links: a bad, foreign, expired or orphaned token gets a clear 4xx page and
confirms nothing; GET never changes anything; POST confirms once."""

import time
from datetime import timedelta
from unittest.mock import patch

from django.conf import settings
from django.utils import timezone

from engage.models import Supporter
from engage.tokens import token_make
from petitions.models import Signature
from petitions.services.counts import counts_reconcile
from petitions.services.signing import CONFIRM_PURPOSE, signatures_invalidate, signatures_unconfirmed_purge
from tests.support.base import MusterTestCase
from tests.support.factories import make_signature

BROKEN = "This link doesn't work"
EXPIRED = "This link has expired"
SIGN_AGAIN = "sign the petition again"


class ConfirmTokenTestCase(MusterTestCase):
    def setUp(self):
        super().setUp()
        self.signature = make_signature(petition=self.petition)
        self.token = token_make(purpose=CONFIRM_PURPOSE, nonce=self.signature.confirm_nonce)

    def path(self, token):
        return f"/confirm/{token}/"

    def api_count(self):
        return self.client.get(f"/api/petitions/{self.petition.slug}").json()["signature_count"]

    def request(self, method, token):
        with self.captureOnCommitCallbacks(execute=True):
            return getattr(self.client, method)(self.path(token))

    def assertTokenRefused(self, token, *, status, heading, signature=None):
        """Both GET and POST: the status, a page saying what happened and what to do, nothing confirmed."""
        signature = signature or self.signature
        for method in ("get", "post"):
            with self.subTest(method=method):
                response = self.request(method, token)
                self.assertEqual(response.status_code, status)
                self.assertContains(response, heading, status_code=status)
                self.assertContains(response, SIGN_AGAIN, status_code=status)
                self.assertContains(response, 'href="/"', status_code=status)
                if Signature.objects.filter(pk=signature.pk).exists():
                    self.assertNotEqual(Signature.objects.get(pk=signature.pk).status, Signature.Status.CONFIRMED)
                self.assertFalse(Signature.objects.filter(status=Signature.Status.CONFIRMED).exists())
                self.assertEqual(self.api_count(), 0)


class BadTokenTests(ConfirmTokenTestCase):
    def test_a_tampered_token_is_refused(self):
        nonce, timestamp, mac = self.token.split(":")
        tampered = [
            ("B" if nonce[0] != "B" else "C") + nonce[1:] + ":" + timestamp + ":" + mac,
            nonce + ":" + timestamp + ":" + mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1],
            nonce + ":" + timestamp[:-1] + ("0" if timestamp[-1] != "0" else "1") + ":" + mac,
            self.token[:-1],
        ]
        for token in tampered:
            with self.subTest(token=token):
                self.assertNotEqual(token, self.token)
                self.assertTokenRefused(token, status=400, heading=BROKEN)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)

    def test_a_token_signed_for_another_purpose_is_refused(self):
        for purpose in ("unsubscribe", "mailing-confirm", "signature-confirm-x"):
            with self.subTest(purpose=purpose):
                foreign = token_make(purpose=purpose, nonce=self.signature.confirm_nonce)
                self.assertTokenRefused(foreign, status=400, heading=BROKEN)

    def test_garbage_is_refused(self):
        for token in ["garbage", "a:b:c", "::", "x" * 500, "%00", "%E2%80%AE", "..%2E..%2Eadmin"]:
            with self.subTest(token=token):
                self.assertTokenRefused(token, status=400, heading=BROKEN)

    def test_an_expired_token_is_refused_as_expired(self):
        later = time.time() + settings.CONFIRM_TOKEN_MAX_AGE.total_seconds() + 60
        with patch("django.core.signing.time.time", return_value=later):
            self.assertTokenRefused(self.token, status=410, heading=EXPIRED)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)

    def test_a_token_is_still_good_just_before_it_expires(self):
        later = time.time() + settings.CONFIRM_TOKEN_MAX_AGE.total_seconds() - 60
        with patch("django.core.signing.time.time", return_value=later):
            response = self.request("post", self.token)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(Signature.objects.get().status, Signature.Status.CONFIRMED)

    def test_a_token_for_a_purged_signature_is_refused(self):
        later = timezone.now() + settings.UNCONFIRMED_PURGE_AFTER + timedelta(hours=1)
        with patch("django.utils.timezone.now", return_value=later):
            self.assertEqual(signatures_unconfirmed_purge(), 1)
        self.assertFalse(Signature.objects.exists())
        self.assertFalse(Supporter.objects.exists())
        self.assertTokenRefused(self.token, status=410, heading=EXPIRED)
        self.assertFalse(Signature.objects.exists())

    def test_a_token_for_an_invalidated_signature_is_refused(self):
        signatures_invalidate(signature_ids=[self.signature.pk])
        self.assertTokenRefused(self.token, status=400, heading=BROKEN)
        self.assertEqual(Signature.objects.get().status, Signature.Status.INVALID)


class ValidTokenTests(ConfirmTokenTestCase):
    def test_get_shows_a_button_and_changes_nothing(self):
        for _ in range(3):  # mail scanners open links, sometimes more than once
            response = self.request("get", self.token)
            self.assertContains(response, "Confirm my signature")
            self.assertContains(response, '<form method="post">')
        self.signature.refresh_from_db()
        self.assertEqual(self.signature.status, Signature.Status.PENDING)
        self.assertIsNone(self.signature.confirmed_at)
        self.assertEqual(self.api_count(), 0)

    def test_a_head_request_changes_nothing_either(self):
        response = self.client.head(self.path(self.token))
        self.assertLess(response.status_code, 500)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)
        self.assertIsNone(Signature.objects.get().confirmed_at)

    def test_other_methods_are_not_allowed(self):
        for method in ("put", "delete", "patch"):
            with self.subTest(method=method):
                self.assertEqual(self.request(method, self.token).status_code, 405)
        self.assertEqual(Signature.objects.get().status, Signature.Status.PENDING)

    def test_post_confirms_and_counts_once(self):
        response = self.request("post", self.token)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response["Location"], f"/p/{self.petition.slug}/thanks")
        self.signature.refresh_from_db()
        self.assertEqual(self.signature.status, Signature.Status.CONFIRMED)
        confirmed_at = self.signature.confirmed_at
        self.assertIsNotNone(confirmed_at)
        self.assertEqual(self.api_count(), 1)

        again = self.request("post", self.token)
        self.assertEqual(again.status_code, 303)
        self.assertEqual(again["Location"], f"/p/{self.petition.slug}/thanks")
        self.signature.refresh_from_db()
        self.assertEqual(self.signature.confirmed_at, confirmed_at)
        self.assertEqual(self.api_count(), 1)

        counts_reconcile()
        self.assertEqual(self.api_count(), 1)

    def test_get_after_confirming_says_it_is_already_confirmed(self):
        self.request("post", self.token)
        response = self.request("get", self.token)
        self.assertContains(response, "Your signature is already confirmed")
        self.assertNotContains(response, '<form method="post">')
        self.assertEqual(self.api_count(), 1)
