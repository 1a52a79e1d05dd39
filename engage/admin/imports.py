"""Subscriber imports: upload a CSV, match its columns, import it on a worker, read the report."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from engage import imports
from engage.models import SubscriberImport
from engage.services.imports import subscriber_import_queue


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
                subscriber_import_queue(subscriber_import=subscriber_import, column_map=form.cleaned_data,
                                        request_or_actor=request)
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
