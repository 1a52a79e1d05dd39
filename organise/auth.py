"""Organiser accounts' login flow (docs/design.md, "Organiser accounts"): django-allauth logs
people in (the workspace's login and the admin's are one), allauth.mfa is the second factor,
django-axes locks out repeated failures. This module holds what ties them to Muster: the
login form, allauth's adapter (no sign-up; mail through the transactional stream), who must use
a second factor and whether this session passed it, and the audit rows for logins.
"""

import logging
import time

from allauth.account import signals as account_signals
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import LoginForm
from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.mail import get_connection
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy

from engage.abuse import client_ip
from engage.audit import audit_record
from engage.models import AuditEvent, OrganisationMember
from engage.normalise import validate_text

logger = logging.getLogger(__name__)


# --- the login form and allauth's adapter ---------------------------------------------------------


class WorkspaceLoginForm(LoginForm):
    """allauth's login form, its "login" field sent as "username" (what password managers and
    the form before it used) and labelled for what it takes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = gettext_lazy("Username or email address")
        self.fields["login"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        self.fields["login"].widget.attrs.pop("placeholder", None)
        self.fields["password"].widget.attrs.pop("placeholder", None)
        self.fields["password"].help_text = ""
        # What is not text (a lone surrogate, a control character) is refused with a message
        # before it reaches the database or a password hasher.
        for name in ("login", "password"):
            self.fields[name].validators.append(validate_text)

    def add_prefix(self, field_name):
        return "username" if field_name == "login" else super().add_prefix(field_name)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # People join by invitation from an organisation's admin (organise.views.people).
        return False

    def get_from_email(self):
        return settings.MAILINGS_TRANSACTIONAL_FROM_EMAIL

    def send_mail(self, template_prefix, email, context):
        """Password resets and two-factor notices go in the transactional stream, with its
        backend and sender, and no click tracking (the link must arrive as sent). Not through
        engage's recorded path: that one writes to supporters, and an organiser is not one."""
        from mailings import esp
        from mailings.message_options import esp_options_apply

        request = context.get("request") or getattr(self, "request", None)
        message = self.render_mail(template_prefix, email, {"request": request, "email": email, **context})
        backend_path = esp.transactional_backend_path()
        message.connection = get_connection(backend_path)
        esp_options_apply(message, backend_path=backend_path, stream="transactional",
                          tag=template_prefix.rsplit("/", 1)[-1][:50], track_clicks=False)
        message.send()


# --- django-axes ---------------------------------------------------------------------------------


class AxesBackend(AxesStandaloneBackend):
    """axes's check before any password is tried. A call without a request (the test client's
    login(), a management command) is not a login form: the web's forms all pass theirs."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def axes_username(request, credentials) -> str:
    """The account a failure counts against: the name or address typed, folded to lower case."""
    credentials = credentials or {}
    typed = credentials.get("username") or credentials.get("email") or credentials.get("login")
    if not typed and request is not None:
        typed = request.POST.get("username", "")
    return str(typed or "").strip().lower()[:150]


def axes_client_ip(request) -> str:
    return client_ip(request)


# --- the second factor ---------------------------------------------------------------------------


def second_factor_required(user) -> bool:
    """Anyone who can export personal data, send mailings or manage people: every role but
    viewer, and superusers; everyone when MUSTER_MFA_REQUIRED_FOR_ALL is on."""
    if not settings.MUSTER_MFA_ENFORCED or not user.is_authenticated:
        return False
    if settings.MUSTER_MFA_REQUIRED_FOR_ALL or user.is_superuser or user.is_staff:
        return True
    return OrganisationMember.objects.filter(user=user).exclude(role=OrganisationMember.Role.VIEWER).exists()


def second_factor_passed(request) -> bool:
    """Whether this session proved a second factor: at login, or by setting one up."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


def has_second_factor(user) -> bool:
    return Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()


def second_factor_redirect(request):
    """None if the user may go on; else where they must go first: setting up a second factor
    (first login), or logging in again with theirs (a session that did not pass it)."""
    if not second_factor_required(request.user) or second_factor_passed(request):
        return None
    next_url = request.get_full_path()
    if not has_second_factor(request.user):
        return redirect(f"{reverse('organise:second-factor-setup')}?next={_safe(request, next_url)}")
    from django.contrib.auth import logout

    logout(request)
    return redirect(f"{reverse('organise:login')}?next={_safe(request, next_url)}")


def _safe(request, url: str) -> str:
    from urllib.parse import quote

    ok = url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return quote(url if ok else reverse("organise:index"))


# --- idle sessions -------------------------------------------------------------------------------

IDLE_KEY = "muster_active_at"


