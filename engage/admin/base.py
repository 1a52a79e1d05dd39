from django.contrib import admin
from django.utils.html import escape


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (ledgers, sign-ups): organisers look, and act through actions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on their parent's page, written elsewhere."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class PlainHelpTextAdmin(admin.ModelAdmin):
    """The admin shows a model's help text as HTML; ours is plain text with placeholders such as
    <organisation>, which would vanish as unknown tags. Escape it."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and formfield.help_text:
            formfield.help_text = escape(formfield.help_text)
        return formfield
