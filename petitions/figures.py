"""Reads for the workspace's petition figures, all from the tallies (docs/design.md, "Figures come
from tallies"): no query here reads the signatures table, so a page costs the same with a
million signatures as with ten.

`partner` is the slice: None for the host's whole picture; an organisation for the signatures
through it, which on a petition it runs are those through no partner (its own page and its
own embed, as Workspace.signatures() says).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from engage.models import Organisation
from petitions.models import Cosponsorship, OptInTally, Petition, PlaceTally, SignatureTally

HOURLY_HOURS = 48  # the time chart's last 48 hours are hourly; before them, daily
SPARK_DAYS = 14


def slice_q(*, partner: Organisation | None, petitions) -> Q:
    """The tally rows of this slice, for these petitions (their organisation_id is read)."""
    if partner is None:
        return Q()
    hosted = [p.pk for p in petitions if p.organisation_id == partner.pk]
    return Q(partner_key=partner.pk) | Q(partner_key=0, petition_id__in=hosted)


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Period:
    label: str  # unique on the chart: "2026-12-01 14:00" for an hour, "2026-11-28" for a day
    start: datetime
    end: datetime
    signatures: int = 0
    total: int = 0  # confirmed so far, at the end of the period


def petition_over_time(*, petition: Petition, partner: Organisation | None = None, now: datetime | None = None) -> list[Period]:
    """Confirmed signatures per day, then per hour for the last HOURLY_HOURS, in local time, with
    the running total; from the first day with a signature (or the day it opened) to now."""
    now = timezone.localtime(now or timezone.now())
    # In UTC: adding hours to a local time would be wall-clock arithmetic across a DST change.
    hourly_from = _hour_floor(now.astimezone(UTC)) - timedelta(hours=HOURLY_HOURS - 1)
    per_hour = list(
        SignatureTally.objects.filter(slice_q(partner=partner, petitions=[petition]), petition=petition)
        .values_list("hour")
        .annotate(n=Sum("signatures"))
        .order_by("hour")
    )
    first_days = [timezone.localtime(h).date() for h, _ in per_hour[:1]]
    if petition.opened_at:
        first_days.append(timezone.localtime(petition.opened_at).date())
    start_day = min(first_days + [timezone.localtime(hourly_from).date()])
    periods: list[Period] = []
    day = start_day
    while True:
        start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
        end = min(timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time())), hourly_from)
        if start >= hourly_from:
            break
        periods.append(Period(label=day.isoformat(), start=start, end=end))
        day += timedelta(days=1)
    hour = hourly_from
    while hour <= now:
        local = timezone.localtime(hour)
        periods.append(Period(label=local.strftime("%Y-%m-%d %H:00"), start=hour, end=hour + timedelta(hours=1)))
        hour += timedelta(hours=1)
    index = 0
    for at, n in per_hour:
        while index < len(periods) - 1 and at >= periods[index].end:
            index += 1
        if periods and at >= periods[0].start:
            periods[index].signatures += n
        elif periods:
            periods[0].signatures += n  # before the first period shown: counted in it
    running = 0
    for period in periods:
        running += period.signatures
        period.total = running
    return periods


def period_of(periods: list[Period], moment: datetime) -> Period | None:
    """The period a moment falls in (a mailing's start, for its marker)."""
    return next((p for p in periods if p.start <= moment < p.end), None)


@dataclass
class PartnerFigures:
    organisation: Organisation | None  # None: through no partner
    signatures: int = 0
    new_supporters: int = 0
    opt_ins: int = 0  # boxes ticked for this organisation on confirmed signatures, by any route


def petition_by_partner(*, petition: Petition, partner: Organisation | None = None) -> list[PartnerFigures]:
    """One row per partner the signatures came through (and per active co-sponsor, even with
    none yet), the direct ones first as the host's; a partner's slice is its own row only."""
    rows = (
        SignatureTally.objects.filter(slice_q(partner=partner, petitions=[petition]), petition=petition)
        .values_list("partner_key", "new_supporter")
        .annotate(n=Sum("signatures"))
        .order_by()
    )
    opt_ins = dict(
        OptInTally.objects.filter(petition=petition)
        .values_list("organisation_key")
        .annotate(n=Sum("opt_ins"))
        .order_by()
    )
    figures: dict[int, PartnerFigures] = {}
    if partner is None:
        keys = [0, *Cosponsorship.objects.filter(petition=petition, active=True).values_list("organisation_id", flat=True)]
    else:
        keys = [0 if petition.organisation_id == partner.pk else partner.pk]
    for key in keys:
        figures[key] = PartnerFigures(organisation=None)
    for key, new, n in rows:
        key = 0 if partner is not None and petition.organisation_id == partner.pk else key
        item = figures.setdefault(key, PartnerFigures(organisation=None))
        item.signatures += n
        item.new_supporters += n if new else 0
    organisations = Organisation.objects.in_bulk([k for k in figures if k])
    for key, item in figures.items():
        item.organisation = organisations.get(key) if key else None
        # Through no partner is the host's own: its opt-ins are those to the petition's organisation.
        item.opt_ins = opt_ins.get(key or petition.organisation_id, 0)
    direct = figures.pop(0, None)
    others = sorted(figures.values(), key=lambda f: (-f.signatures, f.organisation.name if f.organisation else ""))
    return ([direct] if direct else []) + others


def petition_by_source(*, petition: Petition, partner: Organisation | None = None) -> list[tuple[str, int, int]]:
    """[(source code, signatures, new supporters)], largest first."""
    rows = (
        SignatureTally.objects.filter(slice_q(partner=partner, petitions=[petition]), petition=petition)
        .values_list("source", "new_supporter")
        .annotate(n=Sum("signatures"))
        .order_by()
    )
    figures: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for source, new, n in rows:
        figures[source][0] += n
        figures[source][1] += n if new else 0
    return sorted(((s, n, new) for s, (n, new) in figures.items() if n), key=lambda r: (-r[1], r[0]))


@dataclass
class Places:
    countries: list = field(default_factory=list)  # [(country code, signatures)], largest first
    areas: list = field(default_factory=list)  # [(postcode area, signatures)], UK areas, largest first
    no_area: int = 0  # UK signatures without an area


def petition_by_place(*, petition: Petition, partner: Organisation | None = None) -> Places:
    rows = (
        PlaceTally.objects.filter(slice_q(partner=partner, petitions=[petition]), petition=petition)
        .values_list("country", "postcode_area")
        .annotate(n=Sum("signatures"))
        .order_by()
    )
    countries: dict[str, int] = defaultdict(int)
    areas: dict[str, int] = defaultdict(int)
    places = Places()
    for country, area, n in rows:
        countries[country] += n
        if area:
            areas[area] += n
        elif country == "GB":
            places.no_area += n
    places.countries = sorted(((c, n) for c, n in countries.items() if n), key=lambda r: (-r[1], r[0]))
    places.areas = sorted(((a, n) for a, n in areas.items() if n), key=lambda r: (-r[1], r[0]))
    return places


@dataclass
class PetitionSummary:
    petition: Petition
    total: int = 0
    today: int = 0
    week: int = 0  # the last 7 days
    new_supporters: int = 0
    by_day: list = field(default_factory=list)  # [(date, signatures)] for the last SPARK_DAYS days, oldest first


def petitions_summary(*, petitions: list[Petition], partner: Organisation | None = None, now: datetime | None = None) -> list[PetitionSummary]:
    """Per petition: the confirmed total, today's, the last 7 days' and a day by day series for a
    sparkline. Two grouped queries however many petitions."""
    now = timezone.localtime(now or timezone.now())
    today = now.date()
    midnight = timezone.make_aware(datetime.combine(today, datetime.min.time()))
    spark_from = midnight - timedelta(days=SPARK_DAYS - 1)
    week_from = now - timedelta(days=7)
    summaries = {p.pk: PetitionSummary(petition=p) for p in petitions}
    if not petitions:
        return []
    rows = SignatureTally.objects.filter(slice_q(partner=partner, petitions=petitions), petition__in=petitions)
    for petition_id, new, n in rows.values_list("petition_id", "new_supporter").annotate(n=Sum("signatures")).order_by():
        summaries[petition_id].total += n
        summaries[petition_id].new_supporters += n if new else 0
    days: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    recent = rows.filter(hour__gte=min(spark_from, _hour_floor(week_from)))
    for petition_id, hour, n in recent.values_list("petition_id", "hour").annotate(n=Sum("signatures")).order_by():
        local = timezone.localtime(hour)
        summary = summaries[petition_id]
        if local >= midnight:
            summary.today += n
        if hour >= _hour_floor(week_from):
            summary.week += n
        if hour >= spark_from:
            days[petition_id][local.date()] += n
    for petition_id, summary in summaries.items():
        summary.by_day = [(today - timedelta(days=k), days[petition_id][today - timedelta(days=k)]) for k in range(SPARK_DAYS - 1, -1, -1)]
    return [summaries[p.pk] for p in petitions]


def opt_ins_recent(*, organisation: Organisation, petitions: list[Petition], now: datetime | None = None) -> list[tuple[Petition, int, int]]:
    """[(petition, boxes ticked for this organisation on confirmed signatures, of which in the last
    7 days)] for the petitions with any, largest first: a partner's overview."""
    now = now or timezone.now()
    week_from = _hour_floor(now - timedelta(days=7))
    rows = OptInTally.objects.filter(organisation_key=organisation.pk, petition__in=petitions)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for petition_id, hour, n in rows.values_list("petition_id", "hour").annotate(n=Sum("opt_ins")).order_by():
        totals[petition_id][0] += n
        totals[petition_id][1] += n if hour >= week_from else 0
    by_pk = {p.pk: p for p in petitions}
    return sorted(((by_pk[k], t, w) for k, (t, w) in totals.items() if t), key=lambda r: (-r[1], r[0].title))
