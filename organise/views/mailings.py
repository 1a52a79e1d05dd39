"""Mailings in the workspace, step by step (docs/design.md, "Mail"): the message with its live
preview and a test send, the audience and its count, send now or schedule for the exact number
of people, then the progress while it goes and the results afterwards.

Views stay thin: writes are mailings.services.compose, reads mailings.selectors.mailings, and
the preview is message_preview, the renderer the send itself uses.
"""

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engage.forms import PublicForm
from engage.json_body import JsonBodyError, json_body_parse
from engage.models import MailingList
from engage.normalise import validate_header_text
from engage.query_params import parse_moment, parse_whole_number
from mailings.models import Mailing, Message, Sender
from mailings.rendering import RECIPIENT_FIELDS, MergeFieldError, merge_fields_check
from mailings.selectors.mailings import (
    HOURLY_SERIES,
    audience_member,
    audience_search,
    mailing_hourly,
    mailing_links_clicked,
    mailing_pace,
    mailing_problems,
    mailing_progress,
    mailing_starting,
    message_preview,
    segment_count,
)
from mailings.selectors.segments import SegmentError
from mailings.services import compose
from mailings.services.sending import MailingStateError
from organise.access import Need, workspace_view
from organise.tables import FigureTable, figure_table_csv
from organise.views.common import render_workspace

# The states in which the page keeps watching the mailing (and its script keeps polling).
LIVE = (Mailing.Status.SCHEDULED, Mailing.Status.SENDING, Mailing.Status.PAUSED)
FINISHED = (Mailing.Status.SENT, Mailing.Status.CANCELLED)
PREVIEW_MAX_BYTES = 256 * 1024  # a long mailing is a few kilobytes of Markdown
SEARCH_RESULTS = 10


def _see_other(url: str) -> HttpResponseRedirect:
    """After a POST: the page to look at next, fetched with a GET (303)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _people(count: int) -> str:
    return ngettext("%(count)s person", "%(count)s people", count) % {"count": number_format(count, force_grouping=True)}


def _mailing(workspace, pk: int) -> Mailing:
    return get_object_or_404(
        workspace.mailings().select_related("message__sender__organisation", "segment", "mailing_list"), pk=pk
    )


def _mailing_url(workspace, mailing: Mailing, name: str = "organise:mailing") -> str:
    return reverse(name, kwargs={"org": workspace.organisation.slug, "pk": mailing.pk})


def _editable(mailing: Mailing) -> bool:
    """Whether the message and audience may still change: not once the start is due or done.
    A message another started mailing also uses stays as that mailing sent it."""
    if mailing.status not in (Mailing.Status.DRAFT, Mailing.Status.SCHEDULED) or mailing_starting(mailing):
        return False
    return not (
        Mailing.objects.filter(message_id=mailing.message_id).exclude(pk=mailing.pk)
        .exclude(status__in=[Mailing.Status.DRAFT, Mailing.Status.SCHEDULED]).exists()
    )


def _senders(workspace, current: Sender | None = None):
    return Sender.objects.filter(Q(organisation=workspace.organisation) | Q(pk=getattr(current, "pk", None)))


def _lists(mailing_or_org, current: MailingList | None = None):
    organisation = mailing_or_org.organisation if isinstance(mailing_or_org, Mailing) else mailing_or_org
    return MailingList.objects.filter(Q(organisation=organisation) | Q(pk=getattr(current, "pk", None)))


def _count(mailing: Mailing, *, segment=None, mailing_list=None, use_given=False) -> dict:
    """{"matching", "eligible"} for the mailing's audience (or the one given), or {"error"}."""
    segment = segment if use_given else mailing.segment
    mailing_list = mailing_list if use_given else mailing.mailing_list
    try:
        return segment_count(definition=segment.definition, organisation=mailing.organisation, mailing_list=mailing_list)
    except SegmentError as error:
        return {"error": _("The segment cannot be used: %(error)s") % {"error": error}}


