"""What the organiser-account tests share: people with roles, logging in through the real form,
and TOTP codes computed as an authenticator app would (pyotp)."""

import pyotp
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.urls import reverse

from engage.models import OrganisationMember

PASSWORD = "correct-horse-battery-7"


def make_person(username, *, organisation=None, role=OrganisationMember.Role.ORGANISER, password=PASSWORD, **extra):
    user = get_user_model().objects.create_user(username, f"{username}@example.org", password, **extra)
    if organisation is not None:
        OrganisationMember.objects.create(organisation=organisation, user=user, role=role)
    return user


def give_totp(user) -> str:
    """An authenticator app set up for the user; its secret, to compute codes from."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def totp_code(secret: str, *, offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(__import__("time").time() + offset)


def log_in(client, username, password=PASSWORD, *, ip="192.0.2.10", next_url=""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("organise:login"), data, REMOTE_ADDR=ip)


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
