"""Supporters, their consent ledger and the suppression list."""

import io
import zipfile

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import ngettext

from engage.admin.base import ReadOnlyAdmin, ReadOnlyInline
from engage.fields import NormalisedEmailField
from engage.models import Consent, Subscription, Supporter, Suppression
from engage.selectors import supporter_export_json
from engage.services.data_exports import data_export_request
from engage.services.erasure import supporter_erase
from engage.services.supporters import supporter_details_update
from engage.services.suppression import suppression_add
from engage.suppression import email_hash

DETAILS = ("first_name", "last_name", "country", "postcode")


class ConsentInline(ReadOnlyInline):
    model = Consent
    readonly_fields = ["organisation", "given", "wording", "source", "created_at"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """The ledger is append-only: no adding, changing or deleting here."""

    list_display = ["supporter", "organisation", "given", "source", "created_at"]
    list_filter = ["organisation", "given"]
    search_fields = ["supporter__email", "source"]
    list_select_related = ["supporter", "organisation"]


class SubscriptionInline(ReadOnlyInline):
    model = Subscription
    fields = readonly_fields = ["mailing_list", "status", "source", "subscribed_at", "unsubscribed_at"]


@admin.register(Supporter)
class SupporterAdmin(admin.ModelAdmin):
    """Deleting a person here would leave their IP hashes and no suppression: "Erase" does it
    properly, so plain deletion is off."""

    list_display = ["email", "first_name", "last_name", "country", "postcode", "created_at"]
    list_filter = ["country"]
    search_fields = ["email", "first_name", "last_name", "postcode"]
    readonly_fields = ["email", "created_at", "updated_at"]
    exclude = ["link_nonce"]
    inlines = [SubscriptionInline, ConsentInline]
    actions = ["download_data_export", "email_data_export", "erase"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changed = [name for name in form.changed_data if name in DETAILS]
        if change and changed:
            supporter_details_update(
                supporter=Supporter.objects.get(pk=obj.pk),
                **{name: str(getattr(obj, name)) for name in DETAILS},
                source=f"admin:{request.user.get_username()}",
            )
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Download their data (JSON, as the person would get it)")
    def download_data_export(self, request, queryset):
        supporters = list(queryset[:200])
        stamp = f"{timezone.now():%Y%m%d-%H%M}"
        if len(supporters) == 1:
            response = HttpResponse(supporter_export_json(supporter=supporters[0]), content_type="application/json")
            response["Content-Disposition"] = f'attachment; filename="personal-data-{stamp}.json"'
            return response
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for supporter in supporters:
                archive.writestr(f"personal-data-{supporter.pk}.json", supporter_export_json(supporter=supporter))
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="personal-data-{stamp}.zip"'
        return response

    @admin.action(description="Email them a link to their data")
    def email_data_export(self, request, queryset):
        for supporter in queryset:
            data_export_request(supporter=supporter, requested_by=request.user.get_username())
        self.message_user(request, ngettext("%d data export queued; the person is emailed a link.", "%d data exports queued; each person is emailed a link.", queryset.count()) % queryset.count())

    @admin.action(description="Erase (delete everything about them; keep only a suppression hash)")
    def erase(self, request, queryset):
        if request.POST.get("confirmed") == "yes":
            supporters = list(queryset)
            for supporter in supporters:
                supporter_erase(supporter=supporter)
            self.message_user(request, ngettext("%d supporter erased. Their address is suppressed.", "%d supporters erased. Their addresses are suppressed.", len(supporters)) % len(supporters))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase supporters?",
            "supporters": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/engage/supporter/erase_confirmation.html", context)


class SuppressionAddForm(forms.ModelForm):
    email = NormalisedEmailField(help_text="Stored only as a keyed hash; the address itself is not kept.")

    class Meta:
        model = Suppression
        fields = ["email", "reason"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Search by typing the whole address: it is hashed and compared."""

    list_display = ["short_hash", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]
    form = SuppressionAddForm

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        if "@" in search_term:
            return queryset.filter(email_hash=email_hash(search_term)), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        saved = suppression_add(email=form.cleaned_data["email"], reason=form.cleaned_data["reason"])
        obj.pk, obj.email_hash, obj.created_at = saved.pk, saved.email_hash, saved.created_at

    @admin.display(description="Address (keyed hash)")
    def short_hash(self, suppression):
        return f"{suppression.email_hash[:16]}…"
