"""Thin Celery wrappers: each takes ids, calls a service, owns retries, and is safe to run twice."""

from collections.abc import Callable

from celery import shared_task

from engage.emails import email_retry
from mailings.services.transactional import EmailSendFailed
from petitions.services import counts, lifecycle, retention, signing


@shared_task(**email_retry(EmailSendFailed))
def signature_confirmation_send(signature_id: int) -> bool:
    return signing.signature_confirmation_send(signature_id=signature_id)


@shared_task(**email_retry(EmailSendFailed))
def signature_confirmation_resend_send(signature_id: int) -> bool:
    return signing.signature_confirmation_resend_send(signature_id=signature_id)


@shared_task(**email_retry(EmailSendFailed))
def signature_already_signed_send(signature_id: int) -> bool:
    return signing.signature_already_signed_send(signature_id=signature_id)


def _beat_job(service: Callable[[], int]):
    """A periodic job takes no arguments, so its task is the service itself, named
    petitions.tasks.<service> as CELERY_BEAT_SCHEDULE names it."""
    return shared_task(name=f"{__name__}.{service.__name__}")(service)


counts_reconcile = _beat_job(counts.counts_reconcile)
confirmations_owed_send = _beat_job(signing.confirmations_owed_send)
signatures_remind = _beat_job(signing.signatures_remind)
signatures_unconfirmed_purge = _beat_job(signing.signatures_unconfirmed_purge)
petitions_close_due = _beat_job(lifecycle.petitions_close_due)
signatures_anonymise_due = _beat_job(retention.signatures_anonymise_due)
