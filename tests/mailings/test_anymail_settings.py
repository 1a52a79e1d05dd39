"""ANYMAIL_* variables reach anymail in the types it needs: requests refuses a timeout given
as a string, and "False" as a string is true."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import anymail_settings


def test_it_passes_strings_through_without_the_prefix():
    assert anymail_settings({"ANYMAIL_POSTMARK_SERVER_TOKEN": "abc", "PATH": "/bin"}) == {"POSTMARK_SERVER_TOKEN": "abc"}


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("30", 30.0), ("3.05,27", (3.05, 27.0))])
def test_it_reads_the_requests_timeout_as_seconds(value, expected):
    assert anymail_settings({"ANYMAIL_REQUESTS_TIMEOUT": value}) == {"REQUESTS_TIMEOUT": expected}


@pytest.mark.parametrize("value", ["", "five", "0", "-1", "1,2,3", "3,"])
def test_it_refuses_a_timeout_that_is_not_seconds(value):
    with pytest.raises(ImproperlyConfigured, match="ANYMAIL_REQUESTS_TIMEOUT"):
        anymail_settings({"ANYMAIL_REQUESTS_TIMEOUT": value})


def test_it_reads_booleans_strictly():
    assert anymail_settings({"ANYMAIL_IGNORE_UNSUPPORTED_FEATURES": "False"}) == {"IGNORE_UNSUPPORTED_FEATURES": False}
    with pytest.raises(ImproperlyConfigured, match="True or False"):
        anymail_settings({"ANYMAIL_IGNORE_UNSUPPORTED_FEATURES": "no"})


def test_it_reads_a_secret_from_a_file(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    assert anymail_settings({"ANYMAIL_MAILGUN_API_KEY_FILE": str(secret)}) == {"MAILGUN_API_KEY": "s3cret"}


def test_a_timeout_from_the_environment_works_with_requests(settings, mailgun):
    """The string the environment gives, through the setting, to a real send."""
    from django.core.mail import EmailMessage

    settings.ANYMAIL = {**settings.ANYMAIL, **anymail_settings({"ANYMAIL_REQUESTS_TIMEOUT": "5"})}
    assert EmailMessage("Hello", "Body", "hello@muster.test", ["ada@example.org"]).send() == 1
    assert mailgun.stats()["messages"] == 1
