"""The steps the three sign endpoints share (petitions.views.submission): a petition whose deadline
has passed before beat closes it is refused by each with 409 and nothing stored or sent; and the
shape of the views package (no private name imported across modules)."""

import ast
import json
import pathlib
from datetime import timedelta

from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

import petitions
from petitions.models import Petition, Signature
from tests.support.factories import make_cosponsorship, make_partner, make_petition, sign_data

NOT_OPEN = "This petition is not open for signatures."


class DeadlinePassedTests(TestCase):
    def setUp(self):
        self.petition = make_petition()
        partner = make_partner()
        make_cosponsorship(petition=self.petition, organisation=partner)
        # Still open in the database: beat has not closed it yet, but the deadline binds at once.
        Petition.objects.filter(pk=self.petition.pk).update(closes_at=timezone.now() - timedelta(minutes=1))
        self.client = Client(enforce_csrf_checks=True)

    def assertNothingStored(self):
        self.assertEqual(Signature.objects.count(), 0)
        self.assertEqual(mail.outbox, [])

    def test_it_answers_on_the_page_with_the_form_and_its_error(self):
        client = Client()
        with self.captureOnCommitCallbacks(execute=True):
            response = client.post(f"/p/{self.petition.slug}/sign", sign_data())
        self.assertContains(response, NOT_OPEN, status_code=409)
        self.assertContains(response, 'value="Ada"', status_code=409)
        self.assertNothingStored()

    def test_it_answers_in_the_embed_with_its_form(self):
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                f"/embed/{self.petition.slug}/sign",
                sign_data(partner="we-own-it"),
                HTTP_ORIGIN="https://muster.test",
            )
        self.assertContains(response, NOT_OPEN, status_code=409)
        self.assertIn("frame-ancestors 'self' https://weownit.org.uk", response["Content-Security-Policy"])
        self.assertNothingStored()

    def test_it_answers_through_the_api_as_not_open(self):
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                f"/api/petitions/{self.petition.slug}/signatures",
                json.dumps({**sign_data(), "partner": "we-own-it", "opt_in": False}),
                content_type="application/json",
                HTTP_ORIGIN="https://weownit.org.uk",
            )
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json(), {"error": "not_open", "message": NOT_OPEN})
        self.assertEqual(response["Access-Control-Allow-Origin"], "https://weownit.org.uk")
        self.assertNothingStored()


class LayoutTests(TestCase):
    def test_it_imports_no_private_name_from_another_module(self):
        root = pathlib.Path(petitions.__file__).parent
        offenders = []
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    offenders += [
                        f"{path.relative_to(root)}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                    ]
        self.assertEqual(offenders, [])
