"""Reads for petitions. The live count never runs a COUNT(*) per request: it comes from the
cache, kept by an INCR on each confirmation and reset by the periodic reconciliation."""

import calendar
import logging
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.urls import reverse

from engage.models import Organisation, Supporter
from engage.normalise import email_fold_aliases, email_fold_aliases_pattern
from petitions.models import Cosponsorship, Petition, Signature

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


def petitions_open_listed():
    """The open petitions the home page lists, newest first."""
    return Petition.objects.filter(status=Petition.Status.OPEN).select_related("organisation")[:50]


def signature_by_confirm_nonce(nonce: str) -> Signature | None:
    return Signature.objects.select_related("petition").filter(confirm_nonce=nonce).first()


def petition_titles(slugs: set[str]) -> dict[str, str]:
    """{slug: title}: what a consent source "petition:<slug>" names (engage.consent_sources)."""
    return dict(Petition.objects.filter(slug__in=slugs).values_list("slug", "title"))


def petition_progress_percent(*, count: int, goal: int) -> int:
    if goal <= 0:
        return 100
    return min(100, count * 100 // goal)


def petitions_flagging_cosponsors(queryset):
    """Petitions annotated with `has_active_cosponsors`, so cosponsorships_active can skip its
    query for the many petitions without co-sponsors: one query fewer on the sign POST."""
    return queryset.annotate(
        has_active_cosponsors=Exists(Cosponsorship.objects.filter(petition=OuterRef("pk"), active=True))
    )


def cosponsorships_active(*, petition: Petition) -> list[Cosponsorship]:
    """The co-sponsors whose opt-in box the sign form shows, in name order."""
    if getattr(petition, "has_active_cosponsors", None) is False:
        return []
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


def petition_partner_or_host(
    *, petition: Petition, slug: str, cosponsorships: list[Cosponsorship]
) -> Organisation | None:
    """As petition_partner, but no slug means the host: the embed and the API use it to decide whose
    registered origins may frame or call them. None for a slug that names nobody acceptable."""
    if not slug:
        return petition.organisation
    return petition_partner(petition=petition, slug=slug, cosponsorships=cosponsorships)


# --- a person's data and the retention rule -------------------------------------------------------


def signatures_of(supporter: Supporter) -> dict:
    """petitions' section of a person's data export (engage.personal_data)."""
    signatures = supporter.signatures.select_related("petition", "partner").order_by("created_at", "id")
    return {
        "signatures": [
            {
                "petition": s.petition.title,
                "petition_url": s.petition.get_absolute_url(),
                "status": s.status,
                "country": s.country,
                "postcode_area": s.postcode_area,
                "source": s.source,
                "through_partner": s.partner.name if s.partner else None,
                "opt_in_boxes_ticked": [box.get("wording", "") for box in s.opt_ins_pending],
                "signed_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            }
            for s in signatures
        ]
    }


def signers_among(supporter_ids: list[int]) -> set[int]:
    """Those of these people who still have a signature here (engage.personal_data keeps them)."""
    return set(
        Signature.objects.filter(supporter_id__in=supporter_ids).values_list("supporter_id", flat=True).distinct()
    )


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the last day of a shorter month)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def petitions_past_retention(*, now: datetime):
    """Closed or handed-in petitions that ended before the retention cutoff (SIGNATURE_RETENTION_MONTHS)."""
    cutoff = months_before(now, settings.SIGNATURE_RETENTION_MONTHS)
    return (
        Petition.objects.filter(status__in=[Petition.Status.CLOSED, Petition.Status.HANDED_IN])
        .alias(ended_at=Coalesce("closed_at", "handed_in_at"))
        .filter(ended_at__lte=cutoff)
    )


def signatures_alias_neighbours(signatures: list[Signature]) -> dict[int, tuple[str, int]]:
    """{signature id: (its address with aliases folded, how many other signatures of its petition
    fold to the same)}, for reviewing held signatures: one person signing as a.da@, ada+1@ and
    ada+2@ shows. One query for all of them, through the (petition, status) index's petition."""
    folded = {s.pk: email_fold_aliases(s.supporter.email) for s in signatures if s.supporter_id is not None}
    if not folded:
        return {}
    wanted = Q()
    for signature in signatures:
        if signature.pk in folded:
            wanted |= Q(petition_id=signature.petition_id, supporter__email__regex=email_fold_aliases_pattern(folded[signature.pk]))
    matches = Signature.objects.filter(wanted).values_list("pk", "petition_id", "supporter__email")
    shared: dict[tuple[int, str], set[int]] = {}
    for pk, petition_id, email in matches:
        shared.setdefault((petition_id, email_fold_aliases(email)), set()).add(pk)
    return {
        s.pk: (folded[s.pk], len(shared.get((s.petition_id, folded[s.pk]), set()) - {s.pk}))
        for s in signatures
        if s.pk in folded
    }
