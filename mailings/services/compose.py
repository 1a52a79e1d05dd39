"""What organisers do with a mailing: write it (a draft with its message and segment), test it
on themselves, send it now or at a time, pause, resume or cancel it, and decide about
deliveries whose outcome stayed unknown.

Mailings move draft -> scheduled -> sending <-> paused -> sent, or cancelled; the sending
itself is in mailings.services.sending.
"""

import uuid
from datetime import datetime

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from engage.audit import audit_record
from engage.models import MailingList, Supporter
from mailings import esp
from mailings.message_options import esp_options_apply
from mailings.models import Delivery, Mailing, Message, OutboundEmail, Segment, Sender
from mailings.selectors.mailings import message_preview
from mailings.selectors.recipients import address_suppressed
from mailings.selectors.segments import segment_q
from mailings.services.sending import MailingStateError, lanes_wake

# --- Drafts ----------------------------------------------------------------------------------


def mailing_draft_create(
    *, name: str, sender: Sender, subject: str, body: str, merge_values: dict, segment_name: str, definition: dict,
    mailing_list: MailingList | None = None, created_by=None,
) -> Mailing:
    """A draft mailing with its own message and segment, for the organiser to edit, preview,
    test and send (mobilisation from a petition starts here)."""
    segment_q(definition)  # a bad definition fails here, not at send time
    with transaction.atomic():
        message = Message.objects.create(name=name, sender=sender, subject=subject, body=body, merge_values=merge_values)
        segment = Segment.objects.create(name=segment_name, definition=definition)
        return Mailing.objects.create(
            name=name, message=message, segment=segment, mailing_list=mailing_list, created_by=created_by
        )


def mailing_create(
    *, name: str, sender: Sender, subject: str, segment: Segment, mailing_list: MailingList | None = None,
    created_by=None,
) -> Mailing:
    """A draft mailing from the workspace's "New mailing": its own message (written next, on
    its page) to a saved segment."""
    with transaction.atomic():
        message = Message.objects.create(name=name, sender=sender, subject=subject, body="")
        return Mailing.objects.create(
            name=name, message=message, segment=segment, mailing_list=mailing_list, created_by=created_by
        )


def mailing_audience_set(*, mailing: Mailing, segment: Segment, mailing_list: MailingList | None) -> Mailing:
    """Choose who a draft goes to: a conditional UPDATE, so a mailing that started meanwhile
    keeps the audience its snapshot was taken from."""
    if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.DRAFT).update(
        segment=segment, mailing_list=mailing_list, updated_at=timezone.now()
    ):
        raise MailingStateError("Only a draft's audience can be changed.")
    mailing.refresh_from_db(fields=["segment", "mailing_list", "updated_at"])
    return mailing


def message_save(*, message: Message) -> Message:
    """Store a message as the organiser wrote it (its merge fields already checked). A mailing
    that is sending picks up the edit: its compiled copy is keyed by updated_at."""
    message.save()
    return message


def segment_save(*, segment: Segment) -> Segment:
    """Store a segment as the organiser wrote it (its definition already built once)."""
    segment.save()
    return segment


def mailing_save(*, mailing: Mailing, created_by=None) -> Mailing:
    """Store a mailing as the organiser wrote it on its page; a new one records who made it.
    Its status is never written here: that takes the actions below."""
    if mailing.pk is None:
        mailing.created_by = created_by
        mailing.save()
    else:
        mailing.save(update_fields=["name", "message", "segment", "mailing_list", "updated_at"])
    return mailing


def _audit(request_or_actor, mailing: Mailing, action: str, **details) -> None:
    # Only an organiser's call names who (the workspace's and the admin's); a task's does not.
    if request_or_actor is not None:
        audit_record(request_or_actor=request_or_actor, organisation=mailing.organisation, action=action,
                     target=mailing, details=details)


# --- Test sends ------------------------------------------------------------------------------


def message_test_send(
    *, message: Message, to_email: str, supporter: Supporter | None = None, mailing_list: MailingList | None = None,
    request_or_actor=None,
) -> str:
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
    esp_options_apply(email, backend_path=esp.bulk_backend_path(), stream="bulk", tag="mailing_test")
    try:
        email.send()
    except Exception as error:
        OutboundEmail.objects.filter(pk=outbound.pk).update(status=OutboundEmail.Status.FAILED, last_error=repr(error)[:2000])
        raise MailingStateError(f"The ESP did not take the test email: {error}") from error
    message_id = esp.message_id(email)
    with transaction.atomic():
        OutboundEmail.objects.filter(pk=outbound.pk).update(
            status=OutboundEmail.Status.SENT, esp_message_id=message_id[:200], sent_at=timezone.now()
        )
        if request_or_actor is not None:
            audit_record(
                request_or_actor=request_or_actor, organisation=message.sender.organisation, action="mailing.test_sent",
                target=message, details={"as_supporter": supporter.pk if supporter else None,
                                         "mailing_list": mailing_list.pk if mailing_list else None},
            )
    return message_id


