import logging

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)


def queue(task, *args) -> None:
    """Publish a task; if the broker is down, log and leave it to the beat sweeper that looks
    for work still owed (docs/design.md, "Stored first, sent when the service is back": what was stored is not lost)."""
    try:
        task.apply_async(args=args, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception:
        logger.exception("could not queue %s%r; the sweeper will do it", task.name, args)


def confirmations_owed_queue(*, rows: QuerySet, task) -> int:
    """The beat sweeper: queue `task` (which takes a row's id) for each of `rows` still owed
    its confirmation email, e.g. because the broker was down when it was stored. `rows` are
    the caller's pending rows (sign-ups, signatures), with `confirmation_sent_at` and
    `created_at`; owed means never sent, stored at least CONFIRM_OWED_AFTER ago (the first
    attempt has had its chance) and not yet due for the purge of unconfirmed rows. Returns how
    many were queued."""
    now = timezone.now()
    owed = rows.filter(
        confirmation_sent_at__isnull=True,
        created_at__lte=now - settings.CONFIRM_OWED_AFTER,
        created_at__gte=now - settings.UNCONFIRMED_PURGE_AFTER,
    ).values_list("pk", flat=True)
    count = 0
    for pk in owed.iterator():
        task.delay(pk)
        count += 1
    return count
