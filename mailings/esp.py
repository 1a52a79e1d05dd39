"""What Muster needs to know about the ESP behind anymail: its name, whether it sends a batch
with per-recipient merge data in one call, what a failed call says about the message (sent or
not, worth repeating or not), and how to ask it whether it accepted a message (to settle sends
whose outcome is unknown)."""

import json
import logging
import os

import requests
import urllib3
from django.conf import settings
from django.core.mail import get_connection

logger = logging.getLogger(__name__)

# ESPs whose API takes one message for many recipients with per-recipient merge data and
# headers (anymail's merge_data / merge_headers without a stored template), and the syntax
# of a merge variable in the message body.
_BATCH_MERGE_FORMAT = {
    "mailgun": "%recipient.{}%",
    "test": "{{{{{}}}}}",  # anymail's test backend: records what would be posted
}
# Recipients per API call (Mailgun takes at most 1,000).
_BATCH_LIMIT = {"mailgun": 1000, "test": 1000}


def bulk_backend_path() -> str:
    return settings.MAILINGS_BULK_EMAIL_BACKEND or settings.EMAIL_BACKEND


def esp_name(backend_path: str | None = None) -> str:
    """"mailgun" for anymail.backends.mailgun.EmailBackend; the class's module otherwise."""
    path = backend_path or bulk_backend_path()
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "anymail" and parts[1] == "backends":
        return parts[2]
    return parts[-2] if len(parts) >= 2 else path


def bulk_connection():
    return get_connection(bulk_backend_path())


def connection_open(connection) -> None:
    """Open an anymail connection for many calls, with the environment's proxy and CA settings
    read once for the ESP's URL: requests would rescan os.environ on every call (trust_env), a
    large share of a one-message-per-call send's CPU. HTTPS_PROXY, NO_PROXY and
    REQUESTS_CA_BUNDLE still apply; only ~/.netrc (no ESP's API key comes from it) does not."""
    connection.open()
    session = getattr(connection, "session", None)
    if session is None or not session.trust_env:
        return
    session.proxies.update(requests.utils.get_environ_proxies(getattr(connection, "api_url", "") or ""))
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def send_mode() -> str:
    """"batch" (one call per chunk, with merge data) or "single" (one call per message)."""
    mode = settings.MAILINGS_SEND_MODE
    if mode in ("batch", "single"):
        return mode if (mode == "single" or esp_name() in _BATCH_MERGE_FORMAT) else "single"
    return "batch" if esp_name() in _BATCH_MERGE_FORMAT else "single"


def merge_format() -> str:
    return _BATCH_MERGE_FORMAT[esp_name()]


def chunk_size() -> int:
    size = settings.MAILINGS_CHUNK_SIZE
    if send_mode() == "batch":
        return max(1, min(size, _BATCH_LIMIT.get(esp_name(), 1000)))
    return max(1, size)


def outcome_unknown(error: BaseException) -> bool:
    """May the ESP have accepted the message this failed call carried? Yes once a connection
    was open and the request may have been written: a read timeout, or a connection dropped,
    reset or aborted before or during the answer (requests cannot say how much was written).
    Such a message is recorded unknown and never sent again blindly. No when the connection
    never opened (refused, connect timeout, DNS) or an answer was received."""
    while error is not None:
        if isinstance(error, requests.ConnectTimeout):
            return False
        if isinstance(error, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError):
            return True
        cause = error.__cause__ or error.__context__
        # anymail re-raises requests' error as a subclass of its type with its own message:
        # the reason is on the original, its cause.
        if isinstance(error, requests.ConnectionError) and not isinstance(cause, requests.ConnectionError):
            return not _never_connected(error)
        error = cause
    return False


def _never_connected(error: requests.ConnectionError) -> bool:
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError) or (
        isinstance(reason, urllib3.exceptions.NameResolutionError)
    )


def permanent_refusal(error: BaseException) -> bool:
    """The ESP answered 4xx (other than 429): sending the same request again will not help."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status is not None and 400 <= status < 500 and status != 429


def accepted(message) -> dict[str, str]:
    """{email: message id} for the recipients the ESP accepted, from anymail's status."""
    status = getattr(message, "anymail_status", None)
    if status is None:  # a non-anymail backend (the outbox): it took the message
        return {address: "" for address in message.to}
    return {
        email: (recipient.message_id or "")
        for email, recipient in status.recipients.items()
        if recipient.status in ("sent", "queued", "scheduled")
    }


