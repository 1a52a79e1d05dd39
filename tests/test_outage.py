"""A database outage answers 503 with Retry-After and a short page (JSON on the API, a framable page
in the embed), never a bare 500, and nothing a supporter sent meanwhile is saved (config.views).
The outage is real: PostgreSQL refuses the connection, or drops it in the middle of a request."""

import json
import logging
from contextlib import contextmanager
from unittest.mock import patch

import pytest
from django.db import connection, connections
from django.db.utils import IntegrityError, OperationalError
from django.test import override_settings
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

from config.views import RETRY_AFTER_SECONDS, database_unavailable
from engage.links import one_click_unsubscribe_url, preferences_url
from engage.models import Consent, Signup, Supporter
from engage.services.partner_keys import partner_api_key_create
from engage.services.supporters import supporter_get_or_create
from petitions.models import Signature
from tests.support.factories import make_cosponsorship, make_partner, make_petition, sign_data
from tests.support.web import path_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PARTNER_ORIGIN = "https://weownit.org.uk"
SITE_ORIGIN = "https://muster.test"
CLOSED_PORT = 9  # nothing listens on the discard port: a connection is refused at once
SENT = "We couldn't record that just now"
SHOWN = "This page isn't available just now"


@contextmanager
def database_unreachable():
    """PostgreSQL stops answering: the open connection goes, and every new one is refused. It
    answers again afterwards (before pytest-django flushes the tables)."""
    connection.close()
    port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = CLOSED_PORT
    try:
        yield
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()


@pytest.fixture
def outage_client(client):
    client.raise_request_exception = False  # as in production: the handler answers
    return client


@pytest.fixture
def coalition():
    petition = make_petition()
    partner = make_partner(origins=PARTNER_ORIGIN)
    make_cosponsorship(petition=petition, organisation=partner)
    grace, _ = supporter_get_or_create(
        email="grace@example.org", first_name="Grace", last_name="Hopper", country="GB", postcode="S70 2AB"
    )
    return petition, grace


def written():
    return Signature.objects.count(), Supporter.objects.count(), Consent.objects.count(), Signup.objects.count()


def requests_of(petition, grace):
    """By name, (method, path, data, headers) of each kind of request: pages, forms, embed, API."""
    slug = petition.slug
    preferences = path_of(preferences_url(grace))
    embed_sign = {**sign_data(), "partner": "we-own-it"}
    api_sign = json.dumps({**sign_data(), "partner": "we-own-it"})
    return {
        "home": ("get", "/", None, {}),
        "petition": ("get", f"/p/{slug}/", None, {}),
        "sign": ("post", f"/p/{slug}/sign", sign_data(), {}),
        "embed": ("get", f"/embed/{slug}/", {"partner": "we-own-it"}, {}),
        "embed sign": ("post", f"/embed/{slug}/sign", embed_sign, {"HTTP_ORIGIN": SITE_ORIGIN}),
        "sign API": (
            "post",
            f"/api/petitions/{slug}/signatures",
            api_sign,
            {"HTTP_ORIGIN": PARTNER_ORIGIN, "content_type": "application/json"},
        ),
        "count API": ("get", f"/api/petitions/{slug}", None, {}),
        "preferences": ("get", preferences, None, {}),
        "preferences change": ("post", f"{preferences}choices", {"lists": []}, {}),
        "one-click unsubscribe": (
            "post",
            path_of(one_click_unsubscribe_url(grace)),
            {"List-Unsubscribe": "One-Click"},
            {},
        ),
        "subscribe": ("post", "/subscribe/", sign_data(), {}),
    }


def send(client, request):
    method, path, data, headers = request
    return getattr(client, method)(path, data, **headers)


@pytest.mark.parametrize(
    "name",
    [
        "home",
        "petition",
        "sign",
        "embed",
        "embed sign",
        "preferences",
        "preferences change",
        "one-click unsubscribe",
        "subscribe",
    ],
)
def test_pages_and_forms_answer_503_with_a_short_page_and_save_nothing(outage_client, coalition, name):
    request = requests_of(*coalition)[name]
    before = written()
    with database_unreachable():
        response = send(outage_client, request)

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS) == "60"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert (SENT if request[0] == "post" else SHOWN) in page
    assert "Please try again in a minute." in page
    if request[0] == "post":
        assert "What you sent has not been saved." in page
    assert written() == before


@pytest.mark.parametrize("name", ["sign API", "count API"])
def test_the_api_answers_503_in_json_and_saves_nothing(outage_client, coalition, name):
    request = requests_of(*coalition)[name]
    before = written()
    with database_unreachable():
        response = send(outage_client, request)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "unavailable"
    assert body["retry_after"] == 60
    assert body["message"].endswith("Please try again in a minute.")
    assert ("has not been saved" in body["message"]) == (request[0] == "post")
    # The partner's page can read why: the origins it would be checked against are in the database.
    assert response["Access-Control-Allow-Origin"] == "*"
    assert written() == before


