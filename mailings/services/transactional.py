"""Transactional emails (confirmations, reminders, "already signed"), sent exactly once per
purpose: the row is written before the transport is called; a conditional UPDATE claims it,
so two workers (or a task delivered twice) never both send; no transaction is open during the
send. One whose outcome is unknown (the ESP may have taken it) is not sent again until the
ESP's own search says it never arrived (outbound_reconcile, in beat's tick); until then the
caller's task is told to try later (EmailOutcomeUnknown), so it records nothing as sent. They go in
their own stream (sender address, backend): a marketing unsubscribe does not stop them, a
suppression does, except that a confirmation the person just asked for is sent after an erasure
or a complaint (docs/design.md, "What each suppression stops")."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from engage.models import Organisation, Supporter
from engage.suppression import is_suppressed, requested_email_blocked
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


class EmailOutcomeUnknown(EmailSendFailed):
    """The ESP may have this email already (a call that timed out after the request left, or
    another worker is sending it): not sent now. Beat asks the ESP once its search has caught
    up; a retry later finds it sent, or sends it if it never arrived."""


class EmailRateLimited(EmailSendFailed):
    """The ESP's rate limit has no room now; the email went back to the queue. A loop sending
    many should stop here and let its next run go on."""


def transactional_send(
    *, dedupe_key: str, kind: str, supporter: Supporter, template: str, context: dict,
    organisation: Organisation | None = None, requested: bool = False,
) -> bool:
    """Send one transactional email unless it was already sent. True when this call sent it.

    Not sent (and never retried) to a suppressed address; an unsubscribe does not stop it.
    `requested` marks a confirmation the person just asked for by acting (signing, subscribing,
    joining): sent unless the suppression's reason blocks even that (a bounce, an organiser).
    `organisation` picks its sender's transactional address. Raises EmailSendFailed when a
    retry may send it, EmailOutcomeUnknown (one of them) while its outcome is unknown."""
    outbound = _outbound_get_or_create(dedupe_key=dedupe_key, kind=kind, supporter=supporter)
    if requested_email_blocked(supporter.email) if requested else is_suppressed(supporter.email):
        OutboundEmail.objects.filter(pk=outbound.pk, status__in=_SENDABLE).update(status=OutboundEmail.Status.SUPPRESSED)
        return False
    if not _outbound_claim(outbound):
        _unsettled_raise(outbound.pk)
        return False
    backend_path = settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND or settings.EMAIL_BACKEND
    _rate_take(outbound, backend_path)
    rendered = email_render(template=template, context={"supporter": supporter, **context})
    message = _message(
        outbound_id=outbound.pk, kind=kind, to_email=supporter.email, rendered=rendered, backend_path=backend_path,
        from_email=transactional_from(organisation),
    )
    _message_send(outbound_id=outbound.pk, kind=kind, message=message)
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
            status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1, claimed_at=Now()
        )
    )


def _unsettled_raise(outbound_id: int) -> None:
    """Not claimed: already sent or suppressed (nothing to do), or still unsettled (try later)."""
    status = OutboundEmail.objects.filter(pk=outbound_id).values_list("status", flat=True).first()
    if status in (OutboundEmail.Status.SENDING, OutboundEmail.Status.UNKNOWN):
        raise EmailOutcomeUnknown(f"email {outbound_id} is {status}: its outcome is settled first")


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


def _message_send(*, outbound_id: int, kind: str, message: EmailMultiAlternatives) -> None:
    """Hand the message to the ESP. A failure is recorded: `unknown` if the ESP may have
    taken it (EmailOutcomeUnknown), else `failed` (EmailSendFailed: a retry sends it)."""
    try:
        message.send()
    except Exception as error:
        unknown = esp.outcome_unknown(error)
        status = OutboundEmail.Status.UNKNOWN if unknown else OutboundEmail.Status.FAILED
        OutboundEmail.objects.filter(pk=outbound_id).update(status=status, claimed_at=Now(), last_error=repr(error)[:2000])
        logger.warning("email %s to outbound %s failed: %r", kind, outbound_id, error)
        raise (EmailOutcomeUnknown if unknown else EmailSendFailed)(str(error)) from error


# --- Settling unknown outcomes (beat) ---------------------------------------------------------


def outbound_sweep() -> int:
    """Emails left `sending` by a worker that stopped mid-call (no answer for longer than
    MAILINGS_CLAIM_TIMEOUT) may have left: unknown, settled like the rest."""
    from mailings.services.sending import db_ago

    stale = db_ago(settings.MAILINGS_CLAIM_TIMEOUT)
    # Rows claimed before claims were stamped have only their creation time to go by.
    return OutboundEmail.objects.filter(
        Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True, created_at__lt=stale), status=OutboundEmail.Status.SENDING,
    ).update(status=OutboundEmail.Status.UNKNOWN, claimed_at=Now(), last_error="the worker stopped during the ESP call")


def outbound_reconcile(*, limit: int = 500) -> tuple[int, int]:
    """Ask the transactional ESP about emails unknown for longer than its search delay: found
    -> sent; never arrived -> queued, and the task that owes it (retrying, or the owed-
    confirmation sweep) sends it. ESPs without a search: they stay unknown, never sent twice.
    Returns (sent, queued again)."""
    from mailings.services.sending import db_ago

    backend_path = esp.transactional_backend_path()
    if not esp.has_lookup(backend_path):
        return 0, 0
    found = requeued = 0
    due = OutboundEmail.objects.filter(
        status=OutboundEmail.Status.UNKNOWN, claimed_at__lt=db_ago(esp.search_delay(backend_path))
    ).order_by("id").values_list("id", flat=True)[:limit]
    for outbound_id in list(due):
        try:
            message_id = esp.outbound_lookup(outbound_id)
        except esp.LookupFailed:
            logger.warning("ESP lookup failed; unknown emails wait for the next tick", exc_info=True)
            break
        settled = OutboundEmail.objects.filter(pk=outbound_id, status=OutboundEmail.Status.UNKNOWN)
        if message_id is not None:
            found += settled.update(status=OutboundEmail.Status.SENT, esp_message_id=message_id[:200],
                                    sent_at=timezone.now(), last_error="")
        else:
            requeued += settled.update(status=OutboundEmail.Status.QUEUED, last_error="not found at the ESP: to be sent again")
    return found, requeued
