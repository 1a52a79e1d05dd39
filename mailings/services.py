"""Actions on emails and mailings.

Transactional emails (confirmations, reminders, "already signed") are sent exactly once per
purpose: the row is written before the transport is called; a conditional UPDATE claims it,
so two workers (or a task delivered twice) never both send; no transaction is open during the
send. They go in their own stream (sender address, backend): a marketing unsubscribe does not
stop them, a suppression (hard bounce, complaint, erasure) does.

Mailings move draft -> scheduled -> sending <-> paused -> sent, or cancelled; the sending
itself is in mailings.sending.
"""

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from engage.models import Organisation, Supporter
from engage.queueing import queue
from engage.suppression import is_suppressed
from mailings import esp, rendering, sending
from mailings.models import Delivery, Mailing, Message, OutboundEmail, Sender
from mailings.ratelimit import RateLimited, esp_limiter
from mailings.recipients import address_suppressed, supporters_email_hash_fill
from mailings.rendering import RenderedEmail, email_render  # noqa: F401  (the petitions app imports them from here)

logger = logging.getLogger(__name__)


class EmailSendFailed(Exception):
    """The ESP refused or could not be reached before the message left; safe to retry."""


class EmailRateLimited(EmailSendFailed):
    """The ESP's rate limit has no room now; the email went back to the queue. A loop sending
    many should stop here and let its next run go on."""


def _outbound_get_or_create(*, dedupe_key: str, kind: str, supporter: Supporter) -> OutboundEmail:
    try:
        with transaction.atomic():
            return OutboundEmail.objects.get_or_create(
                dedupe_key=dedupe_key,
                defaults={"kind": kind, "supporter": supporter, "to_email": supporter.email},
            )[0]
    except IntegrityError:
        return OutboundEmail.objects.get(dedupe_key=dedupe_key)


def transactional_from(organisation: Organisation | None) -> str:
    sender = Sender.objects.filter(organisation=organisation).order_by("pk").first() if organisation else None
    return sender.transactional_from if sender else settings.MAILINGS_TRANSACTIONAL_FROM_EMAIL


def transactional_send(
    *, dedupe_key: str, kind: str, supporter: Supporter, template: str, context: dict,
    organisation: Organisation | None = None,
) -> bool:
    """Send one transactional email unless it was already sent. True when this call sent it.

    Not sent (and never retried) to a suppressed address; an unsubscribe does not stop it.
    `organisation` picks its sender's transactional address."""
    outbound = _outbound_get_or_create(dedupe_key=dedupe_key, kind=kind, supporter=supporter)
    if is_suppressed(supporter.email):
        OutboundEmail.objects.filter(
            pk=outbound.pk, status__in=[OutboundEmail.Status.QUEUED, OutboundEmail.Status.FAILED]
        ).update(status=OutboundEmail.Status.SUPPRESSED)
        return False
    claimed = OutboundEmail.objects.filter(
        pk=outbound.pk, status__in=[OutboundEmail.Status.QUEUED, OutboundEmail.Status.FAILED]
    ).update(status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return False

    backend_path = settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND or settings.EMAIL_BACKEND
    try:
        # The ESP counts every message against its quota, so these take from the bucket that
        # mailings take from, waiting no longer than a chunk of a mailing would.
        esp_limiter(esp.esp_name(backend_path)).take(1, max_wait=settings.MAILINGS_RATE_MAX_WAIT_SECONDS)
    except RateLimited as limited:
        OutboundEmail.objects.filter(pk=outbound.pk, status=OutboundEmail.Status.SENDING).update(
            status=OutboundEmail.Status.QUEUED, attempts=F("attempts") - 1, last_error=f"the ESP's rate limit: {limited}"
        )
        raise EmailRateLimited(f"the ESP's rate limit: {limited}") from limited

    rendered = email_render(template=template, context={"supporter": supporter, **context})
    message = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, from_email=transactional_from(organisation), to=[supporter.email],
        connection=get_connection(backend_path),
    )
    message.attach_alternative(rendered.html, "text/html")
    # anymail reads these; other backends ignore them.
    message.metadata = {"outbound_email_id": str(outbound.pk), "kind": kind}
    message.tags = [kind, "transactional"]
    message.track_clicks = False  # confirmation links must reach us unaltered

    try:
        message.send()
    except Exception as error:
        status = OutboundEmail.Status.UNKNOWN if esp.outcome_unknown(error) else OutboundEmail.Status.FAILED
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


# --- Mailings ---------------------------------------------------------------------------------


class MailingStateError(Exception):
    """The mailing is not in a state that allows this; the message says why."""


def _lanes_queue(mailing_id: int) -> None:
    """Wake MAILINGS_SEND_LANES workers for this mailing. The Delivery rows are the queue;
    a task only says "there is work", so one task too many claims nothing and stops."""
    from mailings import tasks

    for _ in range(settings.MAILINGS_SEND_LANES):
        queue(tasks.mailing_send_chunk, mailing_id)


