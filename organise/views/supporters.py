"""Supporters in the workspace: the search, a person's page, their data and their erasure.

The host's people see everyone and everything about them. A partner's people see only the
supporters who currently opt in to that partner (Workspace.supporters), and of each only what
concerns that partner: their details, their consent history with it, its own lists and the
signatures through it; never their other organisations' consents, lists or emails.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from engage.audit import audit_record
from engage.csvfiles import csv_stream
from engage.models import Consent, Subscription, SubscriptionEvent
from engage.normalise import validate_text
from engage.query_params import parse_whole_number
from engage.selectors import (
    SEARCH_FIELDS,
    SEARCH_LIMIT,
    partner_opt_ins_current,
    supporter_export_json,
    supporters_search,
    supporters_search_all,
)
from engage.services.erasure import supporter_erase
from mailings.models import Delivery, OutboundEmail
from organise.access import Need, Workspace, workspace_view
from organise.views.common import render_workspace
from petitions.views.partner_api import CSV_HEADER as PARTNER_CSV_HEADER

PAGE_SIZE = 50
QUERY_MAX_LENGTH = 254  # an address's limit: nothing longer matches anyone

HOST_CSV_HEADER = ["email", "first_name", "last_name", "country", "postcode", "created_at"]


class BadSearch(Exception):
    pass


def _search_params(request) -> tuple[str, str, int]:
    """(query, field, page) from the query string, or BadSearch with a message for the organiser."""
    query = request.GET.get("q", "")
    field = request.GET.get("field", "")
    if len(query) > QUERY_MAX_LENGTH:
        raise BadSearch(_("Search for at most %(limit)d characters.") % {"limit": QUERY_MAX_LENGTH})
    try:
        validate_text(query)
    except ValidationError as error:
        raise BadSearch(error.messages[0]) from None
    if field and field not in SEARCH_FIELDS:
        raise BadSearch(_("Choose to search by name, email address or postcode."))
    page = request.GET.get("page", "1")
    number = parse_whole_number(page, minimum=1, maximum=SEARCH_LIMIT)
    if number is None:
        raise BadSearch(_("The page number must be a whole number from 1."))
    return query.strip(), field, number


def _field_choices():
    return [("", _("Name, email address or postcode")), ("name", _("Name")), ("email", _("Email address")),
            ("postcode", _("Postcode"))]


@require_GET
@workspace_view(Need.PEOPLE)
def supporter_list(request, workspace):
    context = {"field_choices": _field_choices(), "query": request.GET.get("q", "")[:QUERY_MAX_LENGTH],
               "field": request.GET.get("field", ""), "search_limit": SEARCH_LIMIT}
    try:
        query, field, page_number = _search_params(request)
    except BadSearch as error:
        context["error"] = str(error)
        return render_workspace(request, workspace, "organise/supporters/list.html", context, status=400)
    found = supporters_search(supporters=workspace.supporters(), query=query, field=field)
    paginator = Paginator(found.ids, PAGE_SIZE)
    page = paginator.get_page(page_number)
    people = {s.pk: s for s in workspace.supporters().filter(pk__in=list(page.object_list))}
    context.update(
        query=query, field=field, searched_field=found.field, more=found.more, cut=found.cut, total=len(found.ids), page=page,
        supporters=[people[pk] for pk in page.object_list if pk in people],
        page_query=_page_query(query, field),
    )
    return render_workspace(request, workspace, "organise/supporters/list.html", context)


def _page_query(query: str, field: str) -> str:
    return urlencode({key: value for key, value in (("q", query), ("field", field)) if value})


@require_GET
@workspace_view(Need.PEOPLE)
def supporters_csv(request, workspace):
    """The current search's matches as CSV (all of them, not only the first SEARCH_LIMIT). The
    host: the people. A partner: its opted-in people among them, in its API's columns."""
    try:
        query, field, _page = _search_params(request)
    except BadSearch as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    matches = supporters_search_all(supporters=workspace.supporters(), query=query, field=field)
    if workspace.is_host:
        count = matches.count()
        rows = (
            [s.email, s.first_name, s.last_name, str(s.country), s.postcode, s.created_at.isoformat()]
            for s in matches.order_by("pk").iterator(chunk_size=2000)
        )
        lines = csv_stream(HOST_CSV_HEADER, rows)
    else:
        opt_ins = partner_opt_ins_current(organisation=workspace.organisation)
        if query:
            opt_ins = opt_ins.filter(supporter__in=matches.values("pk"))
        count = opt_ins.count()
        lines = csv_stream(PARTNER_CSV_HEADER, (_partner_row(row) for row in opt_ins.iterator(chunk_size=2000)))
    with transaction.atomic():
        # Counted with the stream's own query just before it runs.
        audit_record(request_or_actor=request, organisation=workspace.organisation, action="export.supporters",
                     details={"filter": {"q": _query_logged(query), "field": field}, "rows": count})
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="supporters-{workspace.organisation.slug}-{timezone.now():%Y%m%d}.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _query_logged(query: str) -> str:
    # The log keeps filters but never an address (docs/design.md, "Organiser accounts").
    return "(an email address)" if "@" in query else query


