"""An organisation's people: their roles, removing them, and inviting new ones by a link that
works once (docs/design.md, "Organiser accounts"). Every change writes its audit row in the
same transaction."""

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from engage.audit import audit_record
from engage.models import Invitation, Organisation, OrganisationMember

Role = OrganisationMember.Role


class LastAdmin(Exception):
    """The change would leave the organisation with no admin to manage its people."""


class AlreadyMember(Exception):
    """The address is already one of the organisation's people."""


class InvitationUnusable(Exception):
    """The link was used, revoked, has expired, or never existed."""


class WrongAccount(Exception):
    """The invitation's address has an account, and this is not it."""


def _token_hash(token: str) -> str:
    # 256 random bits: a plain SHA-256 is enough and keeps the lookup one indexed query.
    return hashlib.sha256(token.encode()).hexdigest()


def _users_by_email(email: str):
    return get_user_model().objects.filter(email__iexact=email.strip())


def _other_admins(member: OrganisationMember) -> bool:
    return OrganisationMember.objects.filter(organisation_id=member.organisation_id, role=Role.ADMIN).exclude(
        pk=member.pk
    ).exists()


def member_role_change(*, member: OrganisationMember, role: str, request_or_actor) -> bool:
    """Give a member another role. False if it was theirs already."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    with transaction.atomic():
        member = OrganisationMember.objects.select_for_update().select_related("user").get(pk=member.pk)
        if member.role == role:
            return False
        if member.role == Role.ADMIN and not _other_admins(member):
            raise LastAdmin
        before, member.role = member.role, role
        member.save(update_fields=["role"])
        audit_record(request_or_actor=request_or_actor, organisation=member.organisation, action="role.changed",
                     target=member.user, details={"from": before, "to": role})
    return True


def member_remove(*, member: OrganisationMember, request_or_actor) -> None:
    """Take a person out of the organisation (their account stays, with any other organisations)."""
    with transaction.atomic():
        member = OrganisationMember.objects.select_for_update().select_related("user", "organisation").get(pk=member.pk)
        if member.role == Role.ADMIN and not _other_admins(member):
            raise LastAdmin
        member.delete()
        audit_record(request_or_actor=request_or_actor, organisation=member.organisation, action="member.removed",
                     target=member.user, details={"role": member.role})


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # for the emailed link only: never stored


def _issue(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _token_hash(token)
    invitation.expires_at = timezone.now() + settings.MUSTER_INVITATION_MAX_AGE
    return token


def invitation_create(*, organisation: Organisation, email: str, role: str, request_or_actor) -> IssuedInvitation:
    """Invite an address to the organisation with a role. An earlier pending invitation of the
    same address is revoked: only the newest link works."""
    email = email.strip()
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    if OrganisationMember.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        raise AlreadyMember
    actor = getattr(request_or_actor, "user", request_or_actor)
    with transaction.atomic():
        now = timezone.now()
        Invitation.objects.filter(
            organisation=organisation, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation(organisation=organisation, email=email, role=role,
                                invited_by=actor if getattr(actor, "is_authenticated", False) else None, sent_at=now)
        token = _issue(invitation)
        invitation.save()
        audit_record(request_or_actor=request_or_actor, organisation=organisation, action="invitation.created",
                     target=("engage.invitation", invitation.pk, email), details={"role": role})
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_resend(*, invitation: Invitation, request_or_actor) -> IssuedInvitation:
    """A new link for a pending invitation (the old one stops working), valid for the full time again."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at or invitation.revoked_at:
            raise InvitationUnusable
        token = _issue(invitation)
        invitation.sent_at = timezone.now()
        invitation.save(update_fields=["token_hash", "expires_at", "sent_at"])
        audit_record(request_or_actor=request_or_actor, organisation=invitation.organisation,
                     action="invitation.resent", target=("engage.invitation", invitation.pk, invitation.email))
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_revoke(*, invitation: Invitation, request_or_actor) -> bool:
    """True if this call revoked it."""
    with transaction.atomic():
        revoked = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(request_or_actor=request_or_actor, organisation=invitation.organisation,
                         action="invitation.revoked", target=("engage.invitation", invitation.pk, invitation.email))
    return bool(revoked)


def invitation_pending_by_token(token: str) -> Invitation | None:
    """The pending invitation this link is for, or None (unknown, used, revoked or expired)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    return (
        Invitation.objects.select_related("organisation")
        .filter(token_hash=_token_hash(token), accepted_at__isnull=True, revoked_at__isnull=True,
                expires_at__gt=timezone.now())
        .first()
    )


def invitation_account(invitation: Invitation):
    """The existing account with the invitation's address, if any."""
    return _users_by_email(invitation.email).order_by("pk").first()


def invitation_accept(*, token: str, request, username: str = "", password: str = ""):
    """Use an invitation's link, once: the logged-in user whose address it is joins the
    organisation with the role; someone with no account gets one with this username and
    password (Django's validators apply: ValidationError). Returns the user."""
    User = get_user_model()
    with transaction.atomic():
        invitation = invitation_pending_by_token(token)
        if invitation is None:
            raise InvitationUnusable
        existing = invitation_account(invitation)
        if existing is not None:
            if not request.user.is_authenticated or request.user.pk != existing.pk:
                raise WrongAccount
            user = existing
        else:
            user = User(username=username, email=invitation.email)
            validate_password(password, user)
            user.set_password(password)
            user.full_clean(exclude=["password"])
            user.save()
        # The claim: one request of any racing two uses the link.
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not claimed:
            raise InvitationUnusable
        member, created = OrganisationMember.objects.get_or_create(
            organisation=invitation.organisation, user=user, defaults={"role": invitation.role}
        )
        if not created and member.role != invitation.role:
            member.role = invitation.role
            member.save(update_fields=["role"])
        audit_record(request_or_actor=request, actor=user, organisation=invitation.organisation,
                     action="invitation.accepted", target=user, details={"role": invitation.role, "invitation": invitation.pk,
                                           "new_account": existing is None})
    return user


def _login_names(user) -> list[str]:
    # What a failure counts against: the name or address typed, folded (organise.auth.axes_username).
    return [name for name in {user.get_username().lower(), (user.email or "").lower()} if name]


def member_locked_names(*, members) -> set[int]:
    """The ids of the members whose account django-axes has locked now."""
    from datetime import timedelta

    from axes.models import AccessAttempt

    by_name = {name: member.pk for member in members for name in _login_names(member.user)}
    cooloff = settings.AXES_COOLOFF_TIME if isinstance(settings.AXES_COOLOFF_TIME, timedelta) else timedelta(hours=1)
    locked = AccessAttempt.objects.filter(
        username__in=list(by_name), failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - cooloff,
    ).values_list("username", flat=True)
    return {by_name[name] for name in locked}


def member_unlock(*, member: OrganisationMember, request_or_actor) -> int:
    """Release an account's lock-out now (its failures forgotten); audited if there was one."""
    from axes.models import AccessAttempt

    with transaction.atomic():
        names = _login_names(member.user)
        released, _ = AccessAttempt.objects.filter(username__in=names).delete()
        if released:
            audit_record(request_or_actor=request_or_actor, organisation=member.organisation, action="login.unlocked",
                         target=member.user, details={"username": member.user.get_username().lower()})
    return released