def mailing_schedule(*, mailing: Mailing, at: datetime) -> Mailing:
    """Send at `at`: beat starts it when due (from the database; no long ETA task)."""
    if at <= timezone.now():
        raise MailingStateError("Choose a time in the future, or send now.")
    updated = Mailing.objects.filter(
        pk=mailing.pk, status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]
    ).update(status=Mailing.Status.SCHEDULED, scheduled_at=at)
    if not updated:
        raise MailingStateError("Only a draft or scheduled mailing can be scheduled.")
    mailing.refresh_from_db(fields=["status", "scheduled_at"])
    return mailing


def mailing_unschedule(*, mailing: Mailing) -> Mailing:
    if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SCHEDULED).update(
        status=Mailing.Status.DRAFT, scheduled_at=None
    ):
        raise MailingStateError("Only a scheduled mailing can be unscheduled.")
    mailing.refresh_from_db(fields=["status", "scheduled_at"])
    return mailing


def mailing_start(*, mailing_id: int) -> Mailing:
    """Start sending now: snapshot the recipients into deliveries and wake the workers.

    The status change and the snapshot are one transaction, so a mailing is never `sending`
    without its deliveries; starting twice (a re-delivered task, beat and a click) does
    nothing the second time."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        started = Mailing.objects.filter(
            pk=mailing_id, status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]
        ).update(status=Mailing.Status.SENDING, started_at=now, last_activity_at=now)
        mailing = Mailing.objects.select_related("segment", "mailing_list", "message__sender__organisation").get(pk=mailing_id)
        if not started:
            raise MailingStateError(f"The mailing is {mailing.get_status_display().lower()}: it cannot be started.")
        mailing.recipient_count = sending.deliveries_snapshot(mailing=mailing)
        mailing.save(update_fields=["recipient_count"])
        transaction.on_commit(lambda: _lanes_queue(mailing_id))
    return mailing


def mailing_send_now(*, mailing: Mailing) -> None:
    """Queue the start (the snapshot of a large segment takes seconds: not in a web request)."""
    from mailings import tasks

    if mailing.status not in (Mailing.Status.DRAFT, Mailing.Status.SCHEDULED):
        raise MailingStateError("Only a draft or scheduled mailing can be sent.")
    tasks.mailing_start.delay(mailing.pk)


def mailing_pause(*, mailing: Mailing) -> Mailing:
    """Stop claiming new chunks; chunks already handed to the ESP finish and are recorded."""
    if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SENDING).update(status=Mailing.Status.PAUSED):
        raise MailingStateError("Only a sending mailing can be paused.")
    mailing.refresh_from_db(fields=["status"])
    return mailing


def mailing_resume(*, mailing: Mailing) -> Mailing:
    """Carry on with the rows still queued: nobody sent is sent again, nobody is skipped."""
    if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.PAUSED).update(
        status=Mailing.Status.SENDING, last_activity_at=timezone.now()
    ):
        raise MailingStateError("Only a paused mailing can be resumed.")
    transaction.on_commit(lambda: _lanes_queue(mailing.pk))
    mailing.refresh_from_db(fields=["status"])
    return mailing


def mailing_cancel(*, mailing: Mailing) -> int:
    """Cancel: queued deliveries are never sent. Returns how many were cancelled."""
    with transaction.atomic(durable=True):
        if not Mailing.objects.filter(
            pk=mailing.pk,
            status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED, Mailing.Status.SENDING, Mailing.Status.PAUSED],
        ).update(status=Mailing.Status.CANCELLED, finished_at=timezone.now()):
            raise MailingStateError("A sent or cancelled mailing cannot be cancelled.")
        cancelled = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.CANCELLED
        )
    mailing.refresh_from_db(fields=["status", "finished_at"])
    return cancelled


def deliveries_unknown_resend(*, mailing: Mailing) -> int:
    """The organiser's choice for deliveries whose outcome stayed unknown (an ESP with no
    search to ask): send them again, accepting that some may get two copies."""
    with transaction.atomic(durable=True):
        count = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.UNKNOWN).update(
            status=Delivery.Status.QUEUED, claim_token=None, claimed_at=None
        )
        if count:
            Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SENT).update(
                status=Mailing.Status.SENDING, finished_at=None, last_activity_at=timezone.now()
            )
            transaction.on_commit(lambda: _lanes_queue(mailing.pk))
    return count


def deliveries_unknown_drop(*, mailing: Mailing) -> int:
    """The other choice: never send them again."""
    return Delivery.objects.filter(mailing=mailing, status=Delivery.Status.UNKNOWN).update(
        status=Delivery.Status.DROPPED
    )


def mailings_tick() -> dict:
    """Beat, every MAILINGS_TICK_SECONDS: hash new supporters' addresses for the suppression
    check, start scheduled mailings that are due, return abandoned claims, settle unknown
    outcomes with the ESP, wake stalled mailings and mark finished ones sent. Safe to run
    twice or concurrently."""
    hashed = supporters_email_hash_fill()
    now = timezone.now()
    started = 0
    for mailing_id in Mailing.objects.filter(status=Mailing.Status.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True):
        try:
            mailing_start(mailing_id=mailing_id)
            started += 1
        except MailingStateError:
            pass  # started by another tick
    requeued, unknown = sending.claims_sweep()
    found, resent = sending.unknown_reconcile()
    woken = finished = 0
    stalled_before = now - settings.MAILINGS_STALL_AFTER
    for mailing_id, last_activity in Mailing.objects.filter(status=Mailing.Status.SENDING).values_list("pk", "last_activity_at"):
        if sending.mailing_finish_if_done(mailing_id=mailing_id):
            finished += 1
        elif last_activity is None or last_activity < stalled_before:
            # No chunk recorded for a while: its workers died (their tasks wait for Redis's
            # visibility timeout) or the queue was lost. Claims are idempotent: wake new ones.
            Mailing.objects.filter(pk=mailing_id).update(last_activity_at=now)
            _lanes_queue(mailing_id)
            woken += 1
    return {"hashed": hashed, "started": started, "requeued": requeued, "unknown": unknown, "reconciled": found,
            "resent": resent, "woken": woken, "finished": finished}


# --- Compose: preview and test sends ----------------------------------------------------------


def _sample_values(supporter: Supporter | None, mailing_list) -> dict[str, str]:
    if supporter is not None:
        return rendering.recipient_values(supporter=supporter, mailing_list=mailing_list)
    return {
        "first_name": "",
        "last_name": "",
        "preferences_url": f"{settings.SITE_URL}/preferences/example/",
        "unsubscribe_url": f"{settings.SITE_URL}/unsubscribe/example/",
    }


def message_preview(*, message: Message, supporter: Supporter | None = None, mailing_list=None) -> RenderedEmail:
    """The message as `supporter` would get it (without one: a recipient with no name)."""
    compiled = rendering.message_compile(
        subject=message.subject, preheader=message.preheader, body=message.body, merge_values=message.merge_values,
        list_name=mailing_list.name if mailing_list else "",
    )
    return rendering.compiled_render(compiled, _sample_values(supporter, mailing_list))


def message_test_send(*, message: Message, to_email: str, supporter: Supporter | None = None, mailing_list=None) -> str:
    """Send the message, rendered as `supporter`, to the organiser's own address, through the
    bulk stream. A suppressed address is refused like any recipient. Returns the ESP's id."""
    if not to_email:
        raise MailingStateError("Your user account has no email address: add one to receive test sends.")
    if address_suppressed(to_email):
        raise MailingStateError(f"{to_email} is suppressed (a bounce or complaint): it is sent nothing.")
    rendered = message_preview(message=message, supporter=supporter, mailing_list=mailing_list)
    outbound = OutboundEmail.objects.create(
        dedupe_key=f"mailing-test:{uuid.uuid4()}", kind="mailing_test", stream=OutboundEmail.Stream.BULK,
        to_email=to_email, subject=f"[Test] {rendered.subject}"[:300], status=OutboundEmail.Status.SENDING, attempts=1,
    )
    email = EmailMultiAlternatives(
        subject=f"[Test] {rendered.subject}", body=rendered.text, from_email=message.sender.bulk_from, to=[to_email],
        reply_to=[message.reply_to_address] if message.reply_to_address else None, connection=esp.bulk_connection(),
    )
    email.attach_alternative(rendered.html, "text/html")
    email.metadata = {"outbound_email_id": str(outbound.pk), "kind": "mailing_test"}
    email.tags = ["mailing_test"]
    try:
        email.send()
    except Exception as error:
        OutboundEmail.objects.filter(pk=outbound.pk).update(status=OutboundEmail.Status.FAILED, last_error=repr(error)[:2000])
        raise MailingStateError(f"The ESP did not take the test email: {error}") from error
    status = getattr(email, "anymail_status", None)
    message_id = str(getattr(status, "message_id", "") or "") if status else ""
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=OutboundEmail.Status.SENT, esp_message_id=message_id[:200], sent_at=timezone.now()
    )
    return message_id


def mailing_draft_create(
    *, name: str, sender: Sender, subject: str, body: str, merge_values: dict, segment_name: str, definition: dict,
    mailing_list=None, created_by=None,
) -> Mailing:
    """A draft mailing with its own message and segment, for the organiser to edit, preview,
    test and send (mobilisation from a petition starts here)."""
    from mailings.models import Segment
    from mailings.segments import segment_q

    segment_q(definition)  # a bad definition fails here, not at send time
    with transaction.atomic():
        message = Message.objects.create(name=name, sender=sender, subject=subject, body=body, merge_values=merge_values)
        segment = Segment.objects.create(name=segment_name, definition=definition)
        return Mailing.objects.create(
            name=name, message=message, segment=segment, mailing_list=mailing_list, created_by=created_by
        )
