"""Invitations and the People page: an admin invites by email with a role; the link works once,
expires, can be sent again (the old link dies) or revoked; roles changed and people removed,
never the last admin; each action audited with it, none when it rolls back."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from engage.models import AuditEvent, Invitation, OrganisationMember
from engage.services.organisation_people import (
    LastAdmin,
    invitation_accept,
    invitation_create,
    member_role_change,
)
from tests.organise.accounts_support import PASSWORD, log_in, make_person
from tests.support.factories import make_organisation, make_partner

pytestmark = pytest.mark.django_db
Role = OrganisationMember.Role
NEW_PASSWORD = "a-long-new-passphrase-4"


@pytest.fixture
def partner():
    make_organisation()
    return make_partner()


@pytest.fixture
def admin(client, partner):
    person = make_person("ada", organisation=partner, role=Role.ADMIN)
    client.force_login(person)
    return person


def people_url(org, name="organise:people", **kwargs):
    return reverse(name, kwargs={"org": org.slug, **kwargs})


def invite(client, partner, email="new@example.org", role=Role.ORGANISER):
    return client.post(people_url(partner, "organise:people-invite"), {"email": email, "role": role})


def link_in(message) -> str:
    return next(word for word in message.body.split() if "/organise/invitations/" in word)


def test_an_admin_invites_and_the_link_makes_an_account_once(client, partner, admin):
    assert invite(client, partner).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@example.org"]
    link = link_in(mail.outbox[0]).replace("https://testserver", "")
    assert "We Own It" in mail.outbox[0].subject
    page = client.get(people_url(partner))
    assert "new@example.org" in page.content.decode()
    client.logout()
    assert client.get(link).status_code == 200  # a mail scanner's GET uses nothing
    data = {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    answer = client.post(link, data)
    assert answer.status_code == 302 and answer["Location"] == reverse("organise:login")
    user = get_user_model().objects.get(username="newbie")
    assert user.email == "new@example.org" and user.check_password(NEW_PASSWORD)
    assert OrganisationMember.objects.get(user=user).role == Role.ORGANISER
    # Once only.
    assert client.post(link, {**data, "username": "again"}).status_code == 410
    assert client.get(link).status_code == 410
    assert log_in(client, "newbie", NEW_PASSWORD).status_code == 302
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "login.succeeded", "invitation.created", "invitation.accepted", "login.succeeded"]
    accepted = AuditEvent.objects.get(action="invitation.accepted")
    assert accepted.actor == user and accepted.organisation == partner and accepted.ip_hash


def test_an_expired_or_revoked_link_is_refused_with_a_message(client, partner, admin):
    invite(client, partner)
    link = link_in(mail.outbox[0]).replace("https://testserver", "")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get(link)
    assert expired.status_code == 410 and "cannot be used" in expired.content.decode()
    Invitation.objects.update(expires_at=timezone.now() + timedelta(days=1))
    invitation = Invitation.objects.get()
    assert client.post(people_url(partner, "organise:invitation-revoke", pk=invitation.pk)).status_code == 302
    assert client.get(link).status_code == 410
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1


def test_sending_again_kills_the_old_link_and_the_new_one_works(client, partner, admin):
    invite(client, partner)
    old = link_in(mail.outbox[0]).replace("https://testserver", "")
    invitation = Invitation.objects.get()
    client.post(people_url(partner, "organise:invitation-resend", pk=invitation.pk))
    new = link_in(mail.outbox[1]).replace("https://testserver", "")
    assert old != new
    client.logout()
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200


def test_an_existing_account_logs_in_then_accepts(client, partner, admin):
    existing = make_person("bea")  # bea@example.org, in no organisation yet
    invite(client, partner, email="BEA@example.org", role=Role.VIEWER)
    link = link_in(mail.outbox[0]).replace("https://testserver", "")
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and "Log in to accept" in page.content.decode()
    assert client.post(link, {"username": "x", "password1": "y", "password2": "y"}).status_code == 200
    assert not OrganisationMember.objects.filter(user=existing).exists()
    log_in(client, "bea", PASSWORD)
    assert client.post(link).status_code == 302
    assert OrganisationMember.objects.get(user=existing).role == Role.VIEWER


def test_bad_input_on_the_invitation_forms_is_a_message_not_a_500(client, partner, admin):
    assert invite(client, partner, email="not an address").status_code == 400
    assert invite(client, partner, email="x@example.org", role="owner").status_code == 400
    assert invite(client, partner, email="ada@example.org").status_code == 400  # already one of them
    assert "already one of this organisation" in invite(client, partner, email="ada@example.org").content.decode()
    invite(client, partner)
    link = link_in(mail.outbox[0]).replace("https://testserver", "")
    client.logout()
    for data, message in (
        ({"username": "newbie", "password1": "short", "password2": "short"}, "too short"),
        ({"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}, "differ"),
        ({"username": "ada", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "taken"),
        ({"username": "has space", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "letters, digits"),
        ({"username": "new\x00bie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "control characters"),
    ):
        answer = client.post(link, data)
        assert answer.status_code == 400 and message in answer.content.decode(), data
    assert not get_user_model().objects.filter(email="new@example.org").exists()
    assert client.get(reverse("organise:invitation", kwargs={"token": "x" * 43})).status_code == 410


def test_roles_change_and_people_leave_but_never_the_last_admin(client, partner, admin):
    other = make_person("cat", organisation=partner, role=Role.VIEWER)
    cat = OrganisationMember.objects.get(user=other)
    ada = OrganisationMember.objects.get(user=admin)
    assert client.post(people_url(partner, "organise:people-role", pk=cat.pk), {"role": "organiser"}).status_code == 302
    cat.refresh_from_db()
    assert cat.role == Role.ORGANISER
    row = AuditEvent.objects.get(action="role.changed")
    assert row.details == {"from": "viewer", "to": "organiser"} and row.actor == admin and row.target_name == "cat"
    demote = client.post(people_url(partner, "organise:people-role", pk=ada.pk), {"role": "viewer"}, follow=True)
    assert "only admin" in demote.content.decode()
    ada.refresh_from_db()
    assert ada.role == Role.ADMIN
    client.post(people_url(partner, "organise:people-remove", pk=ada.pk))
    assert OrganisationMember.objects.filter(pk=ada.pk).exists()
    client.post(people_url(partner, "organise:people-role", pk=cat.pk), {"role": "nonsense"})
    client.post(people_url(partner, "organise:people-remove", pk=cat.pk))
    assert not OrganisationMember.objects.filter(pk=cat.pk).exists()
    assert AuditEvent.objects.filter(action="member.removed", target_name="cat").count() == 1
    # Another organisation's people are not these pages' to touch.
    host_member = OrganisationMember.objects.create(organisation=make_organisation(slug="h2", name="H2"),
                                                    user=make_person("dan"), role=Role.VIEWER)
    assert client.post(people_url(partner, "organise:people-remove", pk=host_member.pk)).status_code == 404


def test_a_rolled_back_action_leaves_no_audit_row(partner):
    admin = make_person("ada", organisation=partner, role=Role.ADMIN)
    viewer = make_person("cat", organisation=partner, role=Role.VIEWER)
    with pytest.raises(RuntimeError), transaction.atomic():
        invitation_create(organisation=partner, email="x@example.org", role=Role.VIEWER, request_or_actor=admin)
        member_role_change(member=OrganisationMember.objects.get(user=viewer), role=Role.ADMIN, request_or_actor=admin)
        raise RuntimeError("the caller's transaction fails after the actions")
    assert not AuditEvent.objects.exists() and not Invitation.objects.exists()
    assert OrganisationMember.objects.get(user=viewer).role == Role.VIEWER
    with pytest.raises(LastAdmin):
        member_role_change(member=OrganisationMember.objects.get(user=admin), role=Role.VIEWER, request_or_actor=admin)
    assert not AuditEvent.objects.exists()


def test_two_uses_of_one_link_make_one_account(partner, rf):
    from django.contrib.auth.models import AnonymousUser

    issued = invitation_create(organisation=partner, email="x@example.org", role=Role.VIEWER, request_or_actor=None)
    request = rf.post("/")
    request.user = AnonymousUser()
    invitation_accept(token=issued.token, request=request, username="first", password=NEW_PASSWORD)
    from engage.services.organisation_people import InvitationUnusable

    with pytest.raises(InvitationUnusable):
        invitation_accept(token=issued.token, request=request, username="second", password=NEW_PASSWORD)
    assert list(get_user_model().objects.filter(email="x@example.org").values_list("username", flat=True)) == ["first"]
