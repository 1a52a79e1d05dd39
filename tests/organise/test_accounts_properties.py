"""Bad input on every login and invitation form, as people and bots type it (lone surrogates,
control characters, any length): a clear message and a 4xx (or the lock-out page), never a 500,
nothing half-written."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from engage.models import AuditEvent, Invitation, OrganisationMember
from engage.services.organisation_people import invitation_create
from tests.organise.accounts_support import PASSWORD, make_person
from tests.support.factories import make_organisation, make_partner
from tests.support.strategies import arbitrary_text, form_body, page_examples, some_fields_arbitrary

pytestmark = pytest.mark.django_db
Role = OrganisationMember.Role


def post(client, path, fields):
    return client.post(path, form_body(fields), content_type="application/x-www-form-urlencoded")


@page_examples
@given(data=st.data())
def test_the_login_form(client, data):
    if not get_user_model().objects.filter(username="vera").exists():
        make_person("vera")
    fields = data.draw(some_fields_arbitrary({"username": "vera", "password": "wrong-password"}))
    answer = post(client, reverse("organise:login"), fields)
    assert answer.status_code in (200, 429), answer.status_code
    body = answer.content.decode()
    assert "error-summary" in body or "Too many failed logins" in body or "Too many requests" in body
    assert "_auth_user_id" not in client.session


@page_examples
@given(code=arbitrary_text)
def test_the_second_factor_form(client, code):
    from tests.organise.accounts_support import give_totp, log_in

    if not get_user_model().objects.filter(username="ola").exists():
        give_totp(make_person("ola"))
    client.cookies.clear()
    step = log_in(client, "ola", PASSWORD, ip="192.0.2.200")
    if step.status_code == 429:
        return  # the address is locked by earlier examples: the lock-out page, not a 500
    answer = post(client, reverse("mfa_authenticate"), {"code": code})
    assert answer.status_code in (200, 302, 429), answer.status_code
    if answer.status_code == 302:  # only a right code logs in, and arbitrary text is none
        assert "_auth_user_id" not in client.session or code.strip().isdigit()


@page_examples
@given(data=st.data())
def test_the_invite_form(client, data):
    partner = make_partner() if not OrganisationMember.objects.exists() else OrganisationMember.objects.first().organisation
    if not OrganisationMember.objects.exists():
        make_person("ada", organisation=partner, role=Role.ADMIN)
    client.force_login(get_user_model().objects.get(username="ada"))
    before = Invitation.objects.count()
    fields = data.draw(some_fields_arbitrary({"email": "new@example.org", "role": "viewer"}))
    answer = post(client, reverse("organise:people-invite", kwargs={"org": partner.slug}), fields)
    assert answer.status_code in (302, 400), answer.status_code
    if answer.status_code == 400:
        assert b"error-summary" in answer.content and Invitation.objects.count() == before


@page_examples
@given(data=st.data())
def test_the_invitation_form(client, data):
    partner = make_partner() if not Invitation.objects.exists() else Invitation.objects.first().organisation
    issued = invitation_create(organisation=partner, email="new@example.org", role=Role.VIEWER, request_or_actor=None)
    url = reverse("organise:invitation", kwargs={"token": issued.token})
    valid = {"username": "newbie", "password1": "a-long-new-passphrase-4", "password2": "a-long-new-passphrase-4"}
    fields = data.draw(some_fields_arbitrary(valid))
    users = get_user_model().objects.count()
    answer = post(client, url, fields)
    assert answer.status_code in (302, 400), answer.status_code
    if answer.status_code == 400:
        assert b"error-summary" in answer.content
        assert get_user_model().objects.count() == users and not AuditEvent.objects.filter(action="invitation.accepted",
                                                                                             details__invitation=issued.invitation.pk).exists()
    else:
        get_user_model().objects.filter(email="new@example.org").delete()


@page_examples
@given(token=arbitrary_text)
def test_any_invitation_link(client, token):
    from urllib.parse import quote

    path = reverse("organise:invitation", kwargs={"token": "t"}).replace("/t/", "/" + quote(token, safe="", errors="surrogatepass") + "/")
    answer = client.get(path)
    assert answer.status_code in (404, 410), answer.status_code


@page_examples
@given(data=st.data())
def test_the_audit_filters(client, data):
    host = make_organisation() if not OrganisationMember.objects.exists() else OrganisationMember.objects.first().organisation
    if not OrganisationMember.objects.exists():
        make_person("boss", organisation=host, role=Role.ADMIN)
    client.force_login(get_user_model().objects.get(username="boss"))
    fields = data.draw(some_fields_arbitrary({"person": "", "kind": "", "from": "2026-01-01", "to": "2026-12-31"}))
    answer = client.get(reverse("organise:audit", kwargs={"org": host.slug}) + "?" + form_body(fields).decode())
    assert answer.status_code in (200, 400), answer.status_code
