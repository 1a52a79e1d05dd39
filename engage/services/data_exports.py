"""A person's copy of their data: asked for from the preference page (or by an organiser),
built as JSON by a worker, and fetched through an emailed link that expires.

The link carries a signed random value, never an id or address (engage.links); the file's
name says nothing about whose it is; after DATA_EXPORT_LINK_MAX_AGE the content is deleted and
the link answers 410.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engage.emails import email_send
from engage.links import data_export_url
from engage.models import DataExport, Supporter
from engage.queueing import queue
from engage.selectors import supporter_export_json


def data_export_request(*, supporter: Supporter, requested_by: str) -> DataExport:
    """Queue a new export, or return the one already being prepared (a second press of the
    button makes no second file)."""
    from engage import tasks

    with transaction.atomic(durable=True):
        Supporter.objects.select_for_update().filter(pk=supporter.pk).first()  # one request at a time per person
        export = supporter.data_exports.filter(status=DataExport.Status.PENDING).first()
        if export is None:
            export = DataExport.objects.create(supporter=supporter, requested_by=requested_by[:200])
            transaction.on_commit(lambda: queue(tasks.data_export_build, export.pk))
    return export


def data_export_build(*, export_id: int) -> bool:
    """Write the JSON and email the link, once each: safe to run twice."""
    export = DataExport.objects.select_related("supporter").filter(pk=export_id).first()
    if export is None or export.status == DataExport.Status.EXPIRED:
        return False
    if export.status == DataExport.Status.PENDING:
        now = timezone.now()
        content = supporter_export_json(supporter=export.supporter)
        DataExport.objects.filter(pk=export.pk, status=DataExport.Status.PENDING).update(
            status=DataExport.Status.READY, content=content, ready_at=now, expires_at=now + settings.DATA_EXPORT_LINK_MAX_AGE
        )
        export.refresh_from_db()
    return email_send(
        dedupe_key=f"data-export-ready:{export.pk}",
        kind="data_export_ready",
        supporter=export.supporter,
        template="engage/email/data_export_ready",
        context={"download_url": data_export_url(export), "expires_at": export.expires_at},
    )


def data_exports_expire() -> int:
    """Delete the content of exports whose link has expired (beat)."""
    return DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=timezone.now()).update(
        status=DataExport.Status.EXPIRED, content=""
    )
