"""The workspace's front page: each open petition with its count, today's and this week's
signatures and a sparkline; for the host, mailings sending now, held signatures waiting and the
latest sign-ups; for a partner, the opt-ins to it (what the partner dashboard showed).

Fast during a surge: the petition figures come from the tallies (petitions.figures), held
signatures from the (petition, status) index, and the rest are a few rows each.
"""

from django.db.models import Count
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from engage.models import Signup, Supporter
from engage.selectors import partner_opt_ins_current
from mailings.models import Mailing
from mailings.selectors.mailings import mailing_progress
from organise.access import Need, workspace_view
from organise.tables import FigureTable, figure_table_csv
from organise.views.common import render_workspace
from petitions.figures import opt_ins_recent, petitions_summary
from petitions.models import Petition, Signature

RECENT = 10


def overview_tables(*, workspace, summaries) -> tuple[FigureTable, list[FigureTable]]:
    host = workspace.is_host
    table = FigureTable(
        name="open-petitions",
        caption=_("Open petitions: confirmed signatures") if host else _("Open petitions: confirmed signatures through you"),
        columns=[_("Petition"), _("Confirmed"), _("Today"), _("Last 7 days")],
        rows=[(s.petition.title, s.total, s.today, s.week) for s in summaries],
        empty=_("No open petitions."),
    )
    sparks = [
        FigureTable(
            name=f"days-{s.petition.slug}",
            caption=_("%(title)s: confirmed signatures per day, the last 14 days") % {"title": s.petition.title},
            columns=[_("Day"), _("Confirmed signatures")],
            rows=[(day.isoformat(), n) for day, n in s.by_day],
            chart="sparkline",
        )
        for s in summaries
    ]
    return table, sparks


@require_GET
@workspace_view(Need.FIGURES)
def overview(request, workspace):
    every = list(workspace.petitions().order_by("-created_at"))
    petitions = [p for p in every if p.status == Petition.Status.OPEN]
    summaries = petitions_summary(petitions=petitions, partner=workspace.signature_partner())
    table, sparks = overview_tables(workspace=workspace, summaries=summaries)
    response = figure_table_csv(request, [table, *sparks], filename_prefix=workspace.organisation.slug)
    if response is not None:
        return response
    context = {"summaries": list(zip(summaries, sparks, strict=True)), "table": table}
    if workspace.allows(Need.MAIL):
        sending = workspace.mailings().filter(status=Mailing.Status.SENDING).order_by("started_at")[:RECENT]
        context["sending"] = [(mailing, mailing_progress(mailing=mailing)) for mailing in sending]
    if workspace.allows(Need.REVIEW):
        # Held rows are few; the (petition, status) index finds them without reading the others.
        held = dict(
            workspace.signatures().filter(status=Signature.Status.HELD)
            .values_list("petition_id").annotate(n=Count("id")).order_by().values_list("petition_id", "n")
        )
        titles = workspace.petitions().filter(pk__in=held).order_by("title")
        context["held"] = [(petition, held[petition.pk]) for petition in titles]
    if workspace.is_host:
        # Newest first through indexes: (status, created_at) for sign-ups, the primary key for people.
        context["signups"] = (
            Signup.objects.filter(status=Signup.Status.CONFIRMED).select_related("supporter", "organisation")
            .order_by("-created_at")[:RECENT]
        )
        context["newcomers"] = Supporter.objects.order_by("-pk")[:RECENT]
    else:
        organisation = workspace.organisation
        context["opted_in_total"] = partner_opt_ins_current(organisation=organisation).count()
        context["opt_ins"] = opt_ins_recent(organisation=organisation, petitions=every)
        # Only people who still opt in: the partner may see no one else (Workspace.supporters()).
        context["recent_opt_ins"] = partner_opt_ins_current(organisation=organisation).order_by("-created_at", "-id")[:RECENT]
    return render_workspace(request, workspace, "organise/overview.html", context)
