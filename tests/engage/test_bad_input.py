"""Bad input to any public engage page answers 4xx with a page, never a 500, and stores nothing."""

import pytest
from django.test import Client

from engage.links import one_click_unsubscribe_url, preferences_url, unsubscribe_url
from engage.models import Consent, DataExport, Signup, Subscription, SubscriptionEvent, Supporter, Suppression
from engage.services.supporters import supporter_get_or_create
from tests.support.factories import make_list

BAD_TOKENS = ["x", "%00", "a" * 5000, "é:ü:ß", "..%2F..%2Fetc", "abc:def:ghi", ":::", "1" * 40 + ":1xVl62:" + "A" * 43]
PATHS = [
    "/signup/confirm/{}/",
    "/preferences/{}/",
    "/preferences/{}/choices",
    "/preferences/{}/details",
    "/preferences/{}/export",
    "/preferences/{}/erase",
    "/unsubscribe/{}/",
    "/unsubscribe/{}/one-click",
    "/my-data/{}/",
]
GARBAGE_FORMS = [
    {},
    {"email": ["a@example.org", "b@example.org"], "lists": "1"},
    {"email": "x" * 10_000 + "@example.org", "first_name": "\x00", "last_name": "\u202e"},
    {"lists": ["1", "1", "-5", "1e9", "null"], "joining_as": ["individual", "organisation"]},
    {"country": "<script>", "postcode": "'; DROP TABLE engage_supporter; --", "source": "%%%"},
    {"organisations": "abc", "understood": "", "first_name": "Ada", "last_name": "L", "country": "GB"},
    # A list id too large for any integer column (SQLite's 64 bits overflowed into a 500).
    {"email": "a@example.org", "first_name": "A", "last_name": "L", "country": "GB", "lists": "9" * 60},
    {"email": "a@example.org", "first_name": "A", "last_name": "L", "country": "GB", "lists": ["1", str(2**63)]},
]
# The forms that take list choices; a valid address on the other pages is not garbage to them.
GARBAGE_LIST_FORMS = GARBAGE_FORMS[-2:]


@pytest.mark.django_db
def test_bad_tokens_are_4xx_on_every_link_page():
    client = Client(enforce_csrf_checks=False)
    for template in PATHS:
        for token in BAD_TOKENS:
            path = template.format(token)
            for method in (client.get, client.post, client.head):
                status = method(path).status_code
                assert 400 <= status < 500, (path, method.__name__, status)
    # A refused link writes nothing, not even in part.
    for model in (Supporter, Signup, Subscription, SubscriptionEvent, Consent, DataExport, Suppression):
        assert not model.objects.exists(), model.__name__


@pytest.mark.django_db
def test_garbage_forms_are_4xx_and_store_nothing():
    news = make_list()
    ada, _ = supporter_get_or_create(email="ada@example.org", first_name="Ada", last_name="L", country="GB", postcode="")
    client = Client()
    pages = [
        "/subscribe/", "/join/", "/preferences/",
        preferences_url(ada).removeprefix("https://muster.test") + "details",
        preferences_url(ada).removeprefix("https://muster.test") + "erase",
    ]
    for path in pages:
        for data in GARBAGE_FORMS:
            status = client.post(path, data).status_code
            # Two addresses in one field: Django reads the last, a real address, and the page
            # asking for a preferences link answers as for any address.
            if path == "/preferences/" and data in GARBAGE_LIST_FORMS:
                continue
            expected = 303 if path == "/preferences/" and isinstance(data.get("email"), list) else 400
            assert status == expected, (path, data, status)
    assert list(Supporter.objects.all()) == [ada]
    assert not Signup.objects.exists()
    # The choices form acts on the list and organisation ids it can read and ignores the rest.
    for data in GARBAGE_FORMS:
        assert client.post(preferences_url(ada).removeprefix("https://muster.test") + "choices", data).status_code == 303
    for url in (unsubscribe_url(ada, news), one_click_unsubscribe_url(ada, news)):
        assert client.post(url.removeprefix("https://muster.test"), {"List-Unsubscribe": ["x", "y"]}).status_code in (200, 303)
    assert set(Subscription.objects.values_list("mailing_list", flat=True)) <= {news.pk}


@pytest.mark.django_db
def test_other_methods_and_bodies_are_refused():
    client = Client()
    for path in ("/subscribe/", "/join/", "/preferences/", "/check-your-email/", "/preferences/erased/"):
        assert client.put(path).status_code == 405
        assert client.delete(path).status_code == 405
    assert client.post("/subscribe/", "{not json", content_type="application/json").status_code == 400
    assert client.get("/check-your-email/?for=<script>").status_code == 200
