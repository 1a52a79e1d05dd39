"""The organisers' pages: compose a message (preview as any recipient, test send to oneself),
build segments with a live count, send or schedule mailings and watch them go out."""

from contextlib import contextmanager

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engage.json_body import JsonBodyError, json_body_parse
from engage.models import MailingList, Organisation
from engage.query_params import parse_whole_number
from engage.selectors import supporters_by_email
from mailings.models import Delivery, Mailing, Message, OutboundEmail, Segment, Sender
from mailings.rendering import MergeFieldError, merge_fields_check
from mailings.selectors.mailings import mailing_progress, message_preview, segment_count
from mailings.selectors.segments import SegmentError, conditions, segment_q
from mailings.services import compose
from mailings.services.sending import MailingStateError

# A segment nests conditions in "all"/"any"/"not" groups; deeper than this is no one's intent.
SEGMENT_MAX_DEPTH = 40


def _id(value) -> int:
    """A row id from the segment editor's JSON (a number or its digits), or 0 for none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value <= 2**63 - 1 else 0
    if isinstance(value, str):
        return parse_whole_number(value, minimum=1) or 0
    return 0


class RecordAdmin(admin.ModelAdmin):
    """A record of what was sent: read, never added or changed by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OwnViewsAdmin(admin.ModelAdmin):
    """An admin with pages of its own besides Django's: `own_views` lists (route, method
    name, URL name, POST only), each behind the admin's login and staff check."""

    own_views: list[tuple[str, str, str, bool]] = []

    def get_urls(self):
        own = []
        for route, method, name, post_only in self.own_views:
            view = getattr(self, method)
            own.append(path(route, self.admin_site.admin_view(require_POST(view) if post_only else view), name=name))
        return [*own, *super().get_urls()]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(RecordAdmin):
    list_display = ["kind", "to_email", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "stream"]
    search_fields = ["to_email", "esp_message_id", "dedupe_key"]


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "bulk_email", "transactional_email", "reply_to"]
    list_filter = ["organisation"]


@contextmanager
def _invalid_on(error_class: type[Exception]):
    """A check's own error, shown on the form as what to fix."""
    try:
        yield
    except error_class as error:
        raise ValidationError(str(error)) from None


class MessageForm(forms.ModelForm):
    class Meta:
        model = Message
        fields = ["name", "sender", "subject", "preheader", "reply_to", "body", "merge_values"]
        widgets = {"body": forms.Textarea(attrs={"rows": 18, "cols": 90})}

    def clean_merge_values(self):
        value = self.cleaned_data.get("merge_values") or {}
        if not isinstance(value, dict) or not all(isinstance(v, str | int) for v in value.values()):
            raise ValidationError('Write an object of names and texts, e.g. {"petition_url": "https://…"}.')
        return value

    def clean(self):
        cleaned = super().clean()
        text = "\n".join(cleaned.get(name) or "" for name in ("subject", "preheader", "body"))
        with _invalid_on(MergeFieldError):
            merge_fields_check(text=text, merge_values=cleaned.get("merge_values") or {})
        return cleaned


@admin.register(Message)
class MessageAdmin(OwnViewsAdmin):
    form = MessageForm
    list_display = ["name", "subject", "sender", "updated_at"]
    search_fields = ["name", "subject"]
    change_form_template = "admin/mailings/message/change_form.html"
    own_views = [
        ("<int:pk>/preview/", "preview_view", "mailings_message_preview", False),
        ("<int:pk>/test-send/", "test_send_view", "mailings_message_test_send", True),
    ]

    def save_model(self, request, obj, form, change):
        compose.message_save(message=obj)

    def _recipient(self, request):
        """The supporter named by ?as=<email>, or None; an unknown address is reported."""
        address = (request.GET.get("as") or request.POST.get("as") or "").strip()
        if not address:
            return None, ""
        supporter = supporters_by_email(address).first()
        return supporter, "" if supporter else f"No supporter has the address {address}; showing a recipient with no name."

    def preview_view(self, request, pk):
        message = get_object_or_404(Message, pk=pk)
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        supporter, problem = self._recipient(request)
        mailing_list = MailingList.objects.filter(pk=parse_whole_number(request.GET.get("list", ""), minimum=1) or 0).first()
        try:
            rendered = message_preview(message=message, supporter=supporter, mailing_list=mailing_list)
        except MergeFieldError as error:
            rendered, problem = None, str(error)
        context = {
            **self.admin_site.each_context(request), "title": f"Preview: {message.subject}", "message_obj": message,
            "rendered": rendered, "problem": problem, "as": request.GET.get("as", ""),
            "lists": MailingList.objects.all(), "list_id": mailing_list.pk if mailing_list else None, "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mailings/message/preview.html", context)

    def test_send_view(self, request, pk):
        message = get_object_or_404(Message, pk=pk)
        if not self.has_change_permission(request, message):
            raise PermissionDenied
        supporter, problem = self._recipient(request)
        if problem:
            self.message_user(request, problem, level=messages.WARNING)
        try:
            compose.message_test_send(message=message, to_email=request.user.email, supporter=supporter,
                                       request_or_actor=request)
        except (MailingStateError, MergeFieldError) as error:
            self.message_user(request, str(error), level=messages.ERROR)
        else:
            self.message_user(request, f"Test sent to {request.user.email}.")
        return HttpResponseRedirect(reverse("admin:mailings_message_change", args=[pk]))


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "definition"]
        widgets = {"definition": forms.Textarea(attrs={"rows": 14, "cols": 90, "class": "vLargeTextField"})}

    def clean_definition(self):
        definition = self.cleaned_data.get("definition")
        with _invalid_on(SegmentError):
            segment_q(definition)
        return definition


