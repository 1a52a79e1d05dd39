"""The audit log: rows written with the action (none when it rolls back), append-only, the IP
kept as the same keyed hash as everywhere else, purged after the retention period, and shown
to the host's admins filtered by person, kind and date, and as CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from engage.audit import audit_purge, audit_record
from engage.models import AuditEvent, OrganisationMember, PartnerApiKey
from engage.services.partner_keys import partner_api_key_create, partner_api_key_revoke
from petitions.services.signing import ip_hash
from tests.organise.accounts_support import make_person
from tests.support.factories import make_organisation, make_partner

pytestmark = pytest.mark.django_db
Role = OrganisationMember.Role


@pytest.fixture
def host():
    return make_organisation()


def test_a_row_from_a_request_names_the_user_and_hashes_the_address(host):
    user = make_person("ada", organisation=host)
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.8")
    request.user = user
    row = audit_record(request_or_actor=request, organisation=host, action="export.signatures", target=host,
                       details={"rows": 3})
    row.refresh_from_db()
    assert (row.actor, row.actor_name, row.organisation, row.action) == (user, "ada", host, "export.signatures")
    assert (row.target_type, row.target_id, row.target_name) == ("engage.organisation", str(host.pk), host.name)
    assert row.ip_hash == ip_hash("192.0.2.8") and row.details == {"rows": 3}
    system = audit_record(request_or_actor=None, organisation=None, action="retention.ran", target=("job", 7, "nightly"))
    assert (system.actor, system.actor_name, system.ip_hash, system.target_id) == (None, "", "", "7")


def test_rows_are_append_only(host):
    row = audit_record(request_or_actor=None, organisation=host, action="x")
    row.action = "changed"
    with pytest.raises(ValueError):
        row.save()
    with pytest.raises(ValueError):
        row.delete()
    assert AuditEvent.objects.get().action == "x"


def test_api_keys_made_and_revoked_are_audited_with_them(host):
    partner = make_partner()
    admin = make_person("ada", organisation=partner, role=Role.ADMIN)
    key, _ = partner_api_key_create(organisation=partner, name="CRM", request_or_actor=admin)
    assert partner_api_key_revoke(key=key, request_or_actor=admin)
    assert not partner_api_key_revoke(key=key, request_or_actor=admin)  # already: no second row
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name", "target_id", "organisation_id"))
    assert rows == [("api_key.created", "ada", str(key.pk), partner.pk), ("api_key.revoked", "ada", str(key.pk), partner.pk)]


def test_an_action_that_rolls_back_leaves_no_row(host):
    partner = make_partner()
    with pytest.raises(RuntimeError), transaction.atomic():
        key, _ = partner_api_key_create(organisation=partner, name="CRM")
        raise RuntimeError("after the key was made")
    assert not PartnerApiKey.objects.exists() and not AuditEvent.objects.exists()
    key, _ = partner_api_key_create(organisation=partner, name="CRM")
    with pytest.raises(RuntimeError), transaction.atomic():
        partner_api_key_revoke(key=key)
        raise RuntimeError("after the key was revoked")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["api_key.created"]


def test_the_purge_deletes_only_rows_past_the_retention(host, settings):
    settings.MUSTER_AUDIT_RETENTION_DAYS = 730
    old = audit_record(request_or_actor=None, organisation=host, action="old")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=731))
    audit_record(request_or_actor=None, organisation=host, action="recent")
    from engage.tasks import audit_purge as task

    assert task.delay().get() == 1
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["recent"]
    assert audit_purge() == 0
    assert settings.CELERY_BEAT_SCHEDULE["purge-audit-log"]["task"] == "engage.tasks.audit_purge"


def test_the_audit_page_filters_by_person_kind_and_date_and_exports_csv(client, host):
    boss = make_person("boss", organisation=host, role=Role.ADMIN)
    ada = make_person("ada", organisation=host)
    audit_record(request_or_actor=ada, organisation=host, action="role.changed", target=("x", 1, "=cmd|calc"))
    audit_record(request_or_actor=boss, organisation=host, action="invitation.created")
    long_ago = audit_record(request_or_actor=ada, organisation=host, action="invitation.created")
    AuditEvent.objects.filter(pk=long_ago.pk).update(at=timezone.now() - timedelta(days=40))
    client.force_login(boss)
    url = reverse("organise:audit", kwargs={"org": host.slug})

    def shown(**query):
        page = client.get(url, query)
        assert page.status_code == 200, query
        return page.context["events"]

    assert len(shown()) == 4  # with the boss's login
    assert [e.action for e, _ in shown(person="ADA")] == ["role.changed", "invitation.created"]
    assert [e.actor_name for e, _ in shown(kind="invitation.created")] == ["boss", "ada"]
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert [e.actor_name for e, _ in shown(kind="invitation.created", **{"from": since})] == ["boss"]
    until = (timezone.localdate() - timedelta(days=39)).isoformat()
    assert [e.actor_name for e, _ in shown(to=until)] == ["ada"]
    export = client.get(url, {"person": "ada", "csv": "1"})
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:4] == ["at", "actor", "organisation", "action"] and len(rows) == 3
    assert rows[1][6] == "'=cmd|calc"  # no formula reaches a spreadsheet
    assert AuditEvent.objects.filter(action="audit.exported", actor=boss).count() == 1


def test_bad_filters_are_a_message_and_a_400(client, host):
    client.force_login(make_person("boss", organisation=host, role=Role.ADMIN))
    url = reverse("organise:audit", kwargs={"org": host.slug})
    for query in ({"from": "yesterday"}, {"to": "2026-02-31"}, {"person": "a\x01"}, {"kind": "\x00"}):
        page = client.get(url, query)
        assert page.status_code == 400 and "There is a problem" in page.content.decode(), query
    assert client.get(url, {"from": "nope", "csv": "1"})["Content-Type"].startswith("text/html")
