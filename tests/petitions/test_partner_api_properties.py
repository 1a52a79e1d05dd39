"""The partner API's query parameters, arbitrary text included: a 200 or a 400 naming the
parameter, never a 500, and the CSV never starts streaming before its parameters are checked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.services.partner_keys import partner_api_key_create
from tests.support.factories import make_partner
from tests.support.strategies import arbitrary_text

pytestmark = pytest.mark.django_db

moments = st.one_of(
    arbitrary_text,
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.dates().map(str),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
)
numbers = st.one_of(arbitrary_text, st.integers(min_value=-(10**30), max_value=10**30).map(str))


@pytest.fixture
def key():
    _, plain = partner_api_key_create(organisation=make_partner(), name="CRM")
    return plain


@given(since=st.one_of(st.none(), moments), limit=st.one_of(st.none(), numbers), cursor=st.one_of(st.none(), arbitrary_text),
       csv=st.booleans())
def test_any_query_is_a_200_or_a_400(client, key, since, limit, cursor, csv):
    params = {name: value for name, value in (("since", since), ("limit", limit), ("cursor", cursor)) if value is not None}
    url = "/api/partner/supporters.csv" if csv else "/api/partner/supporters"
    # A lone surrogate arrives as the replacement character: Django decodes the query string so.
    safe = {name: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for name, value in params.items()}
    response = client.get(url, safe, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert not response.streaming
        assert set(response.json()["fields"]) <= {"since", "limit", "cursor"}
    elif csv:
        assert b"".join(response.streaming_content).startswith(b"email,")