def _partner_row(row: Consent) -> list:
    # The partner API's CSV columns (petitions.views.partner_api), from the same latest opt-in row.
    supporter = row.supporter
    values = {
        "email": supporter.email, "first_name": supporter.first_name, "last_name": supporter.last_name,
        "country": str(supporter.country), "postcode": supporter.postcode, "opted_in_at": row.created_at.isoformat(),
        "wording": row.wording, "source": row.source,
    }
    return [values[name] for name in PARTNER_CSV_HEADER]


def _person(workspace: Workspace, supporter) -> dict:
    """What this workspace may see of one person, each part already scoped."""
    org = workspace.organisation
    consents = Consent.objects.filter(supporter=supporter).select_related("organisation").order_by("created_at", "id")
    subscriptions = Subscription.objects.filter(supporter=supporter).select_related("mailing_list__organisation")
    events = SubscriptionEvent.objects.filter(supporter=supporter).select_related("mailing_list")
    signatures = workspace.signatures().filter(supporter=supporter).select_related("petition", "partner")
    if not workspace.is_host:
        consents = consents.filter(organisation=org)
        subscriptions = subscriptions.filter(mailing_list__organisation=org)
        events = events.filter(mailing_list__organisation=org)
    person = {
        "consents": list(consents),
        "subscriptions": list(subscriptions.order_by("mailing_list__name", "pk")),
        "subscription_events": list(events.order_by("created_at", "id")),
        "signatures": list(signatures.order_by("created_at", "id")),
        "deliveries": [],
        "emails": [],
    }
    if workspace.is_host:  # the emails are the host's: partners send none from Muster
        person["deliveries"] = list(
            Delivery.objects.filter(supporter=supporter).select_related("mailing__message").order_by("-id")
        )
        # By the supporter's foreign key (indexed); a match on the address would read the whole table.
        person["emails"] = list(
            OutboundEmail.objects.filter(supporter=supporter)
            .only("kind", "subject", "status", "created_at", "sent_at")
            .order_by("-created_at", "-id")
        )
    return person


@require_GET
@workspace_view(Need.PEOPLE)
def supporter_detail(request, workspace, pk):
    supporter = get_object_or_404(workspace.supporters(), pk=pk)
    context = {"supporter": supporter, "can_erase": workspace.allows(Need.ERASE), **_person(workspace, supporter)}
    return render_workspace(request, workspace, "organise/supporters/detail.html", context)


@require_GET
@workspace_view(Need.ERASE)
def supporter_data_export(request, workspace, pk):
    """Everything held about the person, from every app: the same JSON as the copy they can ask
    for themselves (engage.selectors.supporter_export_json), downloaded at once."""
    supporter = get_object_or_404(workspace.supporters(), pk=pk)
    with transaction.atomic():
        data = supporter_export_json(supporter=supporter)
        # The person by id only: the log should not repeat their address.
        audit_record(request_or_actor=request, organisation=workspace.organisation, action="export.person_data",
                     target=("engage.supporter", supporter.pk, ""))
    response = HttpResponse(data, content_type="application/json; charset=utf-8")
    # The file's name says nothing about whose data it is.
    response["Content-Disposition"] = f'attachment; filename="personal-data-{supporter.pk}-{timezone.now():%Y%m%d}.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
@workspace_view(Need.ERASE)
def supporter_erase_confirm(request, workspace, pk):
    """GET: what erasing will do, and a button. POST (the box ticked): erase them."""
    supporter = get_object_or_404(workspace.supporters(), pk=pk)
    context = {"supporter": supporter}
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            context["error"] = _("Tick the box to confirm that this person is to be erased.")
            return render_workspace(request, workspace, "organise/supporters/erase.html", context, status=400)
        supporter_erase(supporter=supporter, request_or_actor=request, organisation=workspace.organisation)
        messages.success(
            request,
            _("The supporter has been erased. Their address is kept only as a hash on the suppression list, so "
              "nothing will bring it back; their signatures stay, anonymous, in the counts."),
        )
        return redirect("organise:supporters", org=workspace.organisation.slug)
    return render_workspace(request, workspace, "organise/supporters/erase.html", context)