def test_the_embeds_503_can_be_shown_in_a_partners_frame_and_other_pages_cannot(outage_client, coalition):
    requests = requests_of(*coalition)
    with database_unreachable():
        embed = send(outage_client, requests["embed"])
        signed = send(outage_client, requests["embed sign"])
        home = send(outage_client, requests["home"])

    for response in (embed, signed):
        assert response.status_code == 503
        assert "X-Frame-Options" not in response
        assert response["Content-Security-Policy"] == "frame-ancestors *"
        assert "Muster</a>" not in response.content.decode()  # no site header inside a partner's page
    # Only a frame already showing the form is resized to the message; a first load that fails
    # leaves the partner's plain link in place (the embed script drops a frame that never reports).
    assert "embed-frame.js" not in embed.content.decode()
    assert "embed-frame.js" in signed.content.decode()
    assert home.status_code == 503
    assert home["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in home


class UserReadingMiddleware:
    """A middleware that reads request.user, and so the session, before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user.is_authenticated  # noqa: B018
        return self.get_response(request)


@override_settings(
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "tests.test_outage.UserReadingMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
)
def test_a_middleware_that_cannot_reach_the_database_answers_503(outage_client, organiser):
    outage_client.force_login(organiser)
    assert outage_client.get("/check-your-email/").status_code == 200  # the view itself reads nothing
    with database_unreachable():
        response = outage_client.get("/check-your-email/")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert SHOWN in response.content.decode()


class TerminateBackendAtFirstWrite:
    """An execute wrapper that, at the request's first INSERT or UPDATE, has PostgreSQL end the
    request's connection (as a restart or failover does) and then lets the statement run on it."""

    def __init__(self):
        self.terminated = False

    def __call__(self, execute, sql, params, many, context):
        if not self.terminated and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH")):
            self.terminated = True
            pid = context["connection"].connection.info.backend_pid
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            finally:
                other.close()
        return execute(sql, params, many, context)


def test_a_connection_dropped_mid_request_answers_503_and_saves_nothing(outage_client, coalition):
    petition, _ = coalition
    before = written()
    dropped = TerminateBackendAtFirstWrite()
    with connection.execute_wrapper(dropped):
        response = outage_client.post(f"/p/{petition.slug}/sign", sign_data())
    connection.close()

    assert dropped.terminated
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert SENT in response.content.decode()
    assert written() == before  # the transaction of the signature died with the connection
    # The database is back: the next attempt is stored.
    assert outage_client.post(f"/p/{petition.slug}/sign", sign_data()).status_code == 303
    assert Signature.objects.filter(supporter__email="ada@example.org").exists()


def test_the_outage_is_still_logged_as_an_error_with_its_traceback(outage_client, coalition, caplog):
    with caplog.at_level(logging.ERROR, logger="django.request"), database_unreachable():
        outage_client.get("/")
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    assert record.status_code == 503
    assert isinstance(record.exc_info[1], OperationalError)


def test_any_other_error_is_still_a_500(outage_client, coalition):
    with patch("petitions.views.pages.petitions_open_listed", side_effect=RuntimeError("a bug")):
        response = outage_client.get("/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Server Error (500)" in response.content.decode()

    with patch("petitions.views.api.petition_summary", side_effect=IntegrityError("a bug too")):
        response = outage_client.get(f"/api/petitions/{coalition[0].slug}")
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_an_error_raised_from_a_database_error_counts_as_the_outage():
    try:
        try:
            raise OperationalError("server closed the connection unexpectedly")
        except OperationalError as error:
            raise RuntimeError("could not load the session") from error
    except RuntimeError as error:
        assert database_unavailable(error)
    assert not database_unavailable(RuntimeError("a bug"))
    assert not database_unavailable(IntegrityError("duplicate key"))
    assert not database_unavailable(None)


class _Request(DjangoOpenAPIRequest):
    path_pattern = None  # as in tests/petitions/test_openapi.py: match the document's templates


def test_every_documented_503_is_what_the_api_answers(outage_client, coalition):
    petition, _ = coalition
    document = outage_client.get("/api/schema").json()
    api = OpenAPI.from_dict(document)
    key = partner_api_key_create(organisation=make_partner(origins=PARTNER_ORIGIN), name="CRM")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    signatures = f"/api/petitions/{petition.slug}/signatures"
    preflight = {"HTTP_ORIGIN": PARTNER_ORIGIN, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}
    with database_unreachable():
        answers = {
            ("/api/petitions/{slug}", "get"): send(outage_client, requests_of(*coalition)["count API"]),
            ("/api/petitions/{slug}/signatures", "post"): send(outage_client, requests_of(*coalition)["sign API"]),
            ("/api/petitions/{slug}/signatures", "options"): outage_client.options(signatures, **preflight),
            ("/api/partner/supporters", "get"): outage_client.get("/api/partner/supporters", **auth),
            ("/api/partner/supporters.csv", "get"): outage_client.get("/api/partner/supporters.csv", **auth),
            ("/api/partner/changes", "get"): outage_client.get("/api/partner/changes", **auth),
            ("/api/partner/changes.csv", "get"): outage_client.get("/api/partner/changes.csv", **auth),
        }
    for response in answers.values():
        assert response.status_code == 503
        api.validate_response(_Request(response.wsgi_request), DjangoOpenAPIResponse(response))
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "503" in operation["responses"]
    }
    assert documented == set(answers)
