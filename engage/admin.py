import io
import zipfile

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join

from engage import data_exports, imports, services
from engage.list_export import subscribers_csv
from engage.models import (
    Affiliate,
    Consent,
    MailingList,
    Membership,
    Organisation,
    Signup,
    SubscriberImport,
    Subscription,
    Supporter,
    Suppression,
)
from engage.personal_data import supporter_erase
from engage.suppression import email_hash, suppression_add


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "website"]
    list_filter = ["kind"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    readonly_fields = ["organisation", "given", "wording", "source", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """The ledger is append-only: no adding, changing or deleting here."""

    list_display = ["supporter", "organisation", "given", "source", "created_at"]
    list_filter = ["organisation", "given"]
    search_fields = ["supporter__email", "source"]
    list_select_related = ["supporter", "organisation"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (ledgers, sign-ups): organisers look, and act through actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    can_delete = False
    fields = readonly_fields = ["mailing_list", "status", "source", "subscribed_at", "unsubscribed_at"]

    def has_add_permission(self, request, obj=None):
        return False


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
        changed = [name for name in form.changed_data if name in {"first_name", "last_name", "country", "postcode"}]
        if change and changed:
            services.supporter_details_update(
                supporter=Supporter.objects.get(pk=obj.pk),
                **{name: str(getattr(obj, name)) for name in ("first_name", "last_name", "country", "postcode")},
                source=f"admin:{request.user.get_username()}",
            )
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Download their data (JSON, as the person would get it)")
    def download_data_export(self, request, queryset):
        supporters = list(queryset[:200])
        stamp = f"{timezone.now():%Y%m%d-%H%M}"
        if len(supporters) == 1:
            response = HttpResponse(data_exports.supporter_export_json(supporter=supporters[0]), content_type="application/json")
            response["Content-Disposition"] = f'attachment; filename="personal-data-{stamp}.json"'
            return response
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for supporter in supporters:
                archive.writestr(f"personal-data-{supporter.pk}.json", data_exports.supporter_export_json(supporter=supporter))
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="personal-data-{stamp}.zip"'
        return response

    @admin.action(description="Email them a link to their data")
    def email_data_export(self, request, queryset):
        for supporter in queryset:
            data_exports.data_export_request(supporter=supporter, requested_by=request.user.get_username())
        self.message_user(request, f"{queryset.count()} data export(s) queued; each person is emailed a link.")

    @admin.action(description="Erase (delete everything about them; keep only a suppression hash)")
    def erase(self, request, queryset):
        if request.POST.get("confirmed") == "yes":
            supporters = list(queryset)
            for supporter in supporters:
                supporter_erase(supporter=supporter)
            self.message_user(request, f"{len(supporters)} supporter(s) erased. Their addresses are suppressed.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase supporters?",
            "supporters": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/engage/supporter/erase_confirmation.html", context)


@admin.register(MailingList)
class MailingListAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "public", "subscribers"]
    list_filter = ["organisation", "public"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["export_subscribers_csv"]

    @admin.action(description="Export subscribers (CSV)")
    def export_subscribers_csv(self, request, queryset):
        response = StreamingHttpResponse(subscribers_csv(mailing_lists=list(queryset)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .select_related("organisation")
            .annotate(subscribers=Count("subscriptions", filter=Q(subscriptions__status=Subscription.Status.SUBSCRIBED)))
        )

    @admin.display(description="Subscribers", ordering="subscribers")
    def subscribers(self, mailing_list):
        return mailing_list.subscribers


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["supporter", "mailing_list", "status", "source", "subscribed_at", "unsubscribed_at"]
    list_filter = ["status", "mailing_list"]
    search_fields = ["supporter__email", "source"]
    list_select_related = ["supporter", "mailing_list"]
    exclude = ["confirm_nonce"]
    actions = ["unsubscribe"]

    @admin.action(description="Unsubscribe (writes a ledger row)")
    def unsubscribe(self, request, queryset):
        changed = 0
        for subscription in queryset.select_related("supporter", "mailing_list"):
            changed += services.unsubscribe(
                supporter=subscription.supporter, mailing_list=subscription.mailing_list,
                wording=f"Unsubscribed by an organiser ({request.user.get_username()}).", source="admin",
            )
        self.message_user(request, f"{changed} subscription(s) unsubscribed.")


class SuppressionAddForm(forms.ModelForm):
    email = forms.EmailField(help_text="Stored only as a keyed hash; the address itself is not kept.")

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


@admin.register(Signup)
class SignupAdmin(ReadOnlyAdmin):
    list_display = ["supporter", "kind", "status", "hold_reason", "source", "created_at", "confirmed_at"]
    list_filter = ["status", "kind", "hold_reason"]
    search_fields = ["supporter__email", "source"]
    list_select_related = ["supporter"]
    exclude = ["confirm_nonce"]
    actions = ["release"]

    @admin.action(description="Release held sign-ups (send their confirmation email)")
    def release(self, request, queryset):
        released = services.signups_release(signup_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{released} held sign-up(s) released.")


@admin.register(Affiliate)
class AffiliateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "contact", "website", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["name", "contact__email"]
    readonly_fields = ["status", "contact", "created_at", "confirmed_at"]
    list_select_related = ["contact"]

    def has_add_permission(self, request):
        return False


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["supporter", "organisation", "source", "joined_at"]
    list_filter = ["organisation"]
    search_fields = ["supporter__email"]
    list_select_related = ["supporter", "organisation"]



class SubscriberImportForm(forms.ModelForm):
    file = forms.FileField(help_text="A CSV file with a header row, e.g. a Mailchimp export (Audience → Export).")

    class Meta:
        model = SubscriberImport
        fields = ["file", "encoding", "mailing_list", "consent_wording", "consent_given_at"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.SUBSCRIBER_IMPORT_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {settings.SUBSCRIBER_IMPORT_MAX_BYTES // 1_000_000} MB.")
        return upload

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("file") and cleaned.get("encoding"):
            data = cleaned["file"].read()
            try:
                cleaned["columns"] = imports.file_columns(data, cleaned["encoding"])
            except imports.ImportFileError as error:
                self.add_error("file", str(error))
            cleaned["data"] = data
        return cleaned


class ColumnMapForm(forms.Form):
    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "(not imported)"), *[(column, column) for column in columns]]
        for name in imports.FIELDS:
            self.fields[name] = forms.ChoiceField(label=imports.FIELD_LABELS[name], choices=choices, required=name == "email")
        self.fields["email"].error_messages["required"] = "Choose the column that holds email addresses."

    def clean(self):
        cleaned = super().clean()
        chosen = [value for value in cleaned.values() if value]
        if len(chosen) != len(set(chosen)):
            raise forms.ValidationError("Each column can be matched to one field only.")
        return {name: column for name, column in cleaned.items() if column}


@admin.register(SubscriberImport)
class SubscriberImportAdmin(admin.ModelAdmin):
    """Upload, match columns, import on a worker, read the report. Problem rows are listed by
    line number only; the file itself is deleted once imported."""

    list_display = ["file_name", "mailing_list", "status", "progress", "subscribed", "new_supporters", "skipped", "created_at"]
    list_filter = ["status", "mailing_list"]
    readonly_fields = [
        "file_name", "mailing_list", "encoding", "column_map", "consent_wording", "consent_given_at", "status", "progress",
        "new_supporters", "subscribed", "already_subscribed", "skipped", "problem_report", "created_by", "created_at",
        "started_at", "finished_at",
    ]
    fields = readonly_fields
    form = SubscriberImportForm
    change_form_template = "admin/engage/subscriberimport/change_form.html"

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record: read its report, start another to change anything

    def get_fields(self, request, obj=None):
        return SubscriberImportForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_urls(self):
        return [
            path("<int:import_id>/columns/", self.admin_site.admin_view(self.columns_view), name="engage_subscriberimport_columns"),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data["file"]
        obj.file_name = upload.name[:200]
        obj.data = form.cleaned_data["data"]
        obj.columns = form.cleaned_data["columns"]
        obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:engage_subscriberimport_columns", args=[obj.pk]))

    def columns_view(self, request, import_id):
        subscriber_import = get_object_or_404(SubscriberImport, pk=import_id)
        if not self.has_add_permission(request):
            raise PermissionDenied
        if subscriber_import.status != SubscriberImport.Status.UPLOADED:
            return HttpResponseRedirect(reverse("admin:engage_subscriberimport_change", args=[import_id]))
        columns = subscriber_import.columns
        if request.method == "POST":
            form = ColumnMapForm(request.POST, columns=columns)
            if form.is_valid():
                imports.subscriber_import_queue(subscriber_import=subscriber_import, column_map=form.cleaned_data)
                self.message_user(request, "The import is queued; this page shows its progress.")
                return HttpResponseRedirect(reverse("admin:engage_subscriberimport_change", args=[import_id]))
        else:
            form = ColumnMapForm(initial=imports.columns_guess(columns), columns=columns)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Match the columns of {subscriber_import.file_name}",
            "form": form,
            "subscriber_import": subscriber_import,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/engage/subscriberimport/columns.html", context, status=400 if form.errors else 200)

    @admin.display(description="Progress")
    def progress(self, subscriber_import):
        return f"{subscriber_import.processed_rows} / {subscriber_import.total_rows} rows"

    @admin.display(description="Problem rows")
    def problem_report(self, subscriber_import):
        if not subscriber_import.problems:
            return "None"
        lines = [f"line {line}: {message}" if line else message for line, message in subscriber_import.problems]
        more = subscriber_import.problem_count - len(lines)
        return format_html_join("\n", "<div>{}</div>", ((line,) for line in lines + ([f"… and {more} more"] if more > 0 else [])))


from engage import admin_partners  # noqa: E402,F401
