"""schemathesis against /api/schema, in process: every operation of the document, with a
bounded number of generated requests each, answers no 5xx and only what the document says
(its not_a_server_error and response_schema_conformance checks)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from engage.services.partner_keys import partner_api_key_create
from tests.support.factories import make_cosponsorship, make_partner, make_petition

PARTNER_ORIGIN = "https://weownit.org.uk"
schema = schemathesis.openapi.from_wsgi("/api/schema", application)
# Data that fits the document and data that does not: both must be answered, never with a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture
def partner(db):
    """A petition co-sponsored by a partner: (the petition's slug, the partner's API key)."""
    partner = make_partner(origins=PARTNER_ORIGIN)
    petition = make_petition()
    make_cosponsorship(petition=petition, organisation=partner)
    return petition.slug, partner_api_key_create(organisation=partner, name="CRM")[1]


@pytest.fixture
def same_connection():
    # The WSGI handler closes "old" connections around each request; in a test that would close
    # the one holding the test's transaction, as Django's own test client knows.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(max_examples=min(50, hypothesis_settings.default.max_examples))
def test_every_operation(case, partner, same_connection):
    slug, key = partner
    # Requests that reach the code behind the routing and the key check: a real petition, a live
    # key and the partner's origin (unknown slugs and missing keys have tests of their own).
    if "slug" in (case.path_parameters or {}):
        case.path_parameters = {**case.path_parameters, "slug": slug}
    case.headers = {**(case.headers or {}), "Origin": PARTNER_ORIGIN, "Authorization": f"Bearer {key}"}
    if isinstance(case.body, dict):
        case.body = {**case.body, "partner": "we-own-it"}
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
