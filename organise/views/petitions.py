"""Petitions in the workspace: the list with their counts, and a petition's page with its figures
(over time, by place, partner and source), its hand-in export and its embed codes.

Every figure comes from the tallies (petitions.figures), sliced to the workspace's partner when
a partner looks (Workspace.signature_partner()), so a page never reads the signatures table.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django_countries import countries

from engage.audit import audit_record
from organise.access import Need, workspace_view
from organise.tables import FigureTable, figure_table_csv
from organise.views.common import render_workspace
from petitions.embed import embed_snippet
from petitions.exports import signatures_handin_count, signatures_handin_csv
from petitions.figures import (
    period_of,
    petition_by_partner,
    petition_by_place,
    petition_by_source,
    petition_over_time,
    petitions_summary,
)
from petitions.models import Cosponsorship
from petitions.services.updates import petition_updates_public, updates_recipients


@require_GET
@workspace_view(Need.FIGURES)
def petition_list(request, workspace):
    petitions = list(workspace.petitions().order_by("-created_at"))
    summaries = petitions_summary(petitions=petitions, partner=workspace.signature_partner())
    table = FigureTable(
        name="petitions",
        caption=_("Confirmed signatures by petition") if workspace.is_host else _("Confirmed signatures through you by petition"),
        columns=[_("Petition"), _("Status"), _("Confirmed"), _("Today"), _("Last 7 days"), _("New supporters")],
        rows=[(s.petition.title, s.petition.get_status_display(), s.total, s.today, s.week, s.new_supporters) for s in summaries],
        empty=_("No petitions yet."),
    )
    response = figure_table_csv(request, [table], filename_prefix=workspace.organisation.slug)
    if response is not None:
        return response
    return render_workspace(request, workspace, "organise/petitions/list.html", {"summaries": summaries, "table": table})


def _country_label(code: str) -> str:
    if not code:
        return _("(not given)")
    return f"{countries.name(code) or code} ({code})"


def petition_tables(*, workspace, petition) -> list[FigureTable]:
    partner = workspace.signature_partner()
    periods = petition_over_time(petition=petition, partner=partner)
    markers = []
    started = workspace.mailings().filter(started_at__isnull=False)
    if periods:
        started = started.filter(started_at__gte=periods[0].start).order_by("started_at")
    for mailing in started.only("name", "started_at")[:20]:
        period = period_of(periods, mailing.started_at)
        if period is not None:
            markers.append({"label": mailing.name, "at": period.label})
    host = workspace.is_host

    def caption(for_host, for_partner):
        return for_host if host else for_partner

    over_time_rows = [(p.label, p.total) for p in periods]
    per_period_rows = [(p.label, p.signatures) for p in periods]
    places = petition_by_place(petition=petition, partner=partner)
    partners = petition_by_partner(petition=petition, partner=partner)
    direct = _("Direct: the petition's own page and the host's embed")
    return [
        FigureTable(
            name="total",
            caption=caption(_("Confirmed signatures so far, with the goal"), _("Confirmed signatures through you so far, with the goal")),
            columns=[_("Day or hour"), _("Confirmed so far")],
            rows=over_time_rows,
            chart="line",
            chart_lines=[{"label": _("Goal"), "value": petition.goal}],
            chart_markers=markers,
        ),
        FigureTable(
            name="over-time",
            caption=caption(
                _("Confirmed signatures per day, and per hour for the last 48 hours"),
                _("Confirmed signatures through you per day, and per hour for the last 48 hours"),
            ),
            columns=[_("Day or hour"), _("Confirmed signatures")],
            rows=per_period_rows,
            chart="bar",
            chart_markers=markers,
        ),
        FigureTable(
            name="by-country",
            caption=caption(_("Confirmed signatures by country"), _("Confirmed signatures through you by country")),
            columns=[_("Country"), _("Confirmed signatures")],
            rows=[(_country_label(code), n) for code, n in places.countries],
            chart="bar-horizontal",
            empty=_("No confirmed signatures yet."),
        ),
        FigureTable(
            name="by-area",
            caption=caption(
                _("Confirmed signatures by UK postcode area, most first"),
                _("Confirmed signatures through you by UK postcode area, most first"),
            ),
            columns=[_("Postcode area"), _("Confirmed signatures")],
            rows=list(places.areas),
            chart="bar-horizontal",
            empty=_("No confirmed signatures with a UK postcode yet."),
        ),
        FigureTable(
            name="by-partner",
            caption=caption(
                _("By partner: confirmed signatures through each, the new supporters they brought, and the opt-in "
                  "boxes ticked for that organisation (on confirmed signatures, through any partner)"),
                _("Through you: confirmed signatures, the new supporters you brought, and the opt-in boxes ticked "
                  "for you (on confirmed signatures, through any partner)"),
            ),
            columns=[_("Partner"), _("Confirmed signatures"), _("New supporters"), _("Opt-ins to that organisation")],
            rows=[(p.organisation.name if p.organisation else direct, p.signatures, p.new_supporters, p.opt_ins) for p in partners],
            chart="bar",
        ),
        FigureTable(
            name="by-source",
            caption=caption(_("Confirmed signatures by source code"), _("Confirmed signatures through you by source code")),
            columns=[_("Source code"), _("Confirmed signatures"), _("New supporters")],
            rows=[(source or _("(none)"), n, new) for source, n, new in petition_by_source(petition=petition, partner=partner)],
            chart="bar-horizontal",
            empty=_("No confirmed signatures yet."),
        ),
    ]


def petition_embeds(*, workspace, petition) -> list[tuple[str, str]]:
    """[(whose, code)]: the host sees its own and every active co-sponsor's; a partner its own."""
    if workspace.is_host:
        codes = [(_("Your own sites (the host's allowed origins)"), embed_snippet(petition=petition))]
        cosponsors = Cosponsorship.objects.filter(petition=petition, active=True).select_related("organisation")
        return codes + [(c.organisation.name, embed_snippet(petition=petition, partner=c.organisation)) for c in cosponsors.order_by("organisation__name")]
    organisation = workspace.organisation
    if petition.organisation_id == organisation.pk:
        return [(organisation.name, embed_snippet(petition=petition))]
    if Cosponsorship.objects.filter(petition=petition, organisation=organisation, active=True).exists():
        return [(organisation.name, embed_snippet(petition=petition, partner=organisation))]
    return []


