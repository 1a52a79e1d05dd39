from django.contrib import admin

from engage.models import Consent, Organisation, Supporter


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


@admin.register(Supporter)
class SupporterAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "country", "postcode", "created_at"]
    list_filter = ["country"]
    search_fields = ["email", "first_name", "last_name", "postcode"]
    readonly_fields = ["email", "created_at", "updated_at"]
    inlines = [ConsentInline]


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


from engage import admin_partners  # noqa: E402,F401
