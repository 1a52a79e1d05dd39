"""Thin Celery wrappers: each takes ids, calls a service, owns retries, and is safe to run twice."""

from celery import shared_task

from engage import data_exports, imports, services
from engage.emails import EmailNotSent

_EMAIL_RETRY = {"autoretry_for": (EmailNotSent,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 8}


@shared_task(**_EMAIL_RETRY)
def signup_confirmation_send(signup_id: int) -> bool:
    return services.signup_confirmation_send(signup_id=signup_id)


@shared_task
def signups_confirmation_owed_send() -> int:
    return services.signups_confirmation_owed_send()


@shared_task
def signups_unconfirmed_purge() -> int:
    return services.signups_unconfirmed_purge()


@shared_task(**_EMAIL_RETRY)
def preferences_link_send(supporter_id: int) -> bool:
    return services.preferences_link_send(supporter_id=supporter_id)


@shared_task(**_EMAIL_RETRY)
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
