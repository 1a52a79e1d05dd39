"""The live count: +1 in the cache per confirmation, and the periodic recount that corrects it
and the reconciled column (petitions.selectors.signature_count_live reads them)."""

import logging

from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from petitions.models import Petition, Signature
from petitions.selectors import count_key

logger = logging.getLogger(__name__)


def count_increment(*, petition_id: int) -> None:
    """+1 in the cache. A cold key is seeded from the database, which already holds this
    confirmation. No hot row is updated per signature."""
    try:
        cache.incr(count_key(petition_id))
    except ValueError:
        exact = Signature.objects.filter(petition_id=petition_id, status=Signature.Status.CONFIRMED).count()
        cache.set(count_key(petition_id), exact, None)
    except Exception:
        logger.warning("count cache unavailable; reconciliation will catch up", exc_info=True)


def counts_reconcile() -> int:
    """Recount confirmed signatures of live petitions and reset the cached counts.

    Runs every COUNT_RECONCILE_SECONDS from beat: one grouped COUNT for all live petitions,
    and an UPDATE only of petitions whose figure changed.
    """
    now = timezone.now()
    live = Petition.objects.filter(
        status__in=[Petition.Status.OPEN, Petition.Status.CLOSED, Petition.Status.HANDED_IN]
    ).only("id", "signature_count")
    counts = dict(
        Signature.objects.filter(status=Signature.Status.CONFIRMED, petition__in=live)
        .values_list("petition")
        .annotate(n=Count("id"))
        .values_list("petition", "n")
    )
    changed = []
    for petition in live:
        exact = counts.get(petition.pk, 0)
        try:
            cache.set(count_key(petition.pk), exact, None)
        except Exception:
            logger.warning("count cache unavailable", exc_info=True)
        if petition.signature_count != exact:
            petition.signature_count = exact
            petition.counted_at = now
            changed.append(petition)
    Petition.objects.bulk_update(changed, ["signature_count", "counted_at"])
    return len(changed)
