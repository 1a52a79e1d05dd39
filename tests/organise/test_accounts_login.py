"""Logging in: the second factor (required by role, set up on first login, asked at each login),
django-axes' lock-outs per account and per address, the admin's login going through the same
flow, password reset by email, and the idle session. These tests turn MUSTER_MFA_ENFORCED back
on (config/settings_test.py turns it off for the tests of other features)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from engage.models import AuditEvent, OrganisationMember
from tests.organise.accounts_support import PASSWORD, give_totp, has_totp, log_in, make_person, totp_code
from tests.support.factories import make_organisation, make_partner

pytestmark = pytest.mark.django_db
Role = OrganisationMember.Role


@pytest.fixture(autouse=True)
def enforced(settings):
    settings.MUSTER_MFA_ENFORCED = True
    return settings


@pytest.fixture
def host():
    return make_organisation()


def overview(org):
    return reverse("organise:overview", kwargs={"org": org.slug})


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- the second factor -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # allauth records the new factor when its transaction commits
def test_an_organiser_without_a_second_factor_is_sent_to_set_one_up_and_then_reaches_the_page(client, host):
    person = make_person("ola", organisation=host, role=Role.ORGANISER)
    assert log_in(client, "ola").status_code == 302
    page = client.get(overview(host))
    assert page.status_code == 302 and page["Location"].startswith(reverse("organise:second-factor-setup"))
    for path in (reverse("organise:index"), reverse("organise:people", kwargs={"org": host.slug})):
        assert client.get(path).status_code == 302, path  # no workspace page before it is set up
    setup = client.get(page["Location"])
    assert setup.status_code == 200 and "authenticator app" in setup.content.decode()
    # allauth asks for the password again before any change to the second factor.
    confirm = client.get(reverse("mfa_activate_totp"))
    assert confirm.status_code == 302 and confirm["Location"].startswith(reverse("account_reauthenticate"))
    assert client.get(confirm["Location"]).status_code == 200
    client.post(confirm["Location"], {"password": PASSWORD})
    activate = client.get(reverse("mfa_activate_totp"))
    assert activate.status_code == 200
    secret = client.session["mfa.totp.secret"]
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000" if totp_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and not has_totp(person)
    done = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert done.status_code == 302 and has_totp(person)
    assert client.get(done["Location"]).status_code == 200  # the recovery codes, to keep
    assert client.get(overview(host)).status_code == 200
    added = AuditEvent.objects.filter(action="mfa.added").values_list("details__type", flat=True)
    assert actions()[0] == "login.succeeded" and sorted(added) == ["recovery_codes", "totp"]


def test_a_login_that_owes_its_second_factor_reaches_no_page_until_it_is_given(client, host):
    person = make_person("ola", organisation=host, role=Role.ADMIN)
    secret = give_totp(person)
    step = log_in(client, "ola", next_url=overview(host))
    assert step.status_code == 302 and step["Location"] == reverse("mfa_authenticate")
    # Half logged in: every workspace page sends it back to the login.
    for path in (overview(host), reverse("organise:index"), reverse("organise:people", kwargs={"org": host.slug}),
                 reverse("admin:index")):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login/" in answer["Location"], path
    assert "_auth_user_id" not in client.session
    bad = client.post(reverse("mfa_authenticate"), {"code": "12345x"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    good = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert good.status_code == 302 and good["Location"] == overview(host)
    assert client.get(overview(host)).status_code == 200
    assert "login.succeeded" in actions()


def test_a_recovery_code_stands_in_for_the_app_once(client, host):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    person = make_person("ola", organisation=host, role=Role.ADMIN)
    give_totp(person)
    code = RecoveryCodes.activate(person).get_unused_codes()[0]
    log_in(client, "ola")
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert client.get(overview(host)).status_code == 200
    client.logout()
    log_in(client, "ola")
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 200  # used
    assert "_auth_user_id" not in client.session


def test_a_session_that_skipped_the_flow_is_not_trusted(client, host):
    """force_login makes a session as no login form does: in production it owes the second factor."""
    with_app = make_person("with-app", organisation=host, role=Role.ORGANISER)
    give_totp(with_app)
    client.force_login(with_app)
    answer = client.get(overview(host))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("organise:login"))
    assert "_auth_user_id" not in client.session  # logged out, to log in properly
    without = make_person("without", organisation=host, role=Role.ORGANISER)
    client.force_login(without)
    assert client.get(overview(host))["Location"].startswith(reverse("organise:second-factor-setup"))


def test_a_viewer_needs_no_second_factor_unless_the_host_requires_it_for_all(client, host, enforced):
    make_person("vera", organisation=host, role=Role.VIEWER)
    log_in(client, "vera")
    assert client.get(overview(host)).status_code == 200
    enforced.MUSTER_MFA_REQUIRED_FOR_ALL = True
    assert client.get(overview(host))["Location"].startswith(reverse("organise:second-factor-setup"))


def test_a_partner_organiser_who_sees_supporters_needs_one_too(client):
    partner = make_partner()
    make_person("pat", organisation=partner, role=Role.ORGANISER)
    log_in(client, "pat")
    assert client.get(overview(partner))["Location"].startswith(reverse("organise:second-factor-setup"))


# --- the admin's login -------------------------------------------------------------------------


def test_the_admin_login_is_the_workspace_login_with_its_second_factor(client):
    staff = get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    answer = client.get(reverse("admin:login") + "?next=/admin/")
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("organise:login"))
    log_in(client, "root")
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
    assert client.get(reverse("admin:login"))["Location"].startswith(reverse("organise:second-factor-setup"))
    secret = give_totp(staff)
    client.logout()
    log_in(client, "root")
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get(reverse("admin:index")).status_code == 200


# --- lock-outs ---------------------------------------------------------------------------------


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_the_lock_lapses(client, host):
    make_person("vera", organisation=host, role=Role.VIEWER)
    for attempt in range(20):
        answer = log_in(client, "vera", "wrong-password", ip=f"198.51.100.{attempt + 1}")  # a new address each time
        assert "_auth_user_id" not in client.session
    assert answer.status_code == 429  # the 20th failure locks
    refused = log_in(client, "Vera", PASSWORD, ip="203.0.113.99")  # the right password, another address, any case
    assert refused.status_code == 429 and "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert actions().count("login.failed") == 21 and "login.locked_out" in actions()
    # The cool-off passes (the attempts' clock moved back past MUSTER_LOGIN_LOCKOUT_MINUTES).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert log_in(client, "vera", PASSWORD, ip="203.0.113.99").status_code == 302
    assert client.get(overview(host)).status_code == 200
    assert actions()[-2:] == ["login.lock_lapsed", "login.succeeded"]


def test_twenty_failures_from_one_address_lock_it_for_every_account(client, host):
    make_person("vera", organisation=host, role=Role.VIEWER)
    for attempt in range(20):
        log_in(client, f"guess{attempt}", "wrong", ip="198.51.100.7")
    assert log_in(client, "vera", PASSWORD, ip="198.51.100.7").status_code == 429
    assert "_auth_user_id" not in client.session
    assert log_in(client, "vera", PASSWORD, ip="198.51.100.8").status_code == 302  # the account itself is not locked


def test_nineteen_failures_then_the_right_password_logs_in_and_resets_the_count(client, host):
    make_person("vera", organisation=host, role=Role.VIEWER)
    for _ in range(19):
        log_in(client, "vera", "wrong")
    assert log_in(client, "vera").status_code == 302
    assert not AccessAttempt.objects.filter(username="vera", failures_since_start__gt=0).exists()


def test_the_admin_login_counts_failures_on_the_same_lock(client):
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    next_url = client.get(reverse("admin:login") + "?next=/admin/")["Location"]
    for _ in range(20):
        client.post(next_url, {"username": "root", "password": "wrong"}, REMOTE_ADDR="192.0.2.1")
    assert client.post(next_url, {"username": "root", "password": PASSWORD}, REMOTE_ADDR="192.0.2.2").status_code == 429


def test_failures_are_audited_with_the_hashed_address_and_never_the_password(client, host):
    from petitions.services.signing import ip_hash

    make_person("vera", organisation=host, role=Role.VIEWER)
    log_in(client, "vera", "s3cret-guess", ip="192.0.2.55")
    row = AuditEvent.objects.get(action="login.failed")
    assert row.ip_hash == ip_hash("192.0.2.55") and row.target_name == "vera" and row.organisation == host
    assert "s3cret-guess" not in str(row.details) and "192.0.2.55" not in str(row.__dict__)


# --- password reset, validators, idle sessions ---------------------------------------------------


def test_password_reset_by_email_sets_a_validated_password_and_is_audited(client, host):
    person = make_person("vera", organisation=host, role=Role.VIEWER)
    assert client.post(reverse("account_reset_password"), {"email": "VERA@example.org"}).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["vera@example.org"]
    link = next(word for word in mail.outbox[0].body.split() if "/password/reset/key/" in word)
    form_page = client.get(link, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    assert form_page.status_code == 200
    weak = client.post(action, {"password1": "password", "password2": "password"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    done = client.post(action, {"password1": "a-much-better-passphrase-9", "password2": "a-much-better-passphrase-9"})
    assert done.status_code == 302
    person.refresh_from_db()
    assert person.check_password("a-much-better-passphrase-9")
    assert AuditEvent.objects.filter(action="password.reset", target_id=str(person.pk)).exists()


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    assert client.post(reverse("account_reset_password"), {"email": "nobody@example.org"}).status_code == 302
    assert mail.outbox == []


def test_the_session_expires_after_the_idle_time_and_use_pushes_it_on(client, host, settings):
    from django.contrib.sessions.models import Session

    from organise.auth import IDLE_KEY

    assert settings.SESSION_COOKIE_AGE == 60 * 60
    make_person("vera", organisation=host, role=Role.VIEWER)
    log_in(client, "vera")
    key = client.session.session_key

    def expires_in():
        return Session.objects.get(session_key=key).expire_date - timezone.now()

    assert timedelta(minutes=59) < expires_in() <= timedelta(minutes=60)
    client.get(overview(host))  # used at once: not saved again (no write per page)
    # Ten minutes later: used, so pushed on to an hour from now.
    session = client.session
    session[IDLE_KEY] -= 600
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(minutes=50))
    assert client.get(overview(host)).status_code == 200
    assert timedelta(minutes=59) < expires_in() <= timedelta(minutes=60)
    # Idle past the hour: the session is gone, and so is the login.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get(overview(host)).status_code == 302


def test_an_admin_releases_a_locked_account_and_the_release_is_audited(client, host):
    make_person("vera", organisation=host, role=Role.VIEWER)
    admin = make_person("boss", organisation=host, role=Role.ADMIN)
    for _ in range(20):
        log_in(client, "vera", "wrong", ip="198.51.100.3")
    assert log_in(client, "vera", ip="198.51.100.4").status_code == 429
    admin_secret = give_totp(admin)
    log_in(client, "boss", ip="192.0.2.99")
    client.post(reverse("mfa_authenticate"), {"code": totp_code(admin_secret)})
    people = reverse("organise:people", kwargs={"org": host.slug})
    assert "Locked out" in client.get(people).content.decode()
    vera = OrganisationMember.objects.get(user__username="vera")
    client.post(reverse("organise:people-unlock", kwargs={"org": host.slug, "pk": vera.pk}))
    assert "Locked out" not in client.get(people).content.decode()
    row = AuditEvent.objects.get(action="login.unlocked")
    assert row.actor == admin and row.target_name == "vera"
    client.logout()
    assert log_in(client, "vera", ip="198.51.100.4").status_code == 302


def test_the_partners_old_login_form_counts_on_the_same_lock(client, host):
    """While /partners/login/ is a form of its own it counts on the same lock; once it redirects
    to the workspace login, that is the one form."""
    make_person("vera", organisation=host, role=Role.VIEWER)
    url = reverse("petitions:partner-login")
    if client.get(url).status_code in (301, 302):
        assert client.get(url)["Location"].startswith(reverse("organise:login"))
        return
    for _ in range(20):
        client.post(url, {"username": "vera", "password": "wrong"}, REMOTE_ADDR="192.0.2.30")
    assert log_in(client, "vera", ip="192.0.2.31").status_code == 429  # locked on the workspace's form too
    assert "_auth_user_id" not in client.session
