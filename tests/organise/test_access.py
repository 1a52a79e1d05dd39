"""Who sees which workspace page: one table of expectations, one test.

Each row is a page (its URL built from the test's objects) and the status each kind of user
gets: the host's people, a partner's people (their own workspace), a partner's people asking
for another organisation's workspace, a user who belongs to no organisation, and nobody logged
in (sent to the login page). Every workspace page and export is in this table.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from petitions.services.updates import petition_update_publish
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
    # a mailing, step by step (organise.views.mailings)
    ("mailing_new", lambda o, org: reverse("organise:mailing_new", kwargs={"org": org}), 200, 403),
    ("mailing_message", lambda o, org: _mailing_url("mailing_message", o, org), 200, 403),
    ("mailing_recipients", lambda o, org: _mailing_url("mailing_recipients", o, org) + "?q=grace", 200, 403),
    ("mailing_audience", lambda o, org: _mailing_url("mailing_audience", o, org), 200, 403),
    ("mailing_audience_count",
     lambda o, org: _mailing_url("mailing_audience_count", o, org) + f"?segment={o['mailing'].segment_id}", 200, 403),
    ("mailing_progress", lambda o, org: _mailing_url("mailing_progress", o, org), 200, 403),
    ("mailing_csv", lambda o, org: _mailing_url("mailing", o, org) + "?csv=hourly", 200, 403),
    ("segment-new", lambda o, org: reverse("organise:segment-new", kwargs={"org": org}), 200, 403),
    ("segment-import", lambda o, org: reverse("organise:segment-import", kwargs={"org": org}), 200, 403),
    ("segment-export", lambda o, org: reverse("organise:segment-export", kwargs={"org": org, "pk": o["mailing"].segment_id}), 200, 403),
    # A POST endpoint: access is checked before the method, so the host's GET is a 405.
    ("segment-count", lambda o, org: reverse("organise:segment-count", kwargs={"org": org}), 405, 403),
    ("supporter", lambda o, org: reverse("organise:supporter", kwargs={"org": org, "pk": o["supporter"].pk}), 200, 200),
    ("supporters search", lambda o, org: reverse("organise:supporters", kwargs={"org": org}) + "?q=grace", 200, 200),
    ("supporters csv", lambda o, org: reverse("organise:supporters_csv", kwargs={"org": org}), 200, 200),
    ("supporters csv of a search", lambda o, org: reverse("organise:supporters_csv", kwargs={"org": org}) + "?q=gr", 200, 200),
    ("supporter export", lambda o, org: reverse("organise:supporter_export", kwargs={"org": org, "pk": o["supporter"].pk}), 200, 403),
    ("supporter erase", lambda o, org: reverse("organise:supporter_erase", kwargs={"org": org, "pk": o["supporter"].pk}), 200, 403),
    ("held of a petition", lambda o, org: reverse("organise:held", kwargs={"org": org}) + f"?petition={o['petition'].slug}", 200, 403),
    # A petition's updates: publishing is the host's (Need.PUBLISH).
    ("petition updates", lambda o, org: reverse("organise:petition_updates", kwargs={"org": org, "slug": o["petition"].slug}), 200, 403),
    ("new petition update", lambda o, org: reverse("organise:petition_update_new", kwargs={"org": org, "slug": o["petition"].slug}), 200, 403),
    ("petition update", lambda o, org: reverse("organise:petition_update", kwargs={"org": org, "slug": o["petition"].slug, "pk": o["update"].pk}), 200, 403),
    # The figures' CSV files and the hand-in export (organise.views.petitions, organise.views.overview).
    ("overview-csv", lambda o, org: reverse("organise:overview", kwargs={"org": org}) + "?csv=open-petitions", 200, 200),
    ("petitions-csv", lambda o, org: reverse("organise:petitions", kwargs={"org": org}) + "?csv=petitions", 200, 200),
    ("petition-csv", lambda o, org: reverse("organise:petition", kwargs={"org": org, "slug": o["petition"].slug}) + "?csv=by-area", 200, 200),
    ("petition-handin", lambda o, org: reverse("organise:petition-handin", kwargs={"org": org, "slug": o["petition"].slug}), 200, 403),
    # Organiser accounts: the people here are organisers; admins' and viewers' answers are in
    # tests/organise/test_accounts_roles.py.
    ("people", lambda o, org: reverse("organise:people", kwargs={"org": org}), 403, 403),
    ("audit", lambda o, org: reverse("organise:audit", kwargs={"org": org}), 403, 403),
]


def _mailing_url(name, objects, org, **extra):
    return reverse(f"organise:{name}", kwargs={"org": org, "pk": objects["mailing"].pk, **extra})


# Every POST a workspace page makes: (name, url builder, data, the host's status in its own
# workspace, the partner's in its own). The data is harmless (nothing chosen, nothing
# confirmed): each refuses it with a message, or asks to confirm, and changes nothing.
# Another organisation's workspace is a 404, as for the pages.
POSTS = [
    ("held review", lambda o, org: reverse("organise:held_review", kwargs={"org": org}), {"action": "release"}, 400, 403),
    ("supporter erase", lambda o, org: reverse("organise:supporter_erase", kwargs={"org": org, "pk": o["supporter"].pk}),
     {}, 400, 403),
    ("mailing_new", lambda o, org: reverse("organise:mailing_new", kwargs={"org": org}), {}, 400, 403),
    ("mailing_message", lambda o, org: _mailing_url("mailing_message", o, org), {}, 400, 403),
    ("mailing_preview", lambda o, org: _mailing_url("mailing_preview", o, org), {}, 400, 403),
    ("mailing_audience", lambda o, org: _mailing_url("mailing_audience", o, org), {}, 400, 403),
    ("mailing_send", lambda o, org: _mailing_url("mailing_send", o, org), {}, 400, 403),
    ("mailing_schedule", lambda o, org: _mailing_url("mailing_schedule", o, org), {}, 400, 403),
    ("mailing_pause", lambda o, org: _mailing_url("mailing_action", o, org, action="pause"), {}, 409, 403),
    ("mailing_resume", lambda o, org: _mailing_url("mailing_action", o, org, action="resume"), {}, 409, 403),
    ("mailing_cancel", lambda o, org: _mailing_url("mailing_action", o, org, action="cancel"), {}, 200, 403),
    ("mailing_unschedule", lambda o, org: _mailing_url("mailing_action", o, org, action="unschedule"), {}, 409, 403),
    ("mailing_resend_unknown", lambda o, org: _mailing_url("mailing_action", o, org, action="resend-unknown"), {}, 303, 403),
    ("mailing_drop_unknown", lambda o, org: _mailing_url("mailing_action", o, org, action="drop-unknown"), {}, 303, 403),
    ("post an update", lambda o, org: reverse("organise:petition_update_new", kwargs={"org": org, "slug": o["petition"].slug}),
     {"kind": "news", "title": "News", "body": "Hello"}, 302, 403),
    ("edit an update", lambda o, org: reverse("organise:petition_update", kwargs={"org": org, "slug": o["petition"].slug, "pk": o["update"].pk}),
     {"kind": "news", "title": "News", "body": "Hello"}, 302, 403),
    ("withdraw an update", lambda o, org: reverse("organise:petition_update_withdraw", kwargs={"org": org, "slug": o["petition"].slug, "pk": o["update"].pk}),
     {}, 302, 403),
    # Nobody asked for updates yet: the host is told so (409), and nothing is sent.
    ("email an update", lambda o, org: reverse("organise:petition_update_email", kwargs={"org": org, "slug": o["petition"].slug, "pk": o["update"].pk}),
     {"expected": "0"}, 409, 403),
]

# Pages about one object that the other partner has nothing to do with.
OBJECT_PAGES_OF_OTHERS = {"petition", "supporter", "petition-csv", "petition-handin"}


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
    update = petition_update_publish(petition=petition, kind="news", title="Handed in", body="Thank you.")
    return {"supporter": supporter, "mailing": mailing, "update": update, "host": host, "partner": partner, "other": other, "host_user": host_user,
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


@pytest.mark.parametrize("name,url,data,host_status,partner_status", POSTS, ids=[p[0] for p in POSTS])
def test_who_may_post_to_each_workspace_action(client, world, name, url, data, host_status, partner_status):
    from petitions.models import PetitionUpdate

    host_url, partner_url, other_url = (url(world, world[org].slug) for org in ("host", "partner", "other"))
    updates_before = list(PetitionUpdate.objects.values_list("pk", "title", "withdrawn_at", "mailing_id"))

    anonymous = client.post(partner_url, data)
    assert anonymous.status_code == 302 and reverse("organise:login") in anonymous["Location"], name

    client.force_login(world["partner_user"])
    assert client.post(partner_url, data).status_code == partner_status, f"{name}: partner in its own workspace"
    assert client.post(host_url, data).status_code == 404, f"{name}: partner in the host's workspace"
    assert client.post(other_url, data).status_code == 404, f"{name}: partner in another partner's workspace"

    client.force_login(world["nobody"])
    assert client.post(host_url, data).status_code == 404, f"{name}: a user of no organisation"

    # Only the host's own POST below may change anything.
    assert list(PetitionUpdate.objects.values_list("pk", "title", "withdrawn_at", "mailing_id")) == updates_before, name
    client.force_login(world["host_user"])
    assert client.post(other_url, data).status_code == 404, f"{name}: host in a workspace not its own"
    assert client.post(host_url, data).status_code == host_status, f"{name}: host in its own workspace"
    world["mailing"].refresh_from_db()
    assert world["mailing"].status == "draft", f"{name}: a harmless POST changed the mailing"
    assert world["supporter"].__class__.objects.filter(pk=world["supporter"].pk).exists(), f"{name}: someone was erased"


def test_a_partner_cannot_open_a_supporter_who_does_not_opt_in_to_it(client, world):
    """Opted in to the host only, or withdrawn from the partner: not one of the partner's people (404)."""
    host_only = make_supporter("hopper@example.org", organisation=world["host"])
    withdrawn = make_supporter("lamarr@example.org", organisation=world["partner"])
    make_supporter("lamarr@example.org", organisation=world["partner"], opted_in=False)
    client.force_login(world["partner_user"])
    for person in (host_only, withdrawn):
        url = reverse("organise:supporter", kwargs={"org": world["partner"].slug, "pk": person.pk})
        assert client.get(url).status_code == 404, person.email
    client.force_login(world["host_user"])
    for person in (host_only, withdrawn):
        assert client.get(reverse("organise:supporter", kwargs={"org": world["host"].slug, "pk": person.pk})).status_code == 200


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
