"""Properties of every way to sign (the petition page, the embed, the JSON API), for arbitrary
text in any field: a 4xx with a message, or a stored row; never a 500, never a partial row."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.models import Consent, Supporter
from petitions.models import Signature
from tests.support.factories import make_cosponsorship, make_organisation, make_partner, make_petition, sign_data
from tests.support.strategies import emails, form_body, page_examples, some_fields_arbitrary

pytestmark = pytest.mark.django_db

PARTNER_ORIGIN = "https://weownit.org.uk"
FIELDS = ["first_name", "last_name", "email", "country", "postcode", "opt_in", "updates_opt_in", "source", "website", "partner"]


@pytest.fixture
def petition():
    petition = make_petition(organisation=make_organisation())
    make_cosponsorship(petition=petition, organisation=make_partner(origins=PARTNER_ORIGIN))
    return petition


def counts():
    return Supporter.objects.count(), Signature.objects.count(), Consent.objects.count()


def assert_stored_or_refused(response, before, *, stored_status: int, refused: set[int]):
    supporters, signatures, consents = (after - earlier for after, earlier in zip(counts(), before, strict=True))
    assert response.status_code in {stored_status, *refused}, response.status_code
    if response.status_code == stored_status:
        # A new signature, or the same person signing again (nothing new, an email instead).
        assert signatures in (0, 1) and supporters <= signatures and consents == 0
    else:
        assert (supporters, signatures, consents) == (0, 0, 0)


def valid_fields(email):
    return {**sign_data(email=email), "partner": "we-own-it"}


@page_examples
@given(data=st.data())
def test_the_sign_form(client, petition, data):
    fields = data.draw(some_fields_arbitrary(valid_fields(data.draw(emails)), FIELDS))
    before = counts()
    response = client.post(
        f"/p/{petition.slug}/sign", form_body(fields), content_type="application/x-www-form-urlencoded"
    )
    assert_stored_or_refused(response, before, stored_status=303, refused={400})
    if response.status_code == 400:
        assert b"field-error" in response.content


@page_examples
@given(data=st.data())
def test_the_embed_sign_form(client, petition, data):
    fields = data.draw(some_fields_arbitrary(valid_fields(data.draw(emails)), FIELDS))
    before = counts()
    response = client.post(
        f"/embed/{petition.slug}/sign", form_body(fields), content_type="application/x-www-form-urlencoded",
        HTTP_ORIGIN="https://muster.test",
    )
    # 403: the partner named is not a co-sponsor (the page says so).
    assert_stored_or_refused(response, before, stored_status=303, refused={400, 403})
    if response.status_code == 400:
        assert b"field-error" in response.content


json_values = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30), st.booleans(), st.none(),
    st.integers(min_value=-(10**40), max_value=10**40), st.floats(allow_nan=False),
    st.lists(st.text(max_size=10), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@given(data=st.data())
def test_the_sign_api(client, petition, data):
    fields = data.draw(some_fields_arbitrary(
        {**valid_fields(data.draw(emails)), "opt_in": False, "partner_opt_in": ["we-own-it"]},
        [*FIELDS, "partner_opt_in"],
    ))
    for name in data.draw(st.sets(st.sampled_from([*FIELDS, "partner_opt_in"]), max_size=2)):
        fields[name] = data.draw(json_values)
    before = counts()
    response = client.post(
        f"/api/petitions/{petition.slug}/signatures", json.dumps(fields), content_type="application/json",
        HTTP_ORIGIN=PARTNER_ORIGIN,
    )
    assert_stored_or_refused(response, before, stored_status=201, refused={400, 403})
    body = response.json()
    assert body["message"]
