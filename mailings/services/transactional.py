"""Transactional emails (confirmations, reminders, "already signed"), sent exactly once per
purpose: the row is written before the transport is called; a conditional UPDATE claims it,
so two workers (or a task delivered twice) never both send; no transaction is open during the
send. One whose outcome is unknown (the ESP may have taken it) is never sent again. They go in
their own stream (sender address, backend): a marketing unsubscribe does not stop them, a
suppression (hard bounce, complaint, erasure) does."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from engage.models import Organisation, Supporter
from engage.suppression import is_suppressed
from mailings import esp
from mailings.message_options import esp_options_apply
from mailings.models import OutboundEmail
from mailings.ratelimit import RateLimited, esp_limiter
from mailings.rendering import RenderedEmail, email_render
from mailings.selectors.emails import transactional_from

logger = logging.getLogger(__name__)

# The states from which an email may still be sent: never sent, or refused before it left.
_SENDABLE = [OutboundEmail.Status.QUEUED, OutboundEmail.Status.FAILED]


class EmailSendFailed(Exception):
    """The ESP refused or could not be reached before the message left; safe to retry."""


class EmailRateLimited(EmailSendFailed):
    """The ESP's rate limit has no room now; the email went back to the queue. A loop sending
    many should stop here and let its next run go on."""


def transactional_send(
    *, dedupe_key: str, kind: str, supporter: Supporter, template: str, context: dict,
    organisation: Organisation | None = None,
) -> bool:
    """Send one transactional email unless it was already sent. True when this call sent it.

    Not sent (and never retried) to a suppressed address; an unsubscribe does not stop it.
    Not sent again once its outcome is unknown. `organisation` picks its sender's
    transactional address. Raises EmailSendFailed when a retry may send it."""
    outbound = _outbound_get_or_create(dedupe_key=dedupe_key, kind=kind, supporter=supporter)
    if is_suppressed(supporter.email):
        OutboundEmail.objects.filter(pk=outbound.pk, status__in=_SENDABLE).update(status=OutboundEmail.Status.SUPPRESSED)
        return False
    if not _outbound_claim(outbound):
        return False
    backend_path = settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND or settings.EMAIL_BACKEND
    _rate_take(outbound, backend_path)
    rendered = email_render(template=template, context={"supporter": supporter, **context})
    message = _message(
        outbound_id=outbound.pk, kind=kind, to_email=supporter.email, rendered=rendered, backend_path=backend_path,
        from_email=transactional_from(organisation),
    )
    if not _message_send(outbound_id=outbound.pk, kind=kind, message=message):
        return False
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=OutboundEmail.Status.SENT,
        subject=rendered.subject[:300],
        esp_message_id=esp.message_id(message)[:200],
        sent_at=timezone.now(),
        last_error="",
    )
    return True


def _outbound_get_or_create(*, dedupe_key: str, kind: str, supporter: Supporter) -> OutboundEmail:
    try:
        with transaction.atomic():
            return OutboundEmail.objects.get_or_create(
                dedupe_key=dedupe_key,
                defaults={"kind": kind, "supporter": supporter, "to_email": supporter.email},
            )[0]
    except IntegrityError:
        return OutboundEmail.objects.get(dedupe_key=dedupe_key)


def _outbound_claim(outbound: OutboundEmail) -> bool:
    """This call's right to send: only one caller moves the row to `sending`."""
    return bool(
        OutboundEmail.objects.filter(pk=outbound.pk, status__in=_SENDABLE).update(
            status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1
        )
    )


def _rate_take(outbound: OutboundEmail, backend_path: str) -> None:
    """The ESP counts every message against its quota, so these take from the bucket that
    mailings take from, waiting no longer than a chunk of a mailing would. Without room the
    row goes back to the queue, this attempt not counted."""
    try:
        esp_limiter(esp.esp_name(backend_path)).take(1, max_wait=settings.MAILINGS_RATE_MAX_WAIT_SECONDS)
    except RateLimited as limited:
        OutboundEmail.objects.filter(pk=outbound.pk, status=OutboundEmail.Status.SENDING).update(
            status=OutboundEmail.Status.QUEUED, attempts=F("attempts") - 1, last_error=f"the ESP's rate limit: {limited}"
        )
        raise EmailRateLimited(f"the ESP's rate limit: {limited}") from limited


def _message(
    *, outbound_id: int, kind: str, to_email: str, rendered: RenderedEmail, backend_path: str, from_email: str
) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, from_email=from_email, to=[to_email],
        connection=get_connection(backend_path),
    )
    message.attach_alternative(rendered.html, "text/html")
    # anymail reads these; other backends ignore them.
    message.metadata = {"outbound_email_id": str(outbound_id), "kind": kind}
    # Confirmation links must reach us unaltered: no click tracking, where the ESP lets a
    # message say so (elsewhere the account must have it off).
    esp_options_apply(message, backend_path=backend_path, stream="transactional", tag=kind, track_clicks=False)
    return message


def _message_send(*, outbound_id: int, kind: str, message: EmailMultiAlternatives) -> bool:
    """Hand the message to the ESP. A failure is recorded: `unknown` if the ESP may have
    taken it (False: never sent again), else `failed` (EmailSendFailed: a retry sends it)."""
    try:
        message.send()
    except Exception as error:
        unknown = esp.outcome_unknown(error)
        status = OutboundEmail.Status.UNKNOWN if unknown else OutboundEmail.Status.FAILED
        OutboundEmail.objects.filter(pk=outbound_id).update(status=status, last_error=repr(error)[:2000])
        logger.warning("email %s to outbound %s failed: %r", kind, outbound_id, error)
        if not unknown:
            raise EmailSendFailed(str(error)) from error
        return False
    return True
