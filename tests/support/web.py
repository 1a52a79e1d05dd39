"""The links Muster emails, and the clocks tests hold still."""

import re
from unittest.mock import patch

from django.core import mail
from django.utils import timezone

SITE = "https://muster.test"  # SITE_URL in config/settings_test.py
SIGNATURE_CONFIRM_LINK = re.compile(r"https://muster\.test(/confirm/[^\s]+/)")
SIGNUP_CONFIRM_LINK = re.compile(r"https://muster\.test(/signup/confirm/[^\s]+/)")
PREFERENCES_LINK = re.compile(r"https://muster\.test(/preferences/[^\s/]+/)")
EXPORT_LINK = re.compile(r"https://muster\.test(/my-data/[^\s/]+/)")


def path_of(url):
    """The path of one of this site's absolute URLs, for the test client."""
    return url.removeprefix(SITE)


def link_in_last_email(pattern, to="ada@example.org"):
    """The path of the link matching `pattern` in the last email sent to `to`."""
    message = [m for m in mail.outbox if m.to == [to]][-1]
    return pattern.search(message.body).group(1)


def later(delta):
    """Django's clock moved on by `delta` (for the sweepers and purges that compare with now)."""
    return patch("django.utils.timezone.now", return_value=timezone.now() + delta)


def frozen_ratelimit_clock():
    """django-ratelimit counts in windows of the clock; a fixed clock keeps every request of a
    test in one window, so a limit is reached however slowly the test runs."""
    return patch("django_ratelimit.core.time", **{"time.return_value": 1_700_000_000.0})
