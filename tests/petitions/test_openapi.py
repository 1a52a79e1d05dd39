"""/api/schema: a valid OpenAPI 3.1 document that describes every endpoint, and every real
response of every endpoint (each documented status at least once) matches it."""

import json

from django.urls import URLPattern, get_resolver
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate

from engage.services.consent import consent_record
from engage.services.partner_keys import partner_api_key_create
from petitions.models import Petition, Signature
from tests.support.base import MusterTestCase
from tests.support.factories import make_cosponsorship, make_petition, make_signature, sign_data

ORIGIN = "https://weownit.org.uk"


class _Request(DjangoOpenAPIRequest):
    # Match the path against the document's templates rather than rebuild one from Django's route:
    # openapi-core's rebuilding drops the ".js" of "embed/<slug:slug>.js".
    path_pattern = None


class OpenApiTests(MusterTestCase):
    partner_origins = ORIGIN

    def setUp(self):
        super().setUp()
        make_cosponsorship(petition=self.petition, organisation=self.partner)
        self.closed = make_petition(slug="closed-one", status=Petition.Status.CLOSED)
        make_cosponsorship(petition=self.closed, organisation=self.partner)
        self.key = partner_api_key_create(organisation=self.partner, name="CRM")[1]
        make_signature(petition=self.petition, opt_in=True, boxes=["we-own-it"], source="leaflet", confirm=True)
        response = self.client.get("/api/schema")
        self.assertEqual(response.status_code, 200)
        self.document = response.json()
        self.api = OpenAPI.from_dict(self.document)
        self.checked = set()

    def check(self, response, status):
        self.assertEqual(response.status_code, status, response.headers)
        request = response.wsgi_request
        self.api.validate_response(_Request(request), DjangoOpenAPIResponse(response))
        template = next(p for p in self.document["paths"] if self._matches(p, request.path))
        self.checked.add((template, request.method.lower(), str(status)))
        return response

    @staticmethod
    def _matches(template, path):
        if "{slug}" not in template:
            return path == template
        head, _, tail = template.partition("{slug}")
        slug = path[len(head) : len(path) - len(tail)]
        return path.startswith(head) and path.endswith(tail) and bool(slug) and "/" not in slug

    def api_sign(self, slug, body, origin=ORIGIN):
        return self.post_json(f"/api/petitions/{slug}/signatures", body, origin=origin)

    def test_the_document_is_valid_openapi(self):
        validate(self.document)
        self.assertEqual(self.document["servers"], [{"url": "http://testserver"}])

    def test_every_api_route_is_described(self):
        routes = {str(p.pattern) for p in get_resolver().url_patterns if isinstance(p, URLPattern)}
        routes |= {str(p.pattern) for r in get_resolver().url_patterns if hasattr(r, "url_patterns") for p in r.url_patterns}
        api_routes = {r for r in routes if r.startswith("api/") or r.endswith(".js")}
        described = {path.lstrip("/").replace("{slug}", "<slug:slug>") for path in self.document["paths"]}
        self.assertEqual(api_routes, described)

    def test_every_documented_response_matches_a_real_one(self):
        slug = self.petition.slug
        summary = self.check(self.client.get(f"/api/petitions/{slug}"), 200)
        self.check(self.client.get(f"/api/petitions/{slug}", HTTP_IF_NONE_MATCH=summary["ETag"]), 304)
        self.check(self.client.get("/api/petitions/nope"), 404)

        signed = self.api_sign(slug, {**sign_data(email="new@example.org"), "opt_in": True, "partner": "we-own-it", "partner_opt_in": ["we-own-it"]})
        self.check(signed, 201)
        signature = Signature.objects.get(supporter__email="new@example.org")
        self.assertEqual((signature.partner, signature.status), (self.partner, Signature.Status.PENDING))
        self.api.validate_request(_Request(signed.wsgi_request))
        self.check(self.api_sign(slug, {"partner": "we-own-it", "email": "nope"}), 400)
        self.check(self.api_sign(slug, {**sign_data(), "partner": "we-own-it"}, origin="https://evil.example"), 403)
        self.check(self.api_sign("nope", sign_data()), 404)
        self.check(self.api_sign(self.closed.slug, {**sign_data(), "partner": "we-own-it"}), 409)
        preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}
        self.check(self.client.options(f"/api/petitions/{slug}/signatures", HTTP_ORIGIN=ORIGIN, **preflight), 204)
        self.check(self.client.options(f"/api/petitions/{slug}/signatures", HTTP_ORIGIN="https://evil.example", **preflight), 403)
        self.check(self.client.options("/api/petitions/nope/signatures", HTTP_ORIGIN=ORIGIN, **preflight), 404)

        auth = {"HTTP_AUTHORIZATION": f"Bearer {self.key}"}
        page = self.check(self.client.get("/api/partner/supporters", {"limit": 1}, **auth), 200)
        self.assertEqual(len(page.json()["results"]), 1)
        self.check(self.client.get("/api/partner/supporters", {"since": "nope"}, **auth), 400)
        self.check(self.client.get("/api/partner/supporters"), 401)
        self.check(self.client.get("/api/partner/supporters.csv", **auth), 200)
        self.check(self.client.get("/api/partner/supporters.csv", {"since": "nope"}, **auth), 400)
        self.check(self.client.get("/api/partner/supporters.csv", HTTP_AUTHORIZATION="Bearer mpk_wrong"), 401)
        supporter = Signature.objects.get(supporter__email="ada@example.org").supporter
        consent_record(supporter=supporter, organisation=self.partner, given=False, wording="Unticked", source="test")
        changes = self.check(self.client.get("/api/partner/changes", {"limit": 1, "since": "2026-01-31T09:00:00+01:00"}, **auth), 200)
        self.assertEqual(changes.json()["results"][0]["kind"], "withdrawn")
        self.check(self.client.get("/api/partner/changes", {"since": "nope"}, **auth), 400)
        self.check(self.client.get("/api/partner/changes"), 401)
        self.check(self.client.get("/api/partner/changes.csv", **auth), 200)
        self.check(self.client.get("/api/partner/changes.csv", {"since": "nope"}, **auth), 400)
        self.check(self.client.get("/api/partner/changes.csv"), 401)

        self.check(self.client.get("/api/schema"), 200)
        self.check(self.client.get(f"/embed/{slug}.js"), 200)
        self.check(self.client.get("/embed/nope.js"), 404)

        documented = {
            (path, method, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
            if status != "503"  # with the database really down: tests/test_outage.py
        }
        self.assertEqual(self.checked, documented)

    def test_a_response_that_drifts_from_the_document_is_caught(self):
        response = self.client.get(f"/api/petitions/{self.petition.slug}")
        data = response.json()
        data["signature_count"] = "many"
        response.content = json.dumps(data).encode()
        with self.assertRaises(OpenAPIError):
            self.api.validate_response(_Request(response.wsgi_request), DjangoOpenAPIResponse(response))
