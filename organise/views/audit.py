"""The coalition's audit log, for the host's admins: filtered by person, kind and date, and as
CSV (docs/design.md, "Organiser accounts")."""

from datetime import timedelta

from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from engage.audit import audit_record
from engage.csvfiles import csv_stream
from engage.models import AuditEvent
from engage.normalise import validate_text
from engage.query_params import parse_moment
from organise.access import Need, workspace_view
from organise.views.common import render_workspace

PAGE_ROWS = 200

# The kinds of row the log holds so far, for the filter's menu. Another kind still shows (its
# code as its name) and can be filtered by its code.
KINDS = {
    "login.succeeded": gettext_lazy("Logged in"),
    "login.failed": gettext_lazy("Login failed"),
    "login.locked_out": gettext_lazy("Login refused: locked out"),
    "login.lock_lapsed": gettext_lazy("Lock-out over"),
    "login.unlocked": gettext_lazy("Lock-out released"),
    "mfa.added": gettext_lazy("Second factor set up"),
    "mfa.removed": gettext_lazy("Second factor removed"),
    "password.reset": gettext_lazy("Password reset"),
    "role.changed": gettext_lazy("Role changed"),
    "member.removed": gettext_lazy("Removed from an organisation"),
    "member.added": gettext_lazy("Added to an organisation"),
    "invitation.created": gettext_lazy("Invitation sent"),
    "invitation.resent": gettext_lazy("Invitation sent again"),
    "invitation.revoked": gettext_lazy("Invitation revoked"),
    "invitation.accepted": gettext_lazy("Invitation accepted"),
    "api_key.created": gettext_lazy("API key created"),
    "api_key.revoked": gettext_lazy("API key revoked"),
    "audit.exported": gettext_lazy("Audit log exported"),
    "export.supporters": gettext_lazy("Supporters exported"),
    "export.subscribers": gettext_lazy("A list's subscribers exported"),
    "export.person_data": gettext_lazy("A person's data downloaded"),
    "export.handin": gettext_lazy("Signatures exported for a hand-in"),
    "supporter.erased": gettext_lazy("Supporter erased"),
    "import.queued": gettext_lazy("Import started"),
    "import.finished": gettext_lazy("Import finished"),
    "mailing.test_sent": gettext_lazy("Test email sent"),
    "mailing.sent": gettext_lazy("Mailing sent"),
    "mailing.scheduled": gettext_lazy("Mailing scheduled"),
    "mailing.unscheduled": gettext_lazy("Mailing unscheduled"),
    "mailing.paused": gettext_lazy("Mailing paused"),
    "mailing.resumed": gettext_lazy("Mailing resumed"),
    "mailing.cancelled": gettext_lazy("Mailing cancelled"),
    "mailing.unknown_resent": gettext_lazy("Unknown deliveries sent again"),
    "mailing.unknown_dropped": gettext_lazy("Unknown deliveries dropped"),
    "petition.opened": gettext_lazy("Petition published"),
    "petition.closed": gettext_lazy("Petition closed"),
    "petition.handed_in": gettext_lazy("Petition handed in"),
    "petition_update.published": gettext_lazy("Petition update published"),
    "petition_update.withdrawn": gettext_lazy("Petition update withdrawn"),
    "petition_update.restored": gettext_lazy("Petition update restored"),
    "petition_update.emailed": gettext_lazy("Petition update emailed"),
    "signatures.released": gettext_lazy("Held signatures released"),
    "signatures.invalidated": gettext_lazy("Signatures invalidated"),
}


def _filters(request) -> tuple[dict, list[str]]:
    """The filters asked for, and what was wrong with them (each said on the page)."""
    values, problems = {}, []
    for name in ("person", "kind", "from", "to"):
        value = request.GET.get(name, "").strip()
        try:
            validate_text(value)
        except Exception:
            problems.append(_("The %(name)s filter holds characters that are not text.") % {"name": name})
            continue
        values[name] = value[:254]
    for name, label in (("from", _("From")), ("to", _("To"))):
        if values.get(name) and parse_moment(values[name]) is None:
            problems.append(_("“%(label)s” must be a date like 2026-03-31.") % {"label": label})
            values[name + "_invalid"] = True
    return values, problems


def _rows(values: dict):
    rows = AuditEvent.objects.select_related("organisation").order_by("-at", "-id")
    if values.get("person"):
        rows = rows.filter(actor_name__iexact=values["person"])
    if values.get("kind"):
        rows = rows.filter(action=values["kind"])
    if values.get("from") and not values.get("from_invalid"):
        rows = rows.filter(at__gte=parse_moment(values["from"]))
    if values.get("to") and not values.get("to_invalid"):
        rows = rows.filter(at__lt=parse_moment(values["to"]) + timedelta(days=1))
    return rows


def _csv(request, workspace, rows, values):
    with transaction.atomic():
        audit_record(request_or_actor=request, organisation=workspace.organisation, action="audit.exported",
                     details={"filter": {k: v for k, v in values.items() if v and k in ("person", "kind", "from", "to")}})
    header = ["at", "actor", "organisation", "action", "target_type", "target_id", "target", "details", "ip_hash"]
    lines = ((e.at.isoformat(), e.actor_name, e.organisation.slug if e.organisation else "", e.action, e.target_type,
              e.target_id, e.target_name, e.details, e.ip_hash) for e in rows.iterator(chunk_size=2000))
    response = StreamingHttpResponse(csv_stream(header, lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


@require_GET
@workspace_view(Need.AUDIT)
def audit_log(request, workspace):
    values, problems = _filters(request)
    rows = _rows(values)
    if request.GET.get("csv") and not problems:
        return _csv(request, workspace, rows, values)
    events = list(rows[: PAGE_ROWS + 1])
    people = AuditEvent.objects.exclude(actor_name="").values_list("actor_name", flat=True).distinct().order_by("actor_name")[:500]
    return render_workspace(request, workspace, "organise/audit/log.html", {
        "events": [(event, KINDS.get(event.action, event.action)) for event in events[:PAGE_ROWS]],
        "more": len(events) > PAGE_ROWS, "page_rows": PAGE_ROWS, "values": values, "problems": problems,
        "kinds": sorted(KINDS.items(), key=lambda item: str(item[1])), "people": list(people),
        "csv_query": request.GET.urlencode(),
    }, status=400 if problems else 200)
