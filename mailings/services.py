"""Sending one transactional email, exactly once per purpose.

The row is written before the transport is called; a conditional UPDATE claims it, so two
workers (or a task delivered twice) never both send; no transaction is open during the send.
"""

import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from engage.models import Supporter
from mailings.models import OutboundEmail

logger = logging.getLogger(__name__)


class EmailSendFailed(Exception):
    """The ESP refused or could not be reached before the message left; safe to retry."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(*, template: str, context: dict) -> RenderedEmail:
    """`template` names a folder holding subject.txt, body.txt and body.html."""
    context = {"SITE_URL": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template}/subject.txt", context).split())
    text = render_to_string(f"{template}/body.txt", context)
    html = render_to_string(f"{template}/body.html", context)
    return RenderedEmail(subject=subject, text=text, html=html)


def _outbound_get_or_create(*, dedupe_key: str, kind: str, supporter: Supporter) -> OutboundEmail:
    try:
        with transaction.atomic():
            return OutboundEmail.objects.get_or_create(
                dedupe_key=dedupe_key,
                defaults={"kind": kind, "supporter": supporter, "to_email": supporter.email},
            )[0]
    except IntegrityError:
        return OutboundEmail.objects.get(dedupe_key=dedupe_key)


def _is_read_timeout(error: BaseException) -> bool:
    """A read timeout means the request may have reached the ESP: the outcome is unknown."""
    while error is not None:
        if isinstance(error, requests.ReadTimeout):
            return True
        error = error.__cause__ or error.__context__
    return False


def transactional_send(*, dedupe_key: str, kind: str, supporter: Supporter, template: str, context: dict) -> bool:
    """Send one transactional email unless it was already sent. True when this call sent it."""
    outbound = _outbound_get_or_create(dedupe_key=dedupe_key, kind=kind, supporter=supporter)
    claimed = OutboundEmail.objects.filter(
        pk=outbound.pk, status__in=[OutboundEmail.Status.QUEUED, OutboundEmail.Status.FAILED]
    ).update(status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return False

    rendered = email_render(template=template, context={"supporter": supporter, **context})
    message = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[supporter.email]
    )
    message.attach_alternative(rendered.html, "text/html")
    # anymail reads these; other backends ignore them.
    message.metadata = {"outbound_email_id": str(outbound.pk), "kind": kind}
    message.tags = [kind]
    message.track_clicks = False  # confirmation links must reach us unaltered

    try:
        message.send()
    except Exception as error:
        status = OutboundEmail.Status.UNKNOWN if _is_read_timeout(error) else OutboundEmail.Status.FAILED
        OutboundEmail.objects.filter(pk=outbound.pk).update(status=status, last_error=repr(error)[:2000])
        logger.warning("email %s to outbound %s failed: %r", kind, outbound.pk, error)
        if status == OutboundEmail.Status.FAILED:
            raise EmailSendFailed(str(error)) from error
        return False

    anymail_status = getattr(message, "anymail_status", None)
    message_id = (getattr(anymail_status, "message_id", None) or "") if anymail_status else ""
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=OutboundEmail.Status.SENT,
        subject=rendered.subject[:300],
        esp_message_id=str(message_id)[:200],
        sent_at=timezone.now(),
        last_error="",
    )
    return True
