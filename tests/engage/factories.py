"""Test data for engage, built through the services as the application builds it."""

import re

from django.core import mail

from engage.models import MailingList, Organisation
from tests.factories import make_organisation, sign_data

CONFIRM_LINK = re.compile(r"https://muster\.test(/signup/confirm/[^\s]+/)")
PREFERENCES_LINK = re.compile(r"https://muster\.test(/preferences/[^\s/]+/)")
EXPORT_LINK = re.compile(r"https://muster\.test(/my-data/[^\s/]+/)")


def make_host():
    return make_organisation()


def make_partner(*, slug="we-own-it", name="We Own It"):
    return make_organisation(slug=slug, name=name, kind=Organisation.Kind.PARTNER)


def make_list(*, slug="coalition-news", name="Coalition news", organisation=None, public=True, consent_wording=""):
    mailing_list, _ = MailingList.objects.get_or_create(
        slug=slug,
        defaults={
            "name": name, "organisation": organisation or make_host(), "public": public,
            "consent_wording": consent_wording,
        },
    )
    return mailing_list


def person_data(**overrides):
    """The subscribe and join forms share the sign form's person fields."""
    return sign_data(**overrides)


def link_in_last_email(pattern, to="ada@example.org"):
    message = [m for m in mail.outbox if m.to == [to]][-1]
    return pattern.search(message.body).group(1)
