"""Thin Celery wrappers: each takes ids, calls a service, owns retries, and is safe to run twice."""

from celery import shared_task

from mailings.services import EmailSendFailed
from petitions import retention, services

_EMAIL_RETRY = {"autoretry_for": (EmailSendFailed,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 8}


@shared_task(**_EMAIL_RETRY)
def signature_confirmation_send(signature_id: int) -> bool:
    return services.signature_confirmation_send(signature_id=signature_id)


@shared_task(**_EMAIL_RETRY)
def signature_already_signed_send(signature_id: int) -> bool:
    return services.signature_already_signed_send(signature_id=signature_id)


@shared_task
def counts_reconcile() -> int:
    return services.counts_reconcile()


@shared_task
def confirmations_owed_send() -> int:
    return services.confirmations_owed_send()


@shared_task
def signatures_remind() -> int:
    return services.signatures_remind()


@shared_task
def signatures_unconfirmed_purge() -> int:
    return services.signatures_unconfirmed_purge()


@shared_task
def petitions_close_due() -> int:
    return services.petitions_close_due()


@shared_task
def signatures_anonymise_due() -> int:
    return retention.signatures_anonymise_due()
