"""Reads for petitions. The live count never runs a COUNT(*) per request: it comes from the
cache, kept by an INCR on each confirmation and reset by the periodic reconciliation."""

import logging

from django.core.cache import cache
from django.urls import reverse

from engage.models import Organisation
from petitions.models import Cosponsorship, Petition

logger = logging.getLogger(__name__)

SUMMARY_CACHE_SECONDS = 300


def count_key(petition_id: int) -> str:
    return f"petition:{petition_id}:count"


def summary_key(slug: str) -> str:
    return f"petition:summary:{slug}"


def signature_count_live(*, petition_id: int, fallback: int) -> int:
    """The live confirmed count; `fallback` (the reconciled column) when the cache is cold or down."""
    try:
        value = cache.get(count_key(petition_id))
    except Exception:  # the cache server is down: the reconciled figure is still right to within a minute
        logger.warning("count cache unavailable", exc_info=True)
        return fallback
    return fallback if value is None else int(value)


def petition_summary(*, slug: str) -> dict | None:
    """The public fields of a published petition, cached; None if there is no such petition."""
    try:
        summary = cache.get(summary_key(slug))
    except Exception:
        summary = None
    if summary is None:
        petition = (
            Petition.objects.exclude(status=Petition.Status.DRAFT)
            .only("id", "slug", "title", "target", "goal", "status", "closes_at", "signature_count")
            .filter(slug=slug)
            .first()
        )
        if petition is None:
            return None
        summary = {
            "id": petition.pk,
            "slug": petition.slug,
            "title": petition.title,
            "target": petition.target,
            "goal": petition.goal,
            "status": petition.status,
            "closes_at": petition.closes_at.isoformat() if petition.closes_at else None,
            "url": reverse("petitions:detail", kwargs={"slug": petition.slug}),
            "reconciled_count": petition.signature_count,
        }
        try:
            cache.set(summary_key(slug), summary, SUMMARY_CACHE_SECONDS)
        except Exception:
            logger.warning("summary cache unavailable", exc_info=True)
    return summary


def petition_progress_percent(*, count: int, goal: int) -> int:
    if goal <= 0:
        return 100
    return min(100, count * 100 // goal)


def cosponsorships_active(*, petition: Petition) -> list[Cosponsorship]:
    """The co-sponsors whose opt-in box the sign form shows, in name order."""
    return list(
        Cosponsorship.objects.filter(petition=petition, active=True)
        .select_related("organisation")
        .order_by("organisation__name", "pk")
    )


def petition_partner(*, petition: Petition, slug: str, cosponsorships: list[Cosponsorship]) -> Organisation | None:
    """The organisation a `partner` slug names for this petition: an active co-sponsor, or the host
    (embedding on its own sites). None for anything else: unknown, or a co-sponsorship switched off.
    `cosponsorships` is cosponsorships_active(petition), already loaded for the form."""
    if not slug:
        return None
    if slug == petition.organisation.slug:
        return petition.organisation
    return next((c.organisation for c in cosponsorships if c.organisation.slug == slug), None)
