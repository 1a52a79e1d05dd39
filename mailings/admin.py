"""The organisers' pages: compose a message (preview as any recipient, test send to oneself),
build segments with a live count, send or schedule mailings and watch them go out."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from engage.models import MailingList, Organisation
from engage.selectors import supporters_by_email
from mailings import selectors, services
from mailings.models import Delivery, Mailing, Message, OutboundEmail, Segment, Sender
from mailings.rendering import MergeFieldError, merge_fields_check
from mailings.segments import SegmentError, conditions, segment_q


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["kind", "to_email", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "stream"]
    search_fields = ["to_email", "esp_message_id", "dedupe_key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "bulk_email", "transactional_email", "reply_to"]
    list_filter = ["organisation"]


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
        try:
            merge_fields_check(text=text, merge_values=cleaned.get("merge_values") or {})
        except MergeFieldError as error:
            raise ValidationError(str(error)) from None
        return cleaned


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    form = MessageForm
    list_display = ["name", "subject", "sender", "updated_at"]
    search_fields = ["name", "subject"]
    change_form_template = "admin/mailings/message/change_form.html"

    def get_urls(self):
        return [
            path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="mailings_message_preview"),
            path("<int:pk>/test-send/", self.admin_site.admin_view(require_POST(self.test_send_view)), name="mailings_message_test_send"),
            *super().get_urls(),
        ]

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
        mailing_list = MailingList.objects.filter(pk=request.GET.get("list") or 0).first()
        try:
            rendered = services.message_preview(message=message, supporter=supporter, mailing_list=mailing_list)
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
            services.message_test_send(message=message, to_email=request.user.email, supporter=supporter)
        except (services.MailingStateError, MergeFieldError) as error:
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
        try:
            segment_q(definition)
        except SegmentError as error:
            raise ValidationError(str(error)) from None
        return definition


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "updated_at"]
    search_fields = ["name"]
    change_form_template = "admin/mailings/segment/change_form.html"

    def get_urls(self):
        return [
            path("count/", self.admin_site.admin_view(require_POST(self.count_view)), name="mailings_segment_count"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, **kwargs):
        context.update(
            conditions=conditions(), organisations=Organisation.objects.all(), lists=MailingList.objects.all(),
        )
        return super().render_change_form(request, context, *args, **kwargs)

    def count_view(self, request):
        """The live count while editing: {"matching": n, "eligible": m} or {"error": …} (400)."""
        try:
            payload = json.loads(request.body or b"{}")
            definition = json.loads(payload["definition"]) if isinstance(payload.get("definition"), str) else payload.get("definition")
        except (ValueError, KeyError):
            return JsonResponse({"error": "The definition is not valid JSON."}, status=400)
        organisation = Organisation.objects.filter(pk=payload.get("organisation") or 0).first()
        mailing_list = MailingList.objects.filter(pk=payload.get("list") or 0).first()
        try:
            return JsonResponse(selectors.segment_count(definition=definition, organisation=organisation, mailing_list=mailing_list))
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
class MailingAdmin(admin.ModelAdmin):
    form = MailingForm
    list_display = ["name", "status", "recipient_count", "scheduled_at", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "scheduled_at", "started_at", "finished_at", "recipient_count"]
    inlines = [DeliveryInlineNote]
    change_form_template = "admin/mailings/mailing/change_form.html"

    _ACTIONS = {
        "send": "Sending started.",
        "schedule": "Scheduled.",
        "unschedule": "Back to draft.",
        "pause": "Paused.",
        "resume": "Resumed.",
        "cancel": "Cancelled.",
        "resend_unknown": "Deliveries with an unknown outcome queued again.",
        "drop_unknown": "Deliveries with an unknown outcome dropped.",
    }

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Mailing.Status.DRAFT:
            return [*self.readonly_fields, "name", "message", "segment", "mailing_list"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        return [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view), name="mailings_mailing_progress"),
            path("<int:pk>/do/<str:action>/", self.admin_site.admin_view(require_POST(self.action_view)), name="mailings_mailing_action"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            context.update(progress=selectors.mailing_progress(mailing=obj), mailing=obj)
            try:
                context["eligible_now"] = selectors.segment_count(
                    definition=obj.segment.definition, organisation=obj.organisation, mailing_list=obj.mailing_list
                ) if obj.status in (Mailing.Status.DRAFT, Mailing.Status.SCHEDULED) else None
            except SegmentError as error:
                context["segment_error"] = str(error)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def progress_view(self, request, pk):
        mailing = get_object_or_404(Mailing, pk=pk)
        if not self.has_view_permission(request, mailing):
            raise PermissionDenied
        return JsonResponse(selectors.mailing_progress(mailing=mailing))

    def action_view(self, request, pk, action):
        mailing = get_object_or_404(Mailing.objects.select_related("message__sender__organisation"), pk=pk)
        if not self.has_change_permission(request, mailing) or action not in self._ACTIONS:
            raise PermissionDenied
        try:
            if action == "send":
                services.mailing_send_now(mailing=mailing)
            elif action == "schedule":
                at = forms.SplitDateTimeField().clean([request.POST.get("date", ""), request.POST.get("time", "")])
                services.mailing_schedule(mailing=mailing, at=timezone.make_aware(at) if timezone.is_naive(at) else at)
            elif action == "unschedule":
                services.mailing_unschedule(mailing=mailing)
            elif action == "pause":
                services.mailing_pause(mailing=mailing)
            elif action == "resume":
                services.mailing_resume(mailing=mailing)
            elif action == "cancel":
                services.mailing_cancel(mailing=mailing)
            elif action == "resend_unknown":
                services.deliveries_unknown_resend(mailing=mailing)
            elif action == "drop_unknown":
                services.deliveries_unknown_drop(mailing=mailing)
        except services.MailingStateError as error:
            self.message_user(request, str(error), level=messages.ERROR)
        except ValidationError as error:
            self.message_user(request, f"Schedule: {' '.join(error.messages)}", level=messages.ERROR)
        else:
            self.message_user(request, self._ACTIONS[action])
        return HttpResponseRedirect(reverse("admin:mailings_mailing_change", args=[pk]))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["mailing", "supporter", "status", "outcome", "attempts", "sent_at", "esp_message_id"]
    list_filter = ["status", "outcome", "mailing"]
    list_select_related = ["mailing", "supporter"]
    search_fields = ["supporter__email", "esp_message_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
