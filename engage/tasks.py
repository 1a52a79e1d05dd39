"""Thin Celery wrappers: each takes ids, calls a service, owns retries, and is safe to run twice."""

from celery import shared_task

from engage.emails import email_retry
from engage.services import data_exports, imports, partner_notices, preferences, signups


@shared_task(**email_retry())
def signup_confirmation_send(signup_id: int) -> bool:
    return signups.signup_confirmation_send(signup_id=signup_id)


@shared_task(**email_retry())
def signup_confirmation_resend_send(signup_id: int) -> bool:
    return signups.signup_confirmation_resend_send(signup_id=signup_id)


@shared_task
def signups_confirmation_owed_send() -> int:
    return signups.signups_confirmation_owed_send()


@shared_task
def signups_unconfirmed_purge() -> int:
    return signups.signups_unconfirmed_purge()


@shared_task(**email_retry())
def preferences_link_send(supporter_id: int) -> bool:
    return preferences.preferences_link_send(supporter_id=supporter_id)


@shared_task(**email_retry())
def data_export_build(export_id: int) -> bool:
    return data_exports.data_export_build(export_id=export_id)


@shared_task
def data_exports_expire() -> int:
    return data_exports.data_exports_expire()


@shared_task
def subscriber_import_run(import_id: int) -> bool:
    return imports.subscriber_import_run(import_id=import_id)


@shared_task
def subscriber_imports_sweep() -> int:
    return imports.subscriber_imports_sweep()


@shared_task
def partner_notice_deliver(notice_id: int) -> str:
    """One webhook attempt; after a failure, the next is queued after its back-off (and the
    sweep queues it again if that task is lost)."""
    outcome = partner_notices.partner_notice_deliver(notice_id=notice_id)
    if outcome.status == "retry":
        partner_notices.partner_notice_retry_queue(notice_id=notice_id, retry_in=outcome.retry_in)
    return outcome.status


@shared_task
def partner_notices_sweep() -> int:
    return partner_notices.partner_notices_sweep()


@shared_task
def partner_notices_purge() -> int:
    return partner_notices.partner_notices_purge()


@shared_task
def audit_purge() -> int:
    from engage.audit import audit_purge as purge

    return purge()
