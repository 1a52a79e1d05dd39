"""Segments in the workspace: the list, the builder (new and edit), its live count, export and
import. The builder is a script (static/organise/segments.js) that fills the form's definition
field; the form posts as any form does, so saving, importing and exporting work without it
(then the definition is edited as JSON), and only the menus and the live count need it."""

import json

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engage.json_body import JsonBodyError, json_body_parse
from engage.models import MailingList, Organisation
from engage.normalise import validate_multiline_text, validate_text
from mailings.models import Segment
from mailings.selectors.segments import SegmentError, conditions_described, segment_figures, segment_q
from mailings.services.compose import segment_save
from organise.access import Need, Workspace, workspace_view
from organise.views.common import render_workspace

# Deeper than this no builder goes (a group in a group in a group is "not" + "any" levels).
DEFINITION_MAX_DEPTH = 40
IMPORT_MAX_BYTES = 256 * 1024
EXPORT_FORMAT = 1  # "muster_segment" in an export: how to read the rest


def _definition_parse(raw) -> object:
    """A definition from JSON text (or already parsed), checked: SegmentError says what is wrong."""
    if isinstance(raw, str):
        try:
            raw = json_body_parse(
                raw.encode("utf-8", "surrogatepass"), max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
                max_depth=DEFINITION_MAX_DEPTH,
            )
        except JsonBodyError:
            raise SegmentError(_("The definition is not valid JSON.")) from None
        if raw is None:
            raise SegmentError(_("The segment has no definition."))
    segment_q(raw)
    return raw


class SegmentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, validators=[validate_text])
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, max_length=2000, validators=[validate_multiline_text],
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("What the segment is for, for the organisers who pick it later."),
    )
    definition = forms.CharField(
        label=gettext_lazy("Definition (JSON)"), widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        strip=False, max_length=200_000,
    )

    def clean_definition(self):
        try:
            return _definition_parse(self.cleaned_data["definition"])
        except SegmentError as error:
            raise ValidationError(str(error)) from None


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("A segment file (.json)"), required=False)
    text = forms.CharField(
        label=gettext_lazy("Or paste it"), required=False, strip=False, max_length=IMPORT_MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"), required=False, max_length=200, validators=[validate_text],
        help_text=gettext_lazy("Leave empty to use the name in the file."),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text") or ""
        if self.errors:
            return cleaned
        if upload and text.strip():
            raise ValidationError(_("Choose a file or paste a segment, not both."))
        if upload:
            if upload.size > IMPORT_MAX_BYTES:
                raise ValidationError(_("The file is too large for a segment."))
            raw = upload.read()
        elif text.strip():
            raw = text.encode("utf-8", "surrogatepass")
        else:
            raise ValidationError(_("Choose a segment file, or paste one."))
        try:
            data = json_body_parse(raw, max_bytes=IMPORT_MAX_BYTES, max_depth=DEFINITION_MAX_DEPTH)
        except (JsonBodyError, UnicodeDecodeError):
            raise ValidationError(_("That is not a segment: it is not valid JSON.")) from None
        if isinstance(data, dict) and "muster_segment" in data:
            if data["muster_segment"] != EXPORT_FORMAT:
                raise ValidationError(_("This segment file comes from a newer version of Muster."))
            definition, name, description = data.get("definition"), data.get("name"), data.get("description", "")
        else:
            definition, name, description = data, None, ""
        try:
            segment_q(definition)
        except SegmentError as error:
            raise ValidationError(_("That segment cannot be used: %(error)s") % {"error": error}) from None
        name = cleaned.get("name") or name
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(_("Give the segment a name."))
        if not isinstance(description, str):
            description = ""
        for value, check, limit in ((name.strip(), validate_text, 200), (description, validate_multiline_text, 2000)):
            check(value)
            if len(value) > limit:
                raise ValidationError(_("The name or description in the file is too long."))
        cleaned.update(definition=definition, segment_name=name.strip(), description=description)
        return cleaned


def _basis_options(workspace: Workspace) -> list[dict]:
    """Who "emailable" is counted for: sent as an organisation, or on one of its lists."""
    options = [
        {"value": f"organisation:{o.pk}", "label": _("Sent as %(organisation)s, to those who opted in") % {"organisation": o.name}}
        for o in Organisation.objects.order_by("kind", "name")
    ]
    options += [
        {"value": f"list:{m.pk}", "label": _("Sent on the list %(list)s (%(organisation)s)") % {"list": m.name, "organisation": m.organisation.name}}
        for m in MailingList.objects.select_related("organisation").order_by("organisation__name", "name")
    ]
    default = f"organisation:{workspace.organisation.pk}"
    for option in options:
        option["selected"] = option["value"] == default
    return options


def _builder_text() -> dict:
    """The builder script's words, translated here."""
    return {
        "all": _("all of"), "any": _("any of"), "none": _("none of"),
        "match": _("People who match"), "match_how": _("Match"), "these": _("these"),
        "group": _("Group"), "condition": _("Condition"), "choose": _("Choose a condition…"),
        "choose_value": _("Choose…"), "add_condition": _("Add a condition"), "add_group": _("Add a group"),
        "remove": _("Remove"), "remove_group": _("Remove this group"), "empty": _("No conditions yet: everyone matches."),
        "counting": _("Counting…"), "failed": _("Could not count just now."),
        "no_sample": _("Nobody matches."),
    }


def _editor(request, workspace, form, segment=None, status=200):
    return render_workspace(request, workspace, "organise/segments/editor.html", {
        "form": form, "segment": segment,
        "builder": {"conditions": conditions_described(), "text": _builder_text()},
        "basis_options": _basis_options(workspace),
    }, status=status)


@require_GET
@workspace_view(Need.MAIL)
def segment_list(request, workspace):
    segments = workspace.segments().order_by("name")
    return render_workspace(request, workspace, "organise/segments/list.html", {"segments": segments})


def _save(request, workspace, segment: Segment | None):
    form = SegmentForm(request.POST)
    if not form.is_valid():
        return _editor(request, workspace, form, segment, status=400)
    segment = segment or Segment()
    segment.name = form.cleaned_data["name"]
    segment.description = form.cleaned_data["description"]
    segment.definition = form.cleaned_data["definition"]
    segment_save(segment=segment)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("organise:segment", org=workspace.organisation.slug, pk=segment.pk)


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def segment_new(request, workspace):
    if request.method == "POST":
        return _save(request, workspace, None)
    return _editor(request, workspace, SegmentForm(initial={"definition": json.dumps({"all": []})}))


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def segment_detail(request, workspace, pk):
    segment = get_object_or_404(workspace.segments(), pk=pk)
    if request.method == "POST":
        return _save(request, workspace, segment)
    form = SegmentForm(initial={
        "name": segment.name, "description": segment.description, "definition": json.dumps(segment.definition),
    })
    return _editor(request, workspace, form, segment)


def _basis(value) -> tuple[Organisation | None, MailingList | None]:
    """The consent basis the count is for: ("organisation", pk) or ("list", pk); (None, None) if none."""
    if not isinstance(value, str) or ":" not in value:
        return None, None
    kind, _sep, raw = value.partition(":")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None, None
    if kind == "organisation":
        return Organisation.objects.filter(pk=int(raw)).first(), None
    if kind == "list":
        mailing_list = MailingList.objects.select_related("organisation").filter(pk=int(raw)).first()
        return (mailing_list.organisation, mailing_list) if mailing_list else (None, None)
    return None, None


# Access first, then the method: the page-by-role table (tests/organise/test_access.py) asks
# with a GET, which the host's people get a 405 for, and everyone else what their access says.
@workspace_view(Need.MAIL)
@require_POST
def segment_count_view(request, workspace):
    """The builder's live count: {"matching", "eligible", "summary", "sample"}, or 400 with
    {"error": why} for a definition that cannot be built (the builder shows it)."""
    try:
        payload = json_body_parse(
            request.body, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE, max_depth=DEFINITION_MAX_DEPTH
        )
        if not isinstance(payload, dict):
            raise SegmentError(_("Send the definition as {\"definition\": …}."))
        definition = _definition_parse(payload.get("definition"))
    except JsonBodyError:
        return JsonResponse({"error": _("The definition is not valid JSON.")}, status=400)
    except SegmentError as error:
        return JsonResponse({"error": str(error)}, status=400)
    organisation, mailing_list = _basis(payload.get("basis"))
    figures = segment_figures(definition=definition, organisation=organisation, mailing_list=mailing_list)
    matching, eligible = figures["matching"], figures["eligible"]
    summary = ngettext("%(count)s person matches.", "%(count)s people match.", matching) % {"count": f"{matching:,}"}
    if eligible is not None:
        if mailing_list is not None:
            summary += " " + ngettext(
                "%(count)s of them can be emailed on %(list)s.", "%(count)s of them can be emailed on %(list)s.", eligible
            ) % {"count": f"{eligible:,}", "list": mailing_list.name}
        else:
            summary += " " + ngettext(
                "%(count)s of them can be emailed by %(organisation)s.",
                "%(count)s of them can be emailed by %(organisation)s.", eligible,
            ) % {"count": f"{eligible:,}", "organisation": organisation.name}
    return JsonResponse({
        "matching": matching, "eligible": eligible, "summary": summary,
        "sample": figures["sample"],
    })


def export_document(segment: Segment) -> dict:
    return {
        "muster_segment": EXPORT_FORMAT, "name": segment.name, "description": segment.description,
        "definition": segment.definition,
    }


@require_GET
@workspace_view(Need.MAIL)
def segment_export(request, workspace, pk):
    segment = get_object_or_404(workspace.segments(), pk=pk)
    response = HttpResponse(
        json.dumps(export_document(segment), indent=2, ensure_ascii=False) + "\n", content_type="application/json"
    )
    filename = f"segment-{slugify(segment.name) or segment.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
@workspace_view(Need.MAIL)
def segment_import(request, workspace):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            segment = segment_save(
                segment=Segment(name=data["segment_name"], description=data["description"], definition=data["definition"])
            )
            messages.success(request, _("Segment “%(name)s” imported.") % {"name": segment.name})
            return redirect(reverse("organise:segment", kwargs={"org": workspace.organisation.slug, "pk": segment.pk}))
        return render_workspace(request, workspace, "organise/segments/import.html", {"form": form}, status=400)
    return render_workspace(request, workspace, "organise/segments/import.html", {"form": form})
