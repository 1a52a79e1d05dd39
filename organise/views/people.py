"""An organisation's people, for its admins: their roles (change, remove), invitations (send,
resend, revoke), and the invitation link itself (docs/design.md, "Organiser accounts")."""

import logging

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from engage.forms import PublicForm
from engage.models import Invitation, OrganisationMember
from engage.services import organisation_people as people_services
from organise.access import Need, workspace_view
from organise.auth import account_email_send
from organise.views.common import render_workspace

logger = logging.getLogger(__name__)
Role = OrganisationMember.Role

ROLE_HINTS = {
    Role.ADMIN: gettext_lazy("everything for the organisation, its people and keys too"),
    Role.ORGANISER: gettext_lazy("petitions, mailings, events and exports; not the organisation's people"),
    Role.VIEWER: gettext_lazy("figures only, no personal data"),
}


class InviteForm(PublicForm):
    email = forms.EmailField(label=gettext_lazy("Email address"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.ORGANISER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)


class AcceptForm(PublicForm):
    """A new account's name and password; Django's password validators apply (in the service)."""

    username = forms.CharField(label=gettext_lazy("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}))
    password1 = forms.CharField(label=gettext_lazy("Password"), strip=False, max_length=200,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=gettext_lazy("The same password again"), strip=False, max_length=200,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        try:
            get_user_model().username_validator(username)
        except ValidationError as error:
            raise ValidationError(_("Use letters, digits and @ . + - _ only.")) from error
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise ValidationError(_("That username is taken: choose another."))
        return username

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


def _invitation_send(request, issued: people_services.IssuedInvitation) -> bool:
    """Email the link; False (said on the page) if the transport failed, to be resent."""
    invitation = issued.invitation
    url = request.build_absolute_uri(reverse("organise:invitation", kwargs={"token": issued.token}))
    try:
        account_email_send(request, template_prefix="organise/accounts/email/invitation", to=invitation.email,
                           context={"invitation": invitation, "url": url, "inviter": request.user})
    except Exception:
        logger.warning("invitation %s not sent", invitation.pk, exc_info=True)
        messages.error(request, _("The invitation to %(email)s could not be sent just now: resend it later.")
                       % {"email": invitation.email})
        return False
    return True


def _people_page(request, workspace, invite_form=None, status=200):
    organisation = workspace.organisation
    has_2fa = Authenticator.objects.filter(user=OuterRef("user_id"),
                                           type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])
    members = (OrganisationMember.objects.filter(organisation=organisation).select_related("user")
               .annotate(has_second_factor=Exists(has_2fa)).order_by("user__username"))
    members = list(members)
    locked = people_services.member_locked_names(members=members)
    for member in members:
        member.locked = member.pk in locked
    invitations = Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True,
                                            revoked_at__isnull=True).order_by("-created_at")
    return render_workspace(request, workspace, "organise/people/people.html", {
        "members": members, "invitations": invitations, "now": timezone.now(),
        "invite_form": invite_form or InviteForm(), "roles": Role.choices,
        "role_hints": [(label, ROLE_HINTS[value]) for value, label in Role.choices],
    }, status=status)


@require_http_methods(["GET"])
@workspace_view(Need.MANAGE)
def people(request, workspace):
    return _people_page(request, workspace)


@require_POST
@workspace_view(Need.MANAGE)
def invite(request, workspace):
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _people_page(request, workspace, invite_form=form, status=400)
    try:
        issued = people_services.invitation_create(organisation=workspace.organisation, email=form.cleaned_data["email"],
                                                   role=form.cleaned_data["role"], request_or_actor=request)
    except people_services.AlreadyMember:
        form.add_error("email", _("%(email)s is already one of this organisation's people.")
                       % {"email": form.cleaned_data["email"]})
        return _people_page(request, workspace, invite_form=form, status=400)
    if _invitation_send(request, issued):
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": issued.invitation.email})
    return redirect("organise:people", org=workspace.organisation.slug)


def _member(workspace, pk) -> OrganisationMember:
    return get_object_or_404(OrganisationMember.objects.select_related("user"), pk=pk, organisation=workspace.organisation)


@require_POST
@workspace_view(Need.MANAGE)
def member_role(request, workspace, pk):
    member = _member(workspace, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("organise:people", org=workspace.organisation.slug)
    try:
        changed = people_services.member_role_change(member=member, role=form.cleaned_data["role"], request_or_actor=request)
    except people_services.LastAdmin:
        messages.error(request, _("%(name)s is the organisation's only admin: make someone else admin first.")
                       % {"name": member.user.get_username()})
    else:
        if changed:
            messages.success(request, _("%(name)s is now %(role)s.") % {
                "name": member.user.get_username(), "role": Role(form.cleaned_data["role"]).label})
    return redirect("organise:people", org=workspace.organisation.slug)


@require_POST
@workspace_view(Need.MANAGE)
def member_remove(request, workspace, pk):
    member = _member(workspace, pk)
    try:
        people_services.member_remove(member=member, request_or_actor=request)
    except people_services.LastAdmin:
        messages.error(request, _("%(name)s is the organisation's only admin: make someone else admin first.")
                       % {"name": member.user.get_username()})
    else:
        messages.success(request, _("%(name)s no longer works in this workspace.") % {"name": member.user.get_username()})
    return redirect("organise:people", org=workspace.organisation.slug)


@require_POST
@workspace_view(Need.MANAGE)
def member_unlock(request, workspace, pk):
    member = _member(workspace, pk)
    if people_services.member_unlock(member=member, request_or_actor=request):
        messages.success(request, _("%(name)s can log in again.") % {"name": member.user.get_username()})
    return redirect("organise:people", org=workspace.organisation.slug)


def _invitation(workspace, pk) -> Invitation:
    return get_object_or_404(Invitation, pk=pk, organisation=workspace.organisation)


@require_POST
@workspace_view(Need.MANAGE)
def invitation_resend(request, workspace, pk):
    try:
        issued = people_services.invitation_resend(invitation=_invitation(workspace, pk), request_or_actor=request)
    except people_services.InvitationUnusable:
        messages.error(request, _("That invitation was already used or revoked."))
    else:
        if _invitation_send(request, issued):
            messages.success(request, _("Invitation sent again to %(email)s.") % {"email": issued.invitation.email})
    return redirect("organise:people", org=workspace.organisation.slug)


@require_POST
@workspace_view(Need.MANAGE)
def invitation_revoke(request, workspace, pk):
    invitation = _invitation(workspace, pk)
    if people_services.invitation_revoke(invitation=invitation, request_or_actor=request):
        messages.success(request, _("The invitation to %(email)s is revoked.") % {"email": invitation.email})
    return redirect("organise:people", org=workspace.organisation.slug)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """The emailed link. GET only shows the page (mail scanners open links); the POST uses it.
    No account with the address yet: choose a username and password. An account already: log in
    as it, then accept. Either way the next login asks for a second factor if the role needs one."""
    invitation = people_services.invitation_pending_by_token(token)
    if invitation is None:
        return render(request, "organise/accounts/invitation_unusable.html", status=410)
    account = people_services.invitation_account(invitation)
    form = AcceptForm(request.POST) if request.method == "POST" and account is None else AcceptForm()
    context = {"invitation": invitation, "account": account, "form": form, "role_label": Role(invitation.role).label,
               "login_url": f"{reverse('organise:login')}?next={request.path}"}
    if account is not None and (not request.user.is_authenticated or request.user.pk != account.pk):
        return render(request, "organise/accounts/invitation.html", context)
    if request.method == "GET":
        return render(request, "organise/accounts/invitation.html", context)
    if account is None and not form.is_valid():
        return render(request, "organise/accounts/invitation.html", context, status=400)
    try:
        people_services.invitation_accept(
            token=token, request=request, username=form.cleaned_data.get("username", "") if account is None else "",
            password=form.cleaned_data.get("password1", "") if account is None else "",
        )
    except ValidationError as error:
        form.add_error(None if hasattr(error, "error_dict") else "password1", error)
        return render(request, "organise/accounts/invitation.html", context, status=400)
    except (people_services.InvitationUnusable, people_services.WrongAccount):
        return render(request, "organise/accounts/invitation_unusable.html", status=410)
    if account is None:
        messages.success(request, _("Your account is ready: log in with your username and new password."))
        return redirect("organise:login")
    messages.success(request, _("You now work in %(name)s's workspace.") % {"name": invitation.organisation.name})
    return redirect("organise:overview", org=invitation.organisation.slug)
