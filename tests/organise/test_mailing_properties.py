"""The mailing pages' endpoints on arbitrary input (any JSON, any bytes, any query string, any
id): an answer below 500 with a message, and nothing written by a read or a refused write."""

import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from mailings.models import Mailing, Message
from tests.support.factories import (
    make_list,
    make_mailing,
    make_message,
    make_organisation,
    make_sender,
    make_supporter,
)
from tests.support.strategies import arbitrary_text, form_body, page_examples

pytestmark = pytest.mark.django_db

FIELDS = ["sender", "subject", "preheader", "body", "as"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=False),
    arbitrary_text,
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(arbitrary_text, inner, max_size=3),
                           max_leaves=6)
payloads = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5),
    json_values,
)


@pytest.fixture
def world(client):
    host = make_organisation()
    user = get_user_model().objects.create_user("maya", "maya@hct.example", "pw")
    host.members.add(user)
    client.force_login(user)
    news = make_list(slug="news", organisation=host)
    make_supporter("grace@example.org", first_name="Grace", subscribed_to=news)
    mailing = make_mailing(message=make_message(sender=make_sender(organisation=host)), mailing_list=news)
    return {"host": host, "mailing": mailing}


def _url(world, name, **kwargs):
    return reverse(f"organise:{name}", kwargs={"org": world["host"].slug, "pk": world["mailing"].pk, **kwargs})


def _message_state(world):
    return list(Message.objects.values_list("subject", "preheader", "body", "sender_id"))


@page_examples
@given(payload=payloads)
def test_the_preview_answers_any_json_without_a_500_and_writes_nothing(client, world, payload):
    before = _message_state(world)
    response = client.post(_url(world, "mailing_preview"), data=json.dumps(payload), content_type="application/json")
    assert response.status_code in (200, 400), response.content
    data = response.json()
    assert ("html" in data) if response.status_code == 200 else data["error"].strip()
    assert _message_state(world) == before


@page_examples
@given(body=st.binary(max_size=300))
def test_the_preview_answers_any_bytes_without_a_500(client, world, body):
    response = client.post(_url(world, "mailing_preview"), data=body, content_type="application/json")
    assert response.status_code in (200, 400)


query_values = st.dictionaries(st.sampled_from(["q", "segment", "list", "csv", "as", "x"]), arbitrary_text, max_size=3)


@page_examples
@given(params=query_values, pk=st.integers(min_value=0, max_value=10**25))
def test_the_progress_and_lookups_answer_any_query_without_a_500(client, world, params, pk):
    query = urlencode(params, encoding="utf-8", errors="surrogatepass")
    for name in ("mailing_progress", "mailing_recipients", "mailing_audience_count"):
        response = client.get(f"{_url(world, name)}?{query}")
        assert response.status_code in (200, 400), (name, response.content)
        assert isinstance(response.json(), dict)
    own = client.get(f"{_url(world, 'mailing_progress')}?{query}").json()
    assert own["status"] == "draft" and own["total"] == 0
    other = client.get(reverse("organise:mailing_progress", kwargs={"org": world["host"].slug, "pk": pk}))
    assert other.status_code in (200, 404)


@page_examples
@given(at=arbitrary_text, expected=arbitrary_text, action=st.sampled_from(["send", "schedule", "message", "audience"]))
def test_the_mailing_posts_refuse_arbitrary_input_with_a_message(client, world, at, expected, action):
    fields = {"at": at, "expected": expected, "subject": at, "body": expected, "segment": at, "mailing_list": expected,
              "sender": expected, "as": at}
    name = {"send": "mailing_send", "schedule": "mailing_schedule", "message": "mailing_message",
            "audience": "mailing_audience"}[action]
    response = client.post(_url(world, name), data=form_body(fields), content_type="application/x-www-form-urlencoded")
    assert response.status_code in (303, 400, 409), response.status_code
    if response.status_code != 303:
        assert Mailing.objects.get().status == Mailing.Status.DRAFT
