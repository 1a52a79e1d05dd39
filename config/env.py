"""Strict environment helpers: a typo in production configuration fails at start-up,
not silently at the first request. Every message names the variable."""

import json
import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    """A value from NAME, or from the file named by NAME_FILE (for secrets mounted as files)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        with open(file_path, encoding="utf-8") as fh:
            return fh.read().strip()
    return os.environ.get(name, default)


def parse_bool(name: str, value: str) -> bool:
    if value not in ("True", "False"):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value == "True"


def parse_int(name: str, value: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value!r}")
    return number


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return parse_bool(name, value)


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer; with `minimum`, a smaller one (a chunk of 0, a negative timeout) is refused."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return parse_int(name, value, minimum=minimum)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# anymail's settings that are not strings: those anymail 15 reads with a boolean, number or dict
# default (get_anymail_setting). Every other ANYMAIL_* value is passed as it is.
_ANYMAIL_BOOLEANS = {
    "IGNORE_UNSUPPORTED_FEATURES",
    "IGNORE_RECIPIENT_STATUS",
    "DEBUG_API_REQUESTS",
    "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS",
    "BREVO_WORKAROUND_DISPLAY_NAME_BUGS",
    "BREVO_PREVENT_HEADER_ENCODING_BUGS",
    "SENDINBLUE_WORKAROUND_DISPLAY_NAME_BUGS",  # Brevo's old name, still a backend
    "SENDINBLUE_PREVENT_HEADER_ENCODING_BUGS",
    "POSTMARK_USE_BULK_API",
    "POSTMARK_GENERATE_MESSAGE_ID",
    "RESEND_VERIFY_ATTACHMENT_EXTENSIONS",
    "SENDGRID_GENERATE_MESSAGE_ID",
    "SPARKPOST_TRACK_INITIAL_OPEN_AS_OPENED",
    "UNISENDER_GO_GENERATE_MESSAGE_ID",
    "UNISENDER_GO_WORKAROUND_DISPLAY_NAME_BUGS",
}
# Bytes read at a time from the ESP when an inbound message is fetched.
_ANYMAIL_POSITIVE_INTEGERS = {
    "AMAZON_SES_DOWNLOAD_CHUNK_SIZE",
    "MAILTRAP_DOWNLOAD_CHUNK_SIZE",
    "RESEND_DOWNLOAD_CHUNK_SIZE",
}
# boto3's Session and client arguments, and SEND_DEFAULTS or <ESP>_SEND_DEFAULTS: JSON objects.
_ANYMAIL_OBJECTS = {"AMAZON_SES_SESSION_PARAMS", "AMAZON_SES_CLIENT_PARAMS", "SEND_DEFAULTS"}


def _anymail_timeout(name: str, value: str) -> float | tuple[float, float]:
    """requests' timeout: seconds, or "connect,read" seconds; requests refuses a string."""
    try:
        parts = [float(part) for part in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or any(part <= 0 for part in parts):
        raise ImproperlyConfigured(
            f"{name} must be seconds, or connect,read seconds (e.g. 5 or 3.05,27), not {value!r}"
        )
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _json_object(name: str, value: str) -> dict:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured(f'{name} must be a JSON object (e.g. {{"region_name": "eu-west-1"}}), not {value!r}')
    return parsed


def _anymail_value(key: str, name: str, value: str):
    if name == "REQUESTS_TIMEOUT":
        return _anymail_timeout(key, value)
    if name in _ANYMAIL_BOOLEANS:
        return parse_bool(key, value)
    if name in _ANYMAIL_POSITIVE_INTEGERS:
        return parse_int(key, value, minimum=1)
    if name in _ANYMAIL_OBJECTS or name.endswith("_SEND_DEFAULTS"):
        return _json_object(key, value)
    return value


def anymail_settings(environ: dict[str, str]) -> dict:
    """The ANYMAIL setting from every ANYMAIL_* variable, prefix removed (ANYMAIL_NAME_FILE: the
    file's contents, for secrets mounted as files), each in the type anymail expects."""
    settings = {}
    for key, value in environ.items():
        if not key.startswith("ANYMAIL_"):
            continue
        name = key.removeprefix("ANYMAIL_")
        if name.endswith("_FILE"):
            name = name.removesuffix("_FILE")
            with open(value, encoding="utf-8") as fh:
                value = fh.read().strip()
        settings[name] = _anymail_value(key, name, value)
    return settings