@admin.register(Segment)
class SegmentAdmin(OwnViewsAdmin):
    form = SegmentForm
    list_display = ["name", "updated_at"]
    search_fields = ["name"]
    change_form_template = "admin/mailings/segment/change_form.html"
    own_views = [("count/", "count_view", "mailings_segment_count", True)]

    def save_model(self, request, obj, form, change):
        compose.segment_save(segment=obj)

    def render_change_form(self, request, context, *args, **kwargs):
        context.update(
            conditions=conditions(), organisations=Organisation.objects.all(), lists=MailingList.objects.all(),
        )
        return super().render_change_form(request, context, *args, **kwargs)

    def count_view(self, request):
        """The live count while editing: {"matching": n, "eligible": m} or {"error": …} (400)."""
        limits = {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "max_depth": SEGMENT_MAX_DEPTH}
        try:
            payload = json_body_parse(request.body, **limits) or {}
            if not isinstance(payload, dict):
                raise JsonBodyError(400, "invalid_json", "")
            definition = payload.get("definition")
            if isinstance(definition, str):
                definition = json_body_parse(definition.encode("utf-8", "surrogatepass"), **limits)
        except JsonBodyError:
            return JsonResponse({"error": _("The definition is not valid JSON.")}, status=400)
        organisation = Organisation.objects.filter(pk=_id(payload.get("organisation"))).first()
        mailing_list = MailingList.objects.filter(pk=_id(payload.get("list"))).first()
        try:
            return JsonResponse(segment_count(definition=definition, organisation=organisation, mailing_list=mailing_list))
        except SegmentError as error:
            return JsonResponse({"error": str(error)}, status=400)


class MailingForm(forms.ModelForm):
    class Meta:
        model = Mailing
        fields = ["name", "message", "segment", "mailing_list"]


class DeliveryInlineNote(admin.TabularInline):
    model = Delivery
    fields = ["supporter", "status", "outcome", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Deliveries needing attention (unknown outcome or failed; first 50)"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).filter(status__in=[Delivery.Status.UNKNOWN, Delivery.Status.FAILED])
        ids = list(queryset.order_by("id").values_list("id", flat=True)[:50])
        return super().get_queryset(request).filter(id__in=ids).select_related("supporter")


@admin.register(Mailing)
class MailingAdmin(OwnViewsAdmin):
    form = MailingForm
    list_display = ["name", "status", "recipient_count", "scheduled_at", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "scheduled_at", "started_at", "finished_at", "recipient_count"]
    inlines = [DeliveryInlineNote]
    change_form_template = "admin/mailings/mailing/change_form.html"

    # action -> (the service that does it, what the organiser is told once it is done)
    _ACTIONS = {
        "send": (compose.mailing_send_now, "Sending is starting: this page follows it."),
        "schedule": (compose.mailing_schedule, "Scheduled."),
        "unschedule": (compose.mailing_unschedule, "Back to draft."),
        "pause": (compose.mailing_pause, "Paused."),
        "resume": (compose.mailing_resume, "Resumed."),
        "cancel": (compose.mailing_cancel, "Cancelled."),
        "resend_unknown": (compose.deliveries_unknown_resend, "Deliveries with an unknown outcome queued again."),
        "drop_unknown": (compose.deliveries_unknown_drop, "Deliveries with an unknown outcome dropped."),
    }

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Mailing.Status.DRAFT:
            return [*self.readonly_fields, "name", "message", "segment", "mailing_list"]
        return self.readonly_fields

    own_views = [
        ("<int:pk>/progress/", "progress_view", "mailings_mailing_progress", False),
        ("<int:pk>/do/<str:action>/", "action_view", "mailings_mailing_action", True),
    ]

    def save_model(self, request, obj, form, change):
        compose.mailing_save(mailing=obj, created_by=request.user)

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            context.update(progress=mailing_progress(mailing=obj), mailing=obj)
            try:
                context["eligible_now"] = segment_count(
                    definition=obj.segment.definition, organisation=obj.organisation, mailing_list=obj.mailing_list
                ) if obj.status in (Mailing.Status.DRAFT, Mailing.Status.SCHEDULED) else None
            except SegmentError as error:
                context["segment_error"] = str(error)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def progress_view(self, request, pk):
        mailing = get_object_or_404(Mailing, pk=pk)
        if not self.has_view_permission(request, mailing):
            raise PermissionDenied
        return JsonResponse(mailing_progress(mailing=mailing))

    def action_view(self, request, pk, action):
        mailing = get_object_or_404(Mailing.objects.select_related("message__sender__organisation"), pk=pk)
        if not self.has_change_permission(request, mailing) or action not in self._ACTIONS:
            raise PermissionDenied
        service, done = self._ACTIONS[action]
        try:
            service(mailing=mailing, request_or_actor=request,
                    **({"at": self._scheduled_at(request)} if action == "schedule" else {}))
        except MailingStateError as error:
            self.message_user(request, str(error), level=messages.ERROR)
        except ValidationError as error:
            self.message_user(request, f"Schedule: {' '.join(error.messages)}", level=messages.ERROR)
        else:
            self.message_user(request, done)
        return HttpResponseRedirect(reverse("admin:mailings_mailing_change", args=[pk]))

    @staticmethod
    def _scheduled_at(request):
        at = forms.SplitDateTimeField().clean([request.POST.get("date", ""), request.POST.get("time", "")])
        return timezone.make_aware(at) if timezone.is_naive(at) else at


@admin.register(Delivery)
class DeliveryAdmin(RecordAdmin):
    list_display = ["mailing", "supporter", "status", "outcome", "attempts", "sent_at", "esp_message_id"]
    list_filter = ["status", "outcome", "mailing"]
    list_select_related = ["mailing", "supporter"]
    search_fields = ["supporter__email", "esp_message_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
