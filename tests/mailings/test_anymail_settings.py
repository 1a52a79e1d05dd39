"""ANYMAIL_* variables reach anymail in the types it needs: requests refuses a timeout given
as a string, "False" as a string is true, and boto3 wants its parameters as a dict."""

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


@pytest.mark.parametrize(
    "name",
    [
        "POSTMARK_USE_BULK_API",
        "POSTMARK_GENERATE_MESSAGE_ID",
        "SPARKPOST_TRACK_INITIAL_OPEN_AS_OPENED",
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS",
        "BREVO_WORKAROUND_DISPLAY_NAME_BUGS",
        "SENDGRID_GENERATE_MESSAGE_ID",
    ],
)
def test_every_esps_booleans_are_read_strictly(name):
    assert anymail_settings({f"ANYMAIL_{name}": "True"}) == {name: True}
    assert anymail_settings({f"ANYMAIL_{name}": "False"}) == {name: False}
    with pytest.raises(ImproperlyConfigured, match=f"ANYMAIL_{name} must be True or False"):
        anymail_settings({f"ANYMAIL_{name}": "false"})


def test_it_reads_a_download_chunk_size_as_a_positive_integer():
    assert anymail_settings({"ANYMAIL_RESEND_DOWNLOAD_CHUNK_SIZE": "8192"}) == {"RESEND_DOWNLOAD_CHUNK_SIZE": 8192}
    with pytest.raises(ImproperlyConfigured, match="ANYMAIL_AMAZON_SES_DOWNLOAD_CHUNK_SIZE must be an integer"):
        anymail_settings({"ANYMAIL_AMAZON_SES_DOWNLOAD_CHUNK_SIZE": "64k"})
    with pytest.raises(ImproperlyConfigured, match="ANYMAIL_MAILTRAP_DOWNLOAD_CHUNK_SIZE must be at least 1"):
        anymail_settings({"ANYMAIL_MAILTRAP_DOWNLOAD_CHUNK_SIZE": "0"})


@pytest.mark.parametrize("name", ["AMAZON_SES_CLIENT_PARAMS", "AMAZON_SES_SESSION_PARAMS", "SEND_DEFAULTS", "POSTMARK_SEND_DEFAULTS"])
def test_it_reads_dict_settings_as_json_objects(name):
    assert anymail_settings({f"ANYMAIL_{name}": '{"region_name": "eu-west-1"}'}) == {name: {"region_name": "eu-west-1"}}
    for value in ("region_name=eu-west-1", '["eu-west-1"]', ""):
        with pytest.raises(ImproperlyConfigured, match=f"ANYMAIL_{name} must be a JSON object"):
            anymail_settings({f"ANYMAIL_{name}": value})


def test_a_typed_setting_read_from_a_file_is_typed_too(tmp_path):
    params = tmp_path / "params.json"
    params.write_text('{"region_name": "eu-west-1"}\n')
    assert anymail_settings({"ANYMAIL_AMAZON_SES_CLIENT_PARAMS_FILE": str(params)}) == {
        "AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"}
    }


def test_unknown_settings_stay_strings():
    environ = {"ANYMAIL_MAILGUN_SENDER_DOMAIN": "mg.example.org", "ANYMAIL_MAILTRAP_SANDBOX_ID": "12345"}
    assert anymail_settings(environ) == {"MAILGUN_SENDER_DOMAIN": "mg.example.org", "MAILTRAP_SANDBOX_ID": "12345"}


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
