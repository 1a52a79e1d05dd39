"""A petition's life: an organiser's edit, publishing, closing (by hand or at its deadline) and
handing in. Each drops the cached summary the count API serves."""

import logging
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from engage.audit import audit_record
from engage.markdown import render_markdown
from petitions.models import Petition
from petitions.selectors import summary_key

logger = logging.getLogger(__name__)


def petition_save(*, petition: Petition) -> Petition:
    """Save an organiser's edit: render the body and drop the cached summary."""
    petition.body_html = render_markdown(petition.body)
    petition.save()
    _summary_forget(petition)
    return petition


def _summary_forget(petition: Petition) -> None:
    try:
        cache.delete(summary_key(petition.slug))
    except Exception:
        logger.warning("summary cache unavailable", exc_info=True)


_STATUS_ACTIONS = {
    Petition.Status.OPEN: "petition.opened",
    Petition.Status.CLOSED: "petition.closed",
    Petition.Status.HANDED_IN: "petition.handed_in",
}


def petition_set_status(
    *, petition: Petition, status: str, at: datetime | None = None, request_or_actor=None
) -> Petition:
    """Publish, close or mark handed in, recording when (`at`, or now). Handing in an open
    petition closes it too, so its page can say the day it stopped collecting signatures.
    An organiser's change (`request_or_actor`) is audited with it; the deadline's is not."""
    now = at or timezone.now()
    was_open = petition.status == Petition.Status.OPEN
    was = petition.status
    petition.status = status
    fields = ["status", "updated_at"]
    stamp = {
        Petition.Status.OPEN: "opened_at",
        Petition.Status.CLOSED: "closed_at",
        Petition.Status.HANDED_IN: "handed_in_at",
    }.get(status)
    if stamp:
        setattr(petition, stamp, now)
        fields.append(stamp)
    if status == Petition.Status.HANDED_IN and (was_open or petition.closed_at is None):
        petition.closed_at = now
        fields.append("closed_at")
    with transaction.atomic():
        petition.save(update_fields=fields)
        if request_or_actor is not None and status in _STATUS_ACTIONS:
            audit_record(request_or_actor=request_or_actor, organisation=petition.organisation,
                         action=_STATUS_ACTIONS[status], target=petition, details={"from": was, "to": status})
    _summary_forget(petition)
    return petition


def petitions_close_due() -> int:
    """Close open petitions whose deadline has passed, as of their deadline (the beat runs a
    little after it)."""
    due = list(Petition.objects.filter(status=Petition.Status.OPEN, closes_at__lte=timezone.now()))
    for petition in due:
        petition_set_status(petition=petition, status=Petition.Status.CLOSED, at=petition.closes_at)
    return len(due)