class IdleSessionMiddleware:
    """A logged-in session expires SESSION_COOKIE_AGE (MUSTER_SESSION_IDLE_MINUTES) after it was
    last saved; while it is used, it is saved again (its expiry pushed on) once it is older than
    a twelfth of that, at most every five minutes, rather than on every request: a write per
    page view would cost every page three queries."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        active_at = session.get(IDLE_KEY) if session is not None else None
        if active_at is not None:
            now = int(time.time())
            if now - active_at > min(300, settings.SESSION_COOKIE_AGE // 12):
                session[IDLE_KEY] = now
        return self.get_response(request)


# --- audit rows for logins, lock-outs, two-factor and password resets ----------------------------


def _user_organisation(user):
    membership = (
        OrganisationMember.objects.filter(user=user).select_related("organisation")
        .order_by("organisation__kind", "organisation__name").first()
    )
    return membership.organisation if membership else None


def _on_logged_in(sender, request, user, **kwargs):
    if request is None:
        return
    if hasattr(request, "session"):
        request.session[IDLE_KEY] = int(time.time())
    organisation = _user_organisation(user)
    username = user.get_username().lower()
    # A lock that lapsed (or was released) shows as released at the account's next login.
    last = (
        AuditEvent.objects.filter(Q(action="login.locked_out", details__username=username)
                                  | Q(action__in=["login.succeeded", "login.unlocked"], actor=user))
        .order_by("-at", "-id").values_list("action", flat=True).first()
    )
    if last == "login.locked_out":
        audit_record(request_or_actor=request, organisation=organisation, action="login.lock_lapsed",
                     target=user, details={"username": username})
    audit_record(request_or_actor=request, organisation=organisation, action="login.succeeded", target=user)


def _on_login_failed(sender, credentials, request=None, **kwargs):
    if request is None:
        return
    username = axes_username(request, credentials)
    user = get_user_model().objects.filter(Q(username__iexact=username) | Q(email__iexact=username)).first() if username else None
    audit_record(request_or_actor=request, organisation=_user_organisation(user) if user else None,
                 action="login.failed", target=user, details={"username": username})


def _on_locked_out(sender, request, username, ip_address, **kwargs):
    if request is None:
        return
    user = get_user_model().objects.filter(Q(username__iexact=username) | Q(email__iexact=username)).first() if username else None
    audit_record(request_or_actor=request, organisation=_user_organisation(user) if user else None,
                 action="login.locked_out", target=user, details={"username": (username or "").lower()})


def _on_authenticator_added(sender, request, user, authenticator, **kwargs):
    # Setting up a second factor proves it as well as entering a code at login: the session
    # counts as having passed it.
    if authenticator.type in (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN):
        record_authentication(request, user, method="mfa", type=authenticator.type, id=authenticator.pk)
    audit_record(request_or_actor=request, organisation=_user_organisation(user), action="mfa.added", target=user,
                 details={"type": authenticator.type})


def _on_authenticator_removed(sender, request, user, authenticator, **kwargs):
    audit_record(request_or_actor=request, organisation=_user_organisation(user), action="mfa.removed", target=user,
                 details={"type": authenticator.type})


def _on_password_reset(sender, request, user, **kwargs):
    audit_record(request_or_actor=request, organisation=_user_organisation(user), action="password.reset", target=user)


def receivers_connect() -> None:
    user_logged_in.connect(_on_logged_in, dispatch_uid="organise-audit-logged-in")
    user_login_failed.connect(_on_login_failed, dispatch_uid="organise-audit-login-failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="organise-audit-locked-out")
    mfa_signals.authenticator_added.connect(_on_authenticator_added, dispatch_uid="organise-audit-mfa-added")
    mfa_signals.authenticator_removed.connect(_on_authenticator_removed, dispatch_uid="organise-audit-mfa-removed")
    account_signals.password_reset.connect(_on_password_reset, dispatch_uid="organise-audit-password-reset")


# --- the admin's login ---------------------------------------------------------------------------


def admin_login(request, extra_context=None):
    """The admin's login page sends people to the one login flow (allauth's secure_admin_login),
    and a staff session that owes its second factor to it first."""
    from allauth.account.decorators import secure_admin_login
    from django.contrib import admin
    from django.contrib.admin.sites import AdminSite

    if request.user.is_authenticated and (detour := second_factor_redirect(request)) is not None:
        return detour
    return secure_admin_login(lambda request, extra_context=None: AdminSite.login(admin.site, request, extra_context))(
        request, extra_context
    )


def admin_has_permission(request) -> bool:
    from django.contrib import admin
    from django.contrib.admin.sites import AdminSite

    if not AdminSite.has_permission(admin.site, request):
        return False
    return not second_factor_required(request.user) or second_factor_passed(request)


def account_email_send(request, *, template_prefix: str, to: str, context: dict) -> None:
    """An email about an organiser's account (an invitation), as allauth's are sent."""
    adapter = AccountAdapter(request)
    adapter.send_mail(template_prefix, to, {"request": request, **context})