# --- Sending, scheduling, pausing ------------------------------------------------------------


def mailing_schedule(*, mailing: Mailing, at: datetime, request_or_actor=None) -> Mailing:
    """Send at `at`: beat starts it when due (from the database; no long ETA task)."""
    if at <= timezone.now():
        raise MailingStateError("Choose a time in the future, or send now.")
    with transaction.atomic():
        updated = Mailing.objects.filter(
            pk=mailing.pk, status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]
        ).update(status=Mailing.Status.SCHEDULED, scheduled_at=at)
        if not updated:
            raise MailingStateError("Only a draft or scheduled mailing can be scheduled.")
        mailing.refresh_from_db(fields=["status", "scheduled_at"])
        _audit(request_or_actor, mailing, "mailing.scheduled", at=at.isoformat())
    return mailing


def mailing_unschedule(*, mailing: Mailing, request_or_actor=None) -> Mailing:
    with transaction.atomic():
        if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SCHEDULED).update(
            status=Mailing.Status.DRAFT, scheduled_at=None
        ):
            raise MailingStateError("Only a scheduled mailing can be unscheduled.")
        mailing.refresh_from_db(fields=["status", "scheduled_at"])
        _audit(request_or_actor, mailing, "mailing.unscheduled")
    return mailing


def mailing_send_now(*, mailing: Mailing, request_or_actor=None) -> Mailing:
    """Queue the start (the snapshot of a large segment takes seconds: not in a web request).

    The mailing is first scheduled for now, so its page shows it starting (and keeps
    watching it) rather than a draft that can be sent again, and beat starts it should the
    queued task be lost. Unscheduling still takes it back to a draft."""
    from mailings import tasks

    with transaction.atomic():
        updated = Mailing.objects.filter(
            pk=mailing.pk, status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]
        ).update(status=Mailing.Status.SCHEDULED, scheduled_at=timezone.now())
        if not updated:
            raise MailingStateError("Only a draft or scheduled mailing can be sent.")
        mailing.refresh_from_db(fields=["status", "scheduled_at"])
        _audit(request_or_actor, mailing, "mailing.sent")
        transaction.on_commit(lambda: tasks.mailing_start.delay(mailing.pk))
    return mailing


def mailing_pause(*, mailing: Mailing, request_or_actor=None) -> Mailing:
    """Stop claiming new chunks; chunks already handed to the ESP finish and are recorded."""
    with transaction.atomic():
        if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.SENDING).update(status=Mailing.Status.PAUSED):
            raise MailingStateError("Only a sending mailing can be paused.")
        mailing.refresh_from_db(fields=["status"])
        _audit(request_or_actor, mailing, "mailing.paused")
    return mailing


def mailing_resume(*, mailing: Mailing, request_or_actor=None) -> Mailing:
    """Carry on with the rows still queued: nobody sent is sent again, nobody is skipped."""
    with transaction.atomic():
        if not Mailing.objects.filter(pk=mailing.pk, status=Mailing.Status.PAUSED).update(
            status=Mailing.Status.SENDING, last_activity_at=timezone.now()
        ):
            raise MailingStateError("Only a paused mailing can be resumed.")
        transaction.on_commit(lambda: lanes_wake(mailing.pk))
        mailing.refresh_from_db(fields=["status"])
        _audit(request_or_actor, mailing, "mailing.resumed")
    return mailing


def mailing_cancel(*, mailing: Mailing, request_or_actor=None) -> int:
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
        _audit(request_or_actor, mailing, "mailing.cancelled", deliveries_cancelled=cancelled)
    mailing.refresh_from_db(fields=["status", "finished_at"])
    return cancelled


# --- Unknown outcomes ------------------------------------------------------------------------


def deliveries_unknown_resend(*, mailing: Mailing, request_or_actor=None) -> int:
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
            transaction.on_commit(lambda: lanes_wake(mailing.pk))
        _audit(request_or_actor, mailing, "mailing.unknown_resent", deliveries=count)
    return count


def deliveries_unknown_drop(*, mailing: Mailing, request_or_actor=None) -> int:
    """The other choice: never send them again."""
    with transaction.atomic():
        count = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.UNKNOWN).update(
            status=Delivery.Status.DROPPED
        )
        _audit(request_or_actor, mailing, "mailing.unknown_dropped", deliveries=count)
    return count