# --- Forms -----------------------------------------------------------------------------------


class IdChoiceField(forms.ModelChoiceField):
    """A choice of row by id: what is not an id that can exist is refused before any query (a
    60-digit number overflows SQLite's integer)."""

    def to_python(self, value):
        if value not in self.empty_values and parse_whole_number(str(value), minimum=1) is None:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class BasisField(IdChoiceField):
    """The consent basis: a list, or (empty) the organisation itself."""

    widget = forms.RadioSelect

    def label_from_instance(self, obj):
        return _("On the list “%(list)s”: the people subscribed to it") % {"list": obj.name}


class NewMailingForm(PublicForm):
    name = forms.CharField(label=gettext_lazy("Name (for organisers only)"), max_length=200)
    sender = IdChoiceField(label=gettext_lazy("From"), queryset=Sender.objects.none(), empty_label=None)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, validators=[validate_header_text])
    segment = IdChoiceField(label=gettext_lazy("Segment"), queryset=None, empty_label=None)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sender"].queryset = _senders(workspace)
        self.fields["segment"].queryset = workspace.segments().order_by("name")


class MessageForm(PublicForm):
    sender = IdChoiceField(label=gettext_lazy("From"), queryset=Sender.objects.none(), empty_label=None)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, validators=[validate_header_text])
    preheader = forms.CharField(
        label=gettext_lazy("Preheader"), max_length=200, required=False, validators=[validate_header_text],
        help_text=gettext_lazy("The line inboxes show after the subject."),
    )
    body = forms.CharField(
        label=gettext_lazy("Message (Markdown)"), max_length=100_000, widget=forms.Textarea(attrs={"rows": 20}),
        help_text=gettext_lazy("**bold**, *italic*, [a link](https://…), a blank line between paragraphs, "
                               "# for a heading. Merge fields such as {{ first_name }} are filled in for each person."),
    )

    def __init__(self, *args, mailing: Mailing, workspace, body_required=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.merge_values = mailing.message.merge_values or {}
        self.fields["sender"].queryset = _senders(workspace, mailing.message.sender)
        self.fields["body"].required = body_required

    def clean(self):
        cleaned = super().clean()
        text = "\n".join(cleaned.get(name) or "" for name in ("subject", "preheader", "body"))
        try:
            merge_fields_check(text=text, merge_values=self.merge_values)
        except MergeFieldError as error:
            self.add_error("body", str(error))
        return cleaned


class AudienceForm(PublicForm):
    segment = IdChoiceField(label=gettext_lazy("Segment"), queryset=None, empty_label=None)
    mailing_list = BasisField(label=gettext_lazy("Who may be sent it"), queryset=None, required=False)

    def __init__(self, *args, mailing: Mailing, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = workspace.segments().order_by("name")
        self.fields["mailing_list"].queryset = _lists(mailing, mailing.mailing_list).order_by("name")
        self.fields["mailing_list"].empty_label = _(
            "As %(organisation)s: the people whose latest consent to it is an opt-in"
        ) % {"organisation": mailing.organisation.name}


def _merge_fields(mailing: Mailing) -> list[tuple[str, str]]:
    """(tag, label) for the picker: the per-recipient fields, then the message's own values."""
    labels = {
        "first_name": _("First name"), "last_name": _("Last name"),
        "preferences_url": _("Link to their email preferences"), "unsubscribe_url": _("Unsubscribe link"),
    }
    fields = [
        ('{{ first_name|default:"friend" }}', _("First name, or “friend” when there is none")),
        *((f"{{{{ {name} }}}}", labels.get(name, name)) for name in RECIPIENT_FIELDS),
    ]
    return fields + [(f"{{{{ {name} }}}}", name) for name in sorted(mailing.message.merge_values or {})]


# --- The list and a new mailing ----------------------------------------------------------------


@require_GET
@workspace_view(Need.MAIL)
def mailing_list(request, workspace):
    mailings = list(
        workspace.mailings().select_related("segment", "mailing_list", "message").order_by("-created_at")
    )
    groups = [
        ("drafts", _("Drafts"), [m for m in mailings if m.status == Mailing.Status.DRAFT]),
        ("scheduled", _("Scheduled"), [m for m in mailings if m.status == Mailing.Status.SCHEDULED]),
        ("sending", _("Sending"), [m for m in mailings if m.status in (Mailing.Status.SENDING, Mailing.Status.PAUSED)]),
        ("sent", _("Sent"), [m for m in mailings if m.status in FINISHED]),
    ]
    for _key, _label, rows in groups:
        for mailing in rows:
            if mailing.status in (Mailing.Status.SENDING, Mailing.Status.PAUSED):
                mailing.progress = mailing_progress(mailing=mailing)
    return render_workspace(request, workspace, "organise/mailings/list.html", {"groups": groups})


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def mailing_new(request, workspace):
    form = NewMailingForm(request.POST if request.method == "POST" else None, workspace=workspace)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            mailing = compose.mailing_create(
                name=data["name"], sender=data["sender"], subject=data["subject"], segment=data["segment"],
                created_by=request.user,
            )
            messages.success(request, _("Draft created. Write the message, then choose who gets it."))
            return _see_other(_mailing_url(workspace, mailing, "organise:mailing_message"))
        status = 400
    return render_workspace(request, workspace, "organise/mailings/new.html", {"form": form}, status=status)


# --- Step 1: the message -------------------------------------------------------------------------


def _as_supporter(mailing: Mailing, raw) -> tuple[object, str]:
    """The recipient to preview as (a supporter id among the audience), and what to say if the
    id names nobody who would receive it."""
    supporter_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else parse_whole_number(
        raw if isinstance(raw, str) else "", minimum=1
    )
    if not supporter_id or not 0 < supporter_id < 2**63:
        return None, ""
    try:
        supporter = audience_member(
            definition=mailing.segment.definition, organisation=mailing.organisation,
            mailing_list=mailing.mailing_list, supporter_id=supporter_id,
        )
    except SegmentError:
        supporter = None
    if supporter is None:
        return None, _("That person is not among this mailing's recipients: showing a recipient with no name.")
    return supporter, ""


def _render(mailing: Mailing, *, sender, subject, preheader, body, supporter):
    """The message as typed, rendered as the send renders it (message_preview), not stored."""
    draft = Message(
        name=mailing.message.name, sender=sender, subject=subject, preheader=preheader, body=body,
        reply_to=mailing.message.reply_to, merge_values=mailing.message.merge_values,
    )
    return message_preview(message=draft, supporter=supporter, mailing_list=mailing.mailing_list)


def _message_page(request, workspace, mailing, form, *, status=200, problem=""):
    as_supporter, as_problem = _as_supporter(mailing, request.POST.get("as") or request.GET.get("as"))
    query = (request.GET.get("q") or "").strip()
    results = []
    if query:
        try:
            results = audience_search(
                definition=mailing.segment.definition, organisation=mailing.organisation,
                mailing_list=mailing.mailing_list, query=query, limit=SEARCH_RESULTS,
            )
        except SegmentError:
            results = []
    rendered, preheader = None, ""
    if form.is_bound and form.errors:
        rendered_problem = _("Fix the message to see its preview.")
    else:
        rendered_problem = ""
        data = form.cleaned_data if form.is_bound else None
        try:
            rendered = _render(
                mailing, sender=data["sender"] if data else mailing.message.sender,
                subject=data["subject"] if data else mailing.message.subject,
                preheader=data["preheader"] if data else mailing.message.preheader,
                body=data["body"] if data else mailing.message.body, supporter=as_supporter,
            )
            preheader = data["preheader"] if data else mailing.message.preheader
        except MergeFieldError as error:
            rendered_problem = str(error)
    context = {
        "mailing": mailing, "form": form, "step": "message", "editable": _editable(mailing),
        "rendered": rendered, "preheader": preheader, "rendered_problem": rendered_problem, "problem": problem,
        "as_supporter": as_supporter, "as_problem": as_problem, "query": query, "results": results,
        "merge_fields": _merge_fields(mailing), "user_email": request.user.email,
    }
    return render_workspace(request, workspace, "organise/mailings/message.html", context, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def mailing_message(request, workspace, pk):
    mailing = _mailing(workspace, pk)
    if request.method == "GET":
        message = mailing.message
        initial = {"sender": message.sender_id, "subject": message.subject, "preheader": message.preheader,
                   "body": message.body}
        return _message_page(request, workspace, mailing, MessageForm(initial=initial, mailing=mailing, workspace=workspace))
    form = MessageForm(request.POST, mailing=mailing, workspace=workspace)
    if not _editable(mailing):
        return _message_page(request, workspace, mailing, form, status=409, problem=_(
            "This mailing has started: its message can no longer be changed."
        ))
    if not form.is_valid():
        return _message_page(request, workspace, mailing, form, status=400)
    message = mailing.message
    for name in ("sender", "subject", "preheader", "body"):
        setattr(message, name, form.cleaned_data[name])
    compose.message_save(message=message)
    target = _mailing_url(workspace, mailing, "organise:mailing_message")
    as_supporter, _as_problem = _as_supporter(mailing, request.POST.get("as"))
    if as_supporter is not None:
        target += f"?as={as_supporter.pk}"
    if request.POST.get("action") != "test":
        messages.success(request, _("Message saved."))
        return _see_other(target)
    try:
        compose.message_test_send(
            message=message, to_email=request.user.email, supporter=as_supporter, mailing_list=mailing.mailing_list,
            request_or_actor=request,
        )
    except (MailingStateError, MergeFieldError) as error:
        return _message_page(request, workspace, mailing, form, status=400, problem=_(
            "Saved, but the test was not sent: %(error)s"
        ) % {"error": error})
    messages.success(request, _("Saved, and a test sent to %(email)s.") % {"email": request.user.email})
    return _see_other(target)


@require_POST
@workspace_view(Need.MAIL)
def mailing_preview(request, workspace, pk):
    """The live preview: the fields as typed (JSON) rendered as the send will render them, as
    the chosen recipient. {"subject", "preheader", "html", "text"} or {"error"} with a 400."""
    mailing = _mailing(workspace, pk)
    try:
        payload = json_body_parse(request.body, max_bytes=PREVIEW_MAX_BYTES, max_depth=2)
    except JsonBodyError as error:
        return JsonResponse({"error": error.message}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"error": _("Send the message's fields as a JSON object.")}, status=400)
    fields = {name: payload.get(name) for name in ("sender", "subject", "preheader", "body")}
    if fields["sender"] is None:
        fields["sender"] = mailing.message.sender_id
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in fields.values() if v is not None):
        return JsonResponse({"error": _("Each field must be text.")}, status=400)
    form = MessageForm({k: "" if v is None else str(v) for k, v in fields.items()}, mailing=mailing,
                       workspace=workspace, body_required=False)
    if not form.is_valid():
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        return JsonResponse({"error": " ".join(errors)}, status=400)
    supporter, as_problem = _as_supporter(mailing, payload.get("as"))
    data = form.cleaned_data
    try:
        rendered = _render(mailing, sender=data["sender"], subject=data["subject"], preheader=data["preheader"],
                           body=data["body"], supporter=supporter)
    except MergeFieldError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({
        "subject": rendered.subject, "preheader": data["preheader"], "html": rendered.html, "text": rendered.text,
        "as": supporter.email if supporter else "", "as_problem": as_problem,
    })


@require_GET
@workspace_view(Need.MAIL)
def mailing_recipients(request, workspace, pk):
    """People among the mailing's recipients whose address starts with ?q=, for "preview as"."""
    mailing = _mailing(workspace, pk)
    query = request.GET.get("q", "")
    try:
        people = audience_search(
            definition=mailing.segment.definition, organisation=mailing.organisation,
            mailing_list=mailing.mailing_list, query=query, limit=SEARCH_RESULTS,
        )
    except SegmentError as error:
        return JsonResponse({"error": str(error), "results": []}, status=400)
    return JsonResponse({"results": [
        {"id": p.pk, "email": p.email, "name": f"{p.first_name} {p.last_name}".strip()} for p in people
    ]})


# --- Step 2: the audience ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def mailing_audience(request, workspace, pk):
    mailing = _mailing(workspace, pk)
    status, problem = 200, ""
    if request.method == "POST":
        form = AudienceForm(request.POST, mailing=mailing, workspace=workspace)
        if not _editable(mailing) or mailing.status != Mailing.Status.DRAFT:
            status, problem = 409, _("Only a draft's audience can be changed: unschedule it first.")
        elif form.is_valid():
            try:
                compose.mailing_audience_set(
                    mailing=mailing, segment=form.cleaned_data["segment"], mailing_list=form.cleaned_data["mailing_list"]
                )
            except MailingStateError:
                status, problem = 409, _("Only a draft's audience can be changed: unschedule it first.")
            else:
                messages.success(request, _("Audience saved."))
                return _see_other(_mailing_url(workspace, mailing, "organise:mailing_audience"))
        else:
            status = 400
    else:
        form = AudienceForm(initial={"segment": mailing.segment_id, "mailing_list": mailing.mailing_list_id},
                            mailing=mailing, workspace=workspace)
    count = _count(mailing)
    context = {
        "mailing": mailing, "form": form, "step": "audience", "count": count, "problem": problem,
        **_count_texts(count),
        "editable": _editable(mailing) and mailing.status == Mailing.Status.DRAFT,
    }
    return render_workspace(request, workspace, "organise/mailings/audience.html", context, status=status)


@require_GET
@workspace_view(Need.MAIL)
def mailing_audience_count(request, workspace, pk):
    """The count for a segment and basis chosen on the audience step (?segment=&list=), before
    saving: {"matching", "eligible", "label"} or {"error"} with a 400."""
    mailing = _mailing(workspace, pk)
    segment = workspace.segments().filter(pk=parse_whole_number(request.GET.get("segment", ""), minimum=1) or 0).first()
    if segment is None:
        return JsonResponse({"error": _("Choose a segment.")}, status=400)
    list_id = request.GET.get("list", "")
    mailing_list = None
    if list_id:
        mailing_list = _lists(mailing, mailing.mailing_list).filter(pk=parse_whole_number(list_id, minimum=1) or 0).first()
        if mailing_list is None:
            return JsonResponse({"error": _("Choose one of the lists offered.")}, status=400)
    count = _count(mailing, segment=segment, mailing_list=mailing_list, use_given=True)
    if "error" in count:
        return JsonResponse(count, status=400)
    return JsonResponse({**count, **_count_texts(count)})


def _count_texts(count: dict) -> dict:
    """The audience's count as the page words it (also for the script's live update)."""
    if "error" in count:
        return {}
    return {
        "label": _("%(people)s will receive it") % {"people": _people(count["eligible"])},
        "detail": _("(%(matching)s match the segment; the rest are suppressed, unsubscribed or have not opted in).")
        % {"matching": number_format(count["matching"], force_grouping=True)},
    }


# --- Step 3: send, and then the progress and the results --------------------------------------------


def _figure_tables(mailing: Mailing) -> tuple[list[FigureTable], bool]:
    hourly, cut_short = mailing_hourly(mailing=mailing)
    labels = {
        "sent": _("Sent"), "delivered": _("Delivered"), "bounced": _("Bounced"), "opened": _("Opened"),
        "clicked": _("Clicked"), "unsubscribed": _("Unsubscribed"), "complained": _("Complaints"),
    }
    tables = [
        FigureTable(
            name="hourly", caption=_("Each hour since the start"), chart="line", rows=hourly,
            columns=[_("Hour"), *(labels[name] for name, _field, _q in HOURLY_SERIES)],
            empty=_("Nothing has happened yet."),
        ),
        FigureTable(
            name="links", caption=_("Links clicked, by the number of people who clicked"), chart="bar-horizontal",
            columns=[_("Link"), _("People who clicked"), _("Clicks")], rows=mailing_links_clicked(mailing=mailing),
            empty=_("No clicks yet."),
        ),
    ]
    return tables, cut_short


def _progress_payload(mailing: Mailing) -> dict:
    progress = mailing_progress(mailing=mailing)
    return {
        **progress, **mailing_pace(mailing=mailing, progress=progress),
        "done": progress["total"] - progress["queued"] - progress["in_flight"],
        "problems": mailing_problems(mailing=mailing),
        "live": mailing.status in LIVE,
    }


def _send_page(request, workspace, mailing, *, status=200, problem="", count=None):
    editable = mailing.status in (Mailing.Status.DRAFT, Mailing.Status.SCHEDULED) and not mailing_starting(mailing)
    count = count if count is not None else (_count(mailing) if editable else None)
    started = mailing.started_at is not None
    tables, cut_short = _figure_tables(mailing) if started else ([], False)
    context = {
        "mailing": mailing, "step": "send" if editable else "progress", "problem": problem,
        "count": count, "people": _people(count["eligible"]) if count and "eligible" in count else "",
        **(_count_texts(count) if count else {}),
        "ready_problem": _ready_problem(mailing), "progress": _progress_payload(mailing),
        "started": started,
        "starting": mailing_starting(mailing), "live": mailing.status in LIVE, "finished": mailing.status in FINISHED,
        "tables": tables, "cut_short": cut_short, "schedule_value": request.POST.get("at", ""),
        "now_local": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
    }
    return render_workspace(request, workspace, "organise/mailings/detail.html", context, status=status)


def _ready_problem(mailing: Mailing) -> str:
    """Why this draft cannot be sent yet ("" when it can)."""
    message = mailing.message
    if not message.body.strip():
        return _("Write the message first.")
    try:
        merge_fields_check(text="\n".join((message.subject, message.preheader, message.body)),
                           merge_values=message.merge_values)
    except MergeFieldError as error:
        return str(error)
    return ""


@require_GET
@workspace_view(Need.MAIL)
def mailing_detail(request, workspace, pk):
    mailing = _mailing(workspace, pk)
    if "csv" in request.GET:
        return figure_table_csv(request, _figure_tables(mailing)[0], filename_prefix=f"mailing-{mailing.pk}")
    return _send_page(request, workspace, mailing)


def _confirmed_count(request, workspace, mailing):
    """The number of recipients now, if it is the number the organiser confirmed; else the
    page to answer with (the number changed, or the mailing cannot be sent)."""
    problem = _ready_problem(mailing)
    if problem:
        return None, _send_page(request, workspace, mailing, status=400, problem=problem)
    count = _count(mailing)
    if "error" in count:
        return None, _send_page(request, workspace, mailing, status=400, problem=count["error"], count=count)
    expected = parse_whole_number(request.POST.get("expected", ""))
    if expected is None:
        return None, _send_page(request, workspace, mailing, status=400, count=count,
                                problem=_("Confirm the number of people, with the button below."))
    if count["eligible"] == 0:
        return None, _send_page(request, workspace, mailing, status=400, count=count,
                                problem=_("Nobody would receive this mailing: choose another audience."))
    if expected != count["eligible"]:
        return None, _send_page(request, workspace, mailing, status=409, count=count, problem=_(
            "The number of people changed since the page was shown: it was %(was)s, it is now %(now)s. "
            "Nothing was sent. Check the number and confirm again."
        ) % {"was": number_format(expected, force_grouping=True), "now": number_format(count["eligible"], force_grouping=True)})
    return count, None


@require_POST
@workspace_view(Need.MAIL)
def mailing_send(request, workspace, pk):
    mailing = _mailing(workspace, pk)
    count, answer = _confirmed_count(request, workspace, mailing)
    if answer is not None:
        return answer
    try:
        compose.mailing_send_now(mailing=mailing, request_or_actor=request)
    except MailingStateError as error:
        return _send_page(request, workspace, mailing, status=409, problem=str(error))
    messages.success(request, _("Sending to %(people)s is starting: this page follows it.") % {"people": _people(count["eligible"])})
    return _see_other(_mailing_url(workspace, mailing))


@require_POST
@workspace_view(Need.MAIL)
def mailing_schedule(request, workspace, pk):
    mailing = _mailing(workspace, pk)
    at = parse_moment(request.POST.get("at", "").strip())
    if at is None or len(request.POST.get("at", "")) > 40:
        return _send_page(request, workspace, mailing, status=400,
                          problem=_("Enter the date and time to send it, such as 2026-12-24 09:00."))
    if at <= timezone.now():
        return _send_page(request, workspace, mailing, status=400,
                          problem=_("That time has passed: choose a time in the future, or send now."))
    count, answer = _confirmed_count(request, workspace, mailing)
    if answer is not None:
        return answer
    try:
        compose.mailing_schedule(mailing=mailing, at=at, request_or_actor=request)
    except MailingStateError as error:
        return _send_page(request, workspace, mailing, status=409, problem=str(error))
    messages.success(request, _("Scheduled for %(when)s, to the %(people)s who will be recipients then.") % {
        "when": timezone.localtime(at).strftime("%Y-%m-%d %H:%M"), "people": _people(count["eligible"])})
    return _see_other(_mailing_url(workspace, mailing))


# action -> (the service, what the organiser is told once it is done)
_ACTIONS = {
    "unschedule": (compose.mailing_unschedule, gettext_lazy("Back to draft: nothing was sent.")),
    "pause": (compose.mailing_pause, gettext_lazy("Paused: what was handed to the ESP finishes; nothing more is sent.")),
    "resume": (compose.mailing_resume, gettext_lazy("Resumed.")),
    "cancel": (compose.mailing_cancel, gettext_lazy("Cancelled: the people not yet sent it never will be.")),
    "resend-unknown": (compose.deliveries_unknown_resend, gettext_lazy("The deliveries with an unknown outcome are queued again.")),
    "drop-unknown": (compose.deliveries_unknown_drop, gettext_lazy("The deliveries with an unknown outcome are dropped.")),
}


@require_POST
@workspace_view(Need.MAIL)
def mailing_action(request, workspace, pk, action):
    mailing = _mailing(workspace, pk)
    if action not in _ACTIONS:
        raise Http404
    if action == "cancel" and request.POST.get("confirm") != "yes":
        # Cancelling cannot be undone: ask, on a page of its own (no script needed).
        progress = mailing_progress(mailing=mailing)
        context = {"mailing": mailing, "progress": progress, "step": "progress"}
        return render_workspace(request, workspace, "organise/mailings/cancel.html", context)
    service, done = _ACTIONS[action]
    try:
        service(mailing=mailing, request_or_actor=request)
    except MailingStateError as error:
        mailing.refresh_from_db()
        return _send_page(request, workspace, mailing, status=409, problem=str(error))
    messages.success(request, str(done))
    return _see_other(_mailing_url(workspace, mailing))


@require_GET
@workspace_view(Need.MAIL)
def mailing_progress_json(request, workspace, pk):
    """What the progress bar polls: the counts, rate, time left and latest problems."""
    return JsonResponse(_progress_payload(_mailing(workspace, pk)))

