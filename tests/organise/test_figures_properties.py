"""The workspace's figure pages take one query parameter, ?csv=<table>: whatever it holds, a
table's CSV or a 404, never a 500, and no CSV starts streaming for a name it does not know."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import make_cosponsorship, make_partner, make_petition, make_signature
from tests.support.strategies import arbitrary_text

pytestmark = pytest.mark.django_db

NAMES = {"petition": {"total", "over-time", "by-country", "by-area", "by-partner", "by-source"},
         "overview": {"open-petitions", "days-scrap-the-icp-contract"}, "petitions": {"petitions"}}


@pytest.fixture
def pages(client):
    petition = make_petition()
    partner = make_partner()
    make_cosponsorship(petition=petition, organisation=partner)
    make_signature(petition=petition, email="ada@example.org", confirm=True, partner=partner, source="x")
    user = get_user_model().objects.create_user("hilda", password="pw")
    petition.organisation.members.add(user)
    client.force_login(user)
    org = petition.organisation.slug
    return {
        "petition": reverse("organise:petition", kwargs={"org": org, "slug": petition.slug}),
        "overview": reverse("organise:overview", kwargs={"org": org}),
        "petitions": reverse("organise:petitions", kwargs={"org": org}),
    }


@given(page=st.sampled_from(sorted(NAMES)), name=st.one_of(arbitrary_text, st.sampled_from(sorted(set().union(*NAMES.values())))))
def test_any_csv_name_is_a_table_or_a_404(client, pages, page, name):
    safe = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    response = client.get(pages[page], {"csv": safe})
    if safe in NAMES[page]:
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert b"".join(response.streaming_content).count(b"\n") >= 1
    else:
        assert response.status_code == 404, (safe, response.status_code)
        assert not response.streaming