@require_GET
@workspace_view(Need.FIGURES)
def petition_detail(request, workspace, slug):
    petition = get_object_or_404(workspace.petitions().select_related("organisation"), slug=slug)
    tables = petition_tables(workspace=workspace, petition=petition)
    response = figure_table_csv(request, tables, filename_prefix=petition.slug)
    if response is not None:
        return response
    total = tables[0].rows[-1][1] if tables[0].rows else 0
    context = {
        "petition": petition,
        "tables": tables,
        "total": total,
        "embeds": petition_embeds(workspace=workspace, petition=petition),
        "can_export": workspace.is_host and workspace.allows(Need.PEOPLE),
        "can_publish": workspace.allows(Need.PUBLISH),
    }
    if context["can_publish"]:
        context["updates_count"] = petition_updates_public(petition=petition).count()
        context["updates_subscribers"] = updates_recipients(petition=petition).count()
    return render_workspace(request, workspace, "organise/petitions/detail.html", context)


@require_GET
@workspace_view(Need.PEOPLE)
def petition_handin(request, workspace, slug):
    """The confirmed signatures as CSV for the hand-in: names and places for the target, the
    admin's export (petitions.exports). The host's: a partner's slice is not the petition."""
    petition = get_object_or_404(workspace.petitions(), slug=slug)
    if not workspace.is_host:
        raise PermissionDenied
    with transaction.atomic():
        audit_record(request_or_actor=request, organisation=workspace.organisation, action="export.handin",
                     target=petition, details={"rows": signatures_handin_count(petitions=[petition])})
    response = StreamingHttpResponse(signatures_handin_csv(petitions=[petition]), content_type="text/csv; charset=utf-8")
    filename = slugify(f"{petition.slug}-signatures-{timezone.now():%Y%m%d-%H%M}")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
