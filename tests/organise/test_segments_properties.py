"""The segment builder's count endpoint and import, on arbitrary JSON (near-valid definitions,
wrong types, lone surrogates, deep nesting) and arbitrary bodies: a count or a 400 with a
message, an imported segment or a 400 that writes nothing; never a 500."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from mailings.models import Segment
from tests.support.factories import make_list, make_mailing, make_partner, make_petition, make_supporter
from tests.support.strategies import arbitrary_text, form_body

pytestmark = pytest.mark.django_db

NAMES = [
    "subscribed_to_list", "consented_to", "postcode", "country", "joined_between", "received_mailing",
    "opened_mailing", "clicked_mailing", "mailing_recent", "signed_petition", "signed_via_partner",
    "signed_with_source", "signed_between", "", "nope",
]
KEYS = ["list", "organisation", "prefix", "country", "from", "to", "mailing", "action", "days", "petition", "partner",
        "source"]
PLAUSIBLE = ["news", "we-own-it", "S", "S70", "SW1A", "GB", "fr", "2025-01-01", "2025-13-01", "9999-12-31", "opened",
             "received", "1", "30", "0", "scrap-the-icp-contract", "leaflet"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False), arbitrary_text, st.sampled_from(PLAUSIBLE),
)
conditions = st.builds(lambda name, params: {"condition": name, **params}, st.sampled_from(NAMES),
                       st.dictionaries(st.sampled_from(KEYS), scalars, max_size=3))
definitions = st.recursive(
    st.one_of(scalars, conditions),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.builds(lambda op, items: {op: items}, st.sampled_from(["all", "any"]), st.lists(children, max_size=4)),
        st.builds(lambda inner: {"not": inner}, children),
        st.dictionaries(st.one_of(st.sampled_from(["all", "any", "not", "condition"]), arbitrary_text), children,
                        max_size=3),
    ),
    max_leaves=16,
)
bases = st.one_of(st.none(), arbitrary_text, st.integers(), st.sampled_from(["list:1", "organisation:1", "list:"]))


@pytest.fixture
def host_client(client, host):
    make_list(slug="news", organisation=host)
    make_partner()
    make_petition()
    make_mailing()
    make_supporter("ada@example.org")
    user = get_user_model().objects.create_user("organiser-props", password="pw")
    host.members.add(user)
    client.force_login(user)
    return client


def _body(value) -> bytes:
    # json.dumps writes a lone surrogate as its \ud800 escape: valid JSON that decodes to one.
    return json.dumps(value).encode()


@given(definition=definitions, basis=bases, as_text=st.booleans())
def test_the_count_answers_any_definition_with_a_count_or_a_400(host_client, host, definition, basis, as_text):
    url = reverse("organise:segment-count", kwargs={"org": host.slug})
    payload = {"definition": json.dumps(definition) if as_text else definition, "basis": basis}
    response = host_client.post(url, data=_body(payload), content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    answer = response.json()
    if response.status_code == 400:
        assert answer["error"].strip()
    else:
        assert answer["matching"] >= 0 and len(answer["sample"]) <= 10


@given(raw=st.one_of(arbitrary_text, st.binary(max_size=200)))
def test_the_count_answers_any_body_with_a_count_or_a_400(host_client, host, raw):
    url = reverse("organise:segment-count", kwargs={"org": host.slug})
    body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    response = host_client.post(url, data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code


@given(definition=definitions, wrapped=st.booleans(), name=st.one_of(st.none(), scalars), form_name=arbitrary_text)
def test_the_import_takes_a_valid_segment_or_answers_400_writing_nothing(host_client, host, definition, wrapped, name,
                                                                           form_name):
    url = reverse("organise:segment-import", kwargs={"org": host.slug})
    document = {"muster_segment": 1, "name": name, "definition": definition} if wrapped else definition
    before = Segment.objects.count()
    response = host_client.post(
        url, data=form_body({"text": json.dumps(document), "name": form_name}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (302, 400), response.status_code
    assert Segment.objects.count() == before + (1 if response.status_code == 302 else 0)
