from django.contrib import admin

from mailings.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["kind", "to_email", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "stream"]
    search_fields = ["to_email", "esp_message_id", "dedupe_key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
