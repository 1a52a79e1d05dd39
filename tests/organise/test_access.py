"""Who sees which workspace page: one table of expectations, one test.

Each row is a page (its URL built from the test's objects) and the status each kind of user
gets: the host's people, a partner's people (their own workspace), a partner's people asking
for another organisation's workspace, a user who belongs to no organisation, and nobody logged
in (sent to the login page). Every workspace page and export is in this table.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.support.factories import (
    make_cosponsorship,
    make_mailing,
    make_organisation,
    make_other_partner,
    make_partner,
    make_petition,
    make_supporter,
)

# (name, url builder taking the objects dict and the organisation's slug, host, partner)
# "host" is the status in the host's workspace for its people; "partner" in a partner's own
# workspace for its people. Another organisation's workspace is always a 404.
PAGES = [
    ("overview", lambda objects, org: reverse("organise:overview", kwargs={"org": org}), 200, 200),
    ("petitions", lambda objects, org: reverse("organise:petitions", kwargs={"org": org}), 200, 200),
    ("mailings", lambda objects, org: reverse("organise:mailings", kwargs={"org": org}), 200, 403),
    ("segments", lambda objects, org: reverse("organise:segments", kwargs={"org": org}), 200, 403),
    ("supporters", lambda objects, org: reverse("organise:supporters", kwargs={"org": org}), 200, 200),
    ("petition", lambda o, org: reverse("organise:petition", kwargs={"org": org, "slug": o["petition"].slug}), 200, 200),
    ("held", lambda o, org: reverse("organise:held", kwargs={"org": org}), 200, 403),
    ("mailing", lambda o, org: reverse("organise:mailing", kwargs={"org": org, "pk": o["mailing"].pk}), 200, 403),
    ("segment", lambda o, org: reverse("organise:segment", kwargs={"org": org, "pk": o["mailing"].segment_id}), 200, 403),
    ("supporter", lambda o, org: reverse("organise:supporter", kwargs={"org": org, "pk": o["supporter"].pk}), 200, 200),
    # Organiser accounts: the people here are organisers; admins' and viewers' answers are in
    # tests/organise/test_accounts_roles.py.
    ("people", lambda o, org: reverse("organise:people", kwargs={"org": org}), 403, 403),
    ("audit", lambda o, org: reverse("organise:audit", kwargs={"org": org}), 403, 403),
]

# Pages about one object that the other partner has nothing to do with.
OBJECT_PAGES_OF_OTHERS = {"petition", "supporter"}


@pytest.fixture
def world(db):
    User = get_user_model()
    host = make_organisation()
    partner = make_partner()
    other = make_other_partner()
    host_user = User.objects.create_user("host-organiser", password="pw")
    host.members.add(host_user)
    partner_user = User.objects.create_user("partner-person", password="pw")
    partner.members.add(partner_user)
    other_user = User.objects.create_user("other-partner-person", password="pw")
    other.members.add(other_user)
    nobody = User.objects.create_user("no-organisation", password="pw")
    petition = make_petition()
    make_cosponsorship(petition=petition, organisation=partner)
    # Opted in to the partner: one of the people the partner may see.
    supporter = make_supporter("grace@example.org", organisation=partner)
    mailing = make_mailing()
    return {"supporter": supporter, "mailing": mailing, "host": host, "partner": partner, "other": other, "host_user": host_user,
            "partner_user": partner_user, "other_user": other_user, "nobody": nobody, "petition": petition}


@pytest.mark.parametrize("name,url,host_status,partner_status", PAGES, ids=[p[0] for p in PAGES])
def test_who_sees_each_workspace_page(client, world, name, url, host_status, partner_status):
    host_url = url(world, world["host"].slug)
    partner_url = url(world, world["partner"].slug)
    other_url = url(world, world["other"].slug)

    anonymous = client.get(partner_url)
    assert anonymous.status_code == 302 and reverse("organise:login") in anonymous["Location"], name

    client.force_login(world["host_user"])
    assert client.get(host_url).status_code == host_status, f"{name}: host in its own workspace"
    if host_url != other_url:
        assert client.get(other_url).status_code == 404, f"{name}: host in a workspace not its own"

    client.force_login(world["partner_user"])
    if partner_url != host_url:
        assert client.get(partner_url).status_code == partner_status, f"{name}: partner in its own workspace"
        assert client.get(host_url).status_code == 404, f"{name}: partner in the host's workspace"
        assert client.get(other_url).status_code == 404, f"{name}: partner in another partner's workspace"

    # The other partner in its own workspace: pages about this petition, supporter or mailing
    # (none of them its own) do not exist for it; its own lists answer as for any partner.
    client.force_login(world["other_user"])
    expected = 404 if name in OBJECT_PAGES_OF_OTHERS else partner_status
    assert client.get(other_url).status_code == expected, f"{name}: another partner in its own workspace"

    client.force_login(world["nobody"])
    assert client.get(host_url).status_code == 404, f"{name}: a user of no organisation"


def test_the_index_takes_a_user_to_their_one_workspace_or_offers_a_choice(client, world):
    client.force_login(world["partner_user"])
    assert client.get(reverse("organise:index"))["Location"] == reverse("organise:overview", kwargs={"org": "we-own-it"})
    world["host"].members.add(world["partner_user"])
    page = client.get(reverse("organise:index"))
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index("Health Campaigns Together") < text.index("We Own It")  # the host first
    client.force_login(world["nobody"])
    assert "not one of any organisation" in client.get(reverse("organise:index")).content.decode()
