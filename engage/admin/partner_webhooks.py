"""Partners' webhooks (registered here; the secret shown once, when it is made) and the notices
of withdrawals and erasures sent to them (read-only: written by services, addresses not shown)."""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from engage.admin.base import ReadOnlyAdmin, ReadOnlyInline
from engage.models import PartnerNotice, PartnerWebhook, PartnerWebhookAttempt
from engage.services.partner_notices import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    partner_webhook_register,
    partner_webhook_secret_replace,
    webhook_url_allowed,
)


class PartnerWebhookForm(forms.ModelForm):
    url = forms.URLField(
        label=PartnerWebhook._meta.get_field("url").verbose_name, max_length=500, assume_scheme="https",
        help_text=PartnerWebhook._meta.get_field("url").help_text,
    )

    class Meta:
        model = PartnerWebhook
        fields = ["organisation", "url", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not webhook_url_allowed(url):
            raise forms.ValidationError(
                gettext(
                    "Use the partner's public https address: each event carries a person's email address, "
                    "and Muster posts to no private network."
                ),
                code="not_allowed",
            )
        return url


@admin.register(PartnerWebhook)
class PartnerWebhookAdmin(admin.ModelAdmin):
    form = PartnerWebhookForm
    list_display = ["organisation", "url", "active", "secret_created_at"]
    list_filter = ["active"]
    list_select_related = ["organisation"]
    readonly_fields = ["created_at", "secret_created_at"]
    actions = ["secret_replace"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "organisation"] if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["organisation", "url", "active", *self.readonly_fields] if obj is not None else ["organisation", "url"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["url", "active"])
            return
        webhook, secret = partner_webhook_register(organisation=form.cleaned_data["organisation"], url=form.cleaned_data["url"])
        obj.pk, obj.secret, obj.created_at, obj.secret_created_at = webhook.pk, webhook.secret, webhook.created_at, webhook.secret_created_at
        # Held on the request only, for response_add: never put in a message cookie or a log.
        request._partner_webhook_secrets = [(webhook, secret)]

    def _secrets_page(self, request, secrets):
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Webhook secret"),
            "secrets": secrets,
            "opts": self.model._meta,
            "signature_header": SIGNATURE_HEADER,
            "event_id_header": EVENT_ID_HEADER,
        }
        return TemplateResponse(request, "engage/admin/partner_webhook_secret.html", context)

    def response_add(self, request, obj, post_url_continue=None):
        return self._secrets_page(request, request._partner_webhook_secrets)

    @admin.action(description=_("Replace the secret of the selected webhooks (the old one stops working at once)"))
    def secret_replace(self, request, queryset):
        secrets = [(webhook, partner_webhook_secret_replace(webhook=webhook)) for webhook in queryset.select_related("organisation")]
        return self._secrets_page(request, secrets)


class PartnerWebhookAttemptInline(ReadOnlyInline):
    model = PartnerWebhookAttempt
    fields = ["number", "started_at", "finished_at", "status_code", "error"]
    readonly_fields = fields


@admin.register(PartnerNotice)
class PartnerNoticeAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "organisation", "kind", "occurred_at", "address_held", "fetched_at", "webhook_status", "webhook_attempts"]
    list_filter = ["kind", "webhook_status", "organisation"]
    list_select_related = ["organisation"]
    # The address is left out on purpose: it is kept for the partner, not for organisers to read.
    fields = ["event_id", "organisation", "kind", "occurred_at", "address_held", "email_cleared_at", "fetched_at",
              "webhook_status", "webhook_attempts", "webhook_next_at", "delivered_at"]
    readonly_fields = fields
    inlines = [PartnerWebhookAttemptInline]

    @admin.display(description=_("Address held"), boolean=True)
    def address_held(self, notice):
        return bool(notice.email)
