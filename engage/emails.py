"""How engage's emails leave: through the transport the mailings app registers.

engage is the lowest layer and imports no other app (docs/design.md, "Layers"), yet its emails (sign-up
confirmations, preference links, "your data is ready") must go through mailings' recorded,
sent-exactly-once transactional path. MailingsConfig.ready() registers that function here when
Django starts; engage calls it without importing mailings.
"""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError

from engage.models import Supporter


class EmailNotSent(Exception):
    """The transport could not send this time; safe to retry, since every send is recorded
    and claimed once."""


def email_retry(*also: type[BaseException]) -> dict:
    """The Celery options of a task that sends an email: retried with a growing wait when the
    transport could not send, as EmailNotSent or (for a task that calls a transport directly)
    one of `also`, or when the database was briefly unreachable. Retrying is safe: every send
    is recorded and claimed once.

        @shared_task(**email_retry())
    """
    return {"autoretry_for": (EmailNotSent, OperationalError, InterfaceError, *also), "retry_backoff": 30,
            "retry_backoff_max": 600, "retry_jitter": True, "max_retries": 8}


_transport: Callable[..., bool] | None = None
_retryable: tuple[type[BaseException], ...] = ()


def transport_register(*, send: Callable[..., bool], retryable: tuple[type[BaseException], ...] = ()) -> None:
    """`send(dedupe_key=, kind=, supporter=, template=, context=, requested=)` returns True when it sent;
    the `retryable` exceptions mean "try again later"."""
    global _transport, _retryable
    _transport, _retryable = send, retryable


def email_send(
    *, dedupe_key: str, kind: str, supporter: Supporter, template: str, context: dict, requested: bool = False
) -> bool:
    """Send one email to a supporter unless the one with this dedupe_key was already sent.
    `requested`: a confirmation the person just asked for (see mailings' transactional_send)."""
    if _transport is None:
        raise ImproperlyConfigured("No email transport is registered: the mailings app registers it when it loads.")
    try:
        return _transport(dedupe_key=dedupe_key, kind=kind, supporter=supporter, template=template, context=context,
                          requested=requested)
    except _retryable as error:
        raise EmailNotSent(str(error)) from error