def message_id(message) -> str:
    """The ESP's id of a message just sent ("" from a backend that gives none)."""
    status = getattr(message, "anymail_status", None)
    return str(getattr(status, "message_id", None) or "") if status else ""


class LookupFailed(Exception):
    """The ESP could not be asked now; try again later."""


def _anymail(name: str, default=None):
    return settings.ANYMAIL.get(name, default)


def _mailgun_lookup(*, key: str, value: str, stream: str, sender_email: str) -> str | None:
    api_url = _anymail("MAILGUN_API_URL", "https://api.mailgun.net/v3").rstrip("/")
    domain = _anymail("MAILGUN_SENDER_DOMAIN") or sender_email.rpartition("@")[2].rstrip(">")
    response = requests.get(
        f"{api_url}/{domain}/events",
        params={"event": "accepted", "user-variables": json.dumps({key: value}), "limit": 1},
        auth=("api", _anymail("MAILGUN_API_KEY", "")),
        timeout=10,
    )
    if response.status_code != 200:
        raise LookupFailed(f"Mailgun events answered {response.status_code}")
    items = response.json().get("items") or []
    if not items:
        return None
    return (items[0].get("message", {}).get("headers", {}).get("message-id")) or "accepted"


def postmark_stream(stream: str) -> str:
    """The Postmark message stream of bulk or transactional mail (mailings.message_options sets it)."""
    if stream == "bulk":
        return getattr(settings, "MAILINGS_POSTMARK_BULK_STREAM", "broadcast")
    return getattr(settings, "MAILINGS_POSTMARK_TRANSACTIONAL_STREAM", "outbound")


def _postmark_lookup(*, key: str, value: str, stream: str, sender_email: str) -> str | None:
    api_url = _anymail("POSTMARK_API_URL", "https://api.postmarkapp.com/").rstrip("/")
    # Postmark searches the transactional stream unless told another.
    response = requests.get(
        f"{api_url}/messages/outbound",
        params={"count": 1, "offset": 0, f"metadata_{key}": value, "messagestream": postmark_stream(stream)},
        headers={"Accept": "application/json", "X-Postmark-Server-Token": _anymail("POSTMARK_SERVER_TOKEN", "")},
        timeout=10,
    )
    if response.status_code != 200:
        raise LookupFailed(f"Postmark outbound search answered {response.status_code}")
    messages = response.json().get("Messages") or []
    return messages[0].get("MessageID") or "accepted" if messages else None


_LOOKUPS = {"mailgun": _mailgun_lookup, "postmark": _postmark_lookup}


def transactional_backend_path() -> str:
    return settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND or settings.EMAIL_BACKEND


def has_lookup(backend_path: str | None = None) -> bool:
    return esp_name(backend_path) in _LOOKUPS


def search_delay(backend_path: str | None = None):
    """How long the ESP's message search may lag behind its API (MAILINGS_SEARCH_DELAY)."""
    from datetime import timedelta

    return settings.MAILINGS_SEARCH_DELAY.get(esp_name(backend_path), timedelta(0))


def _lookup(backend_path: str, **query) -> str | None:
    try:
        return _LOOKUPS[esp_name(backend_path)](**query)
    except requests.RequestException as error:
        raise LookupFailed(str(error)) from error
    except ValueError as error:  # an answer that is not the JSON the ESP documents
        raise LookupFailed(f"unreadable answer: {error}") from error


def delivery_lookup(delivery_id: int, *, sender_email: str = "") -> str | None:
    """The ESP's message id for the mailing message carrying this delivery id, or None if the
    ESP never accepted one. Raises LookupFailed when the ESP cannot answer; KeyError when the
    ESP has no such search (see has_lookup)."""
    return _lookup(bulk_backend_path(), key="delivery_id", value=str(delivery_id), stream="bulk",
                   sender_email=sender_email or settings.MAILINGS_BULK_FROM_EMAIL)


def outbound_lookup(outbound_id: int) -> str | None:
    """The same for a transactional email (its outbound_email_id metadata)."""
    return _lookup(transactional_backend_path(), key="outbound_email_id", value=str(outbound_id),
                   stream="transactional", sender_email=settings.MAILINGS_TRANSACTIONAL_FROM_EMAIL)
