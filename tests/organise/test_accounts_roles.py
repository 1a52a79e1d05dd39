"""Roles per organisation over every workspace page: one table of expectations, one test.

Each page of the access table (tests/organise/test_access.py) and each page of organiser
accounts, for an admin, an organiser and a viewer of the host and of a partner. A viewer sees
figures only; an organiser all the work but the organisation's people; an admin everything,
the audit log being the host's. What the organisation's kind forbids stays forbidden."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from engage.models import OrganisationMember
from organise.access import Need, Workspace
from tests.organise.accounts_support import make_person
from tests.organise.test_access import PAGES, world  # noqa: F401 - the access table's objects

Role = OrganisationMember.Role

# The pages of the access table a viewer may open (figures, no personal data).
VIEWER_PAGES = {"overview", "petitions", "petition", "overview-csv", "petitions-csv", "petition-csv"}

# Organiser accounts' pages: (name, url, {(kind, role): status}).
ACCOUNT_PAGES = [
    ("people", lambda o, org: reverse("organise:people", kwargs={"org": org}),
     {("host", "admin"): 200, ("host", "organiser"): 403, ("host", "viewer"): 403,
      ("partner", "admin"): 200, ("partner", "organiser"): 403, ("partner", "viewer"): 403}),
    ("audit", lambda o, org: reverse("organise:audit", kwargs={"org": org}),
     {("host", "admin"): 200, ("host", "organiser"): 403, ("host", "viewer"): 403,
      ("partner", "admin"): 403, ("partner", "organiser"): 403, ("partner", "viewer"): 403}),
    ("audit csv", lambda o, org: reverse("organise:audit", kwargs={"org": org}) + "?csv=1",
     {("host", "admin"): 200, ("host", "organiser"): 403, ("host", "viewer"): 403,
      ("partner", "admin"): 403, ("partner", "organiser"): 403, ("partner", "viewer"): 403}),
]


def _expected_from_access_table():
    rows = []
    for name, url, host_status, partner_status in PAGES:
        if name in {row[0] for row in ACCOUNT_PAGES}:
            continue  # their own rows below: the access table's organisers are refused them
        expected = {}
        for kind, base in (("host", host_status), ("partner", partner_status)):
            for role in Role.values:
                status = base
                # A page the role may not open is refused before anything else (a POST-only
                # endpoint's 405 included).
                if base in (200, 405) and role == Role.VIEWER and name not in VIEWER_PAGES:
                    status = 403
                expected[(kind, role)] = status
        rows.append((name, url, expected))
    return rows


TABLE = _expected_from_access_table() + ACCOUNT_PAGES


@pytest.mark.parametrize("name,url,expected", TABLE, ids=[row[0] for row in TABLE])
def test_what_each_role_opens(client, world, name, url, expected):  # noqa: F811
    for kind in ("host", "partner"):
        organisation = world[kind]
        for role in Role.values:
            person = make_person(f"{kind}-{role}-{name.replace(' ', '-')}", organisation=organisation, role=role)
            client.force_login(person)
            response = client.get(url(world, organisation.slug))
            assert response.status_code == expected[(kind, role)], f"{name}: a {role} of the {kind}"
            # Another organisation's workspace does not exist for them, whatever their role.
            other = world["other"]
            assert client.get(url(world, other.slug)).status_code == 404, f"{name}: a {role} of the {kind} elsewhere"


def test_a_superuser_is_an_admin_everywhere(client, world):  # noqa: F811
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw")
    client.force_login(boss)
    for kind in ("host", "partner"):
        assert client.get(reverse("organise:people", kwargs={"org": world[kind].slug})).status_code == 200
    assert client.get(reverse("organise:audit", kwargs={"org": world["host"].slug})).status_code == 200


def test_members_added_in_code_are_organisers_and_roles_narrow_allows(world):  # noqa: F811
    member = OrganisationMember.objects.get(organisation=world["host"], user=world["host_user"])
    assert member.role == Role.ORGANISER
    host, partner = world["host"], world["partner"]
    assert Workspace(user=None, organisation=host, role=Role.ADMIN).allows(Need.MANAGE)
    assert Workspace(user=None, organisation=host, role=Role.ADMIN).allows(Need.AUDIT)
    assert not Workspace(user=None, organisation=host, role=Role.ORGANISER).allows(Need.MANAGE)
    assert Workspace(user=None, organisation=host, role=Role.ORGANISER).allows(Need.MAIL)
    assert not Workspace(user=None, organisation=host, role=Role.VIEWER).allows(Need.PEOPLE)
    assert Workspace(user=None, organisation=partner, role=Role.ADMIN).allows(Need.MANAGE)
    assert not Workspace(user=None, organisation=partner, role=Role.ADMIN).allows(Need.AUDIT)
    assert not Workspace(user=None, organisation=partner, role=Role.ADMIN).allows(Need.MAIL)
    # Without a role given, a Workspace is a viewer's: the least, not the most.
    assert not Workspace(user=None, organisation=host).allows(Need.PEOPLE)


def test_the_workspace_finds_the_role_in_the_same_query(client, world, django_assert_num_queries):  # noqa: F811
    from organise.access import workspace_for

    person = make_person("counted", organisation=world["host"], role=Role.VIEWER)
    with django_assert_num_queries(1):
        workspace = workspace_for(person, world["host"].slug)
    assert workspace.role == Role.VIEWER


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_members_as_admins():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("engage", "0010_supporter_search_indexes")], [("engage", "0011_organisation_roles_invitations_audit")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    organisation = old.get_model("engage", "Organisation").objects.create(name="Old", slug="old", kind="partner")
    user = old.get_model("auth", "User").objects.create(username="old-member")
    organisation.members.add(user)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    member = new.get_model("engage", "OrganisationMember").objects.get(organisation__slug="old")
    assert (member.user.username, member.role) == ("old-member", "admin")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
