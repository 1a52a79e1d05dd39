from django.contrib import admin, messages
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import ngettext

from engage.admin.base import PlainHelpTextAdmin
from petitions.embed import embed_snippet
from petitions.exports import signatures_handin_csv
from petitions.models import Cosponsorship, Petition, Signature
from petitions.selectors import signature_count_live
from petitions.services.lifecycle import petition_save, petition_set_status
from petitions.services.mobilisation import NoSender, mobilisation_create
from petitions.services.signing import signatures_invalidate, signatures_release


def _code_box(code: str):
    # The snippet is safe HTML to paste, so escape() (which escapes even safe strings) shows it as text.
    return format_html('<textarea readonly rows="3" cols="90" onfocus="this.select()">{}</textarea>', escape(code))


class CosponsorshipInline(admin.TabularInline):
    """Partners co-sponsoring this petition; untick `active` to switch one off (its box leaves the form)."""

    model = Cosponsorship
    extra = 0
    fields = ["organisation", "active"]
    autocomplete_fields = ["organisation"]


@admin.register(Petition)
class PetitionAdmin(PlainHelpTextAdmin):
    list_display = ["title", "status", "live_count", "goal", "closes_at", "organisation"]
    list_filter = ["status", "organisation"]
    search_fields = ["title", "slug", "target"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["status", "live_count", "signature_count", "counted_at", "opened_at", "closed_at", "handed_in_at"]
    readonly_fields += ["embed_codes"]
    fieldsets = [
        (None, {"fields": ["organisation", "title", "slug", "target", "summary", "body", "goal", "closes_at"]}),
        ("Consent", {"fields": ["consent_wording"]}),
        ("Get embed code", {"fields": ["embed_codes"], "classes": ["collapse"]}),
        ("Status", {"fields": ["status", "live_count", "signature_count", "counted_at", "opened_at", "closed_at", "handed_in_at"]}),
    ]
    actions = ["publish", "close", "mark_handed_in", "export_handin_csv", "email_signers"]
    inlines = [CosponsorshipInline]

    @admin.display(description="Embed codes")
    def embed_codes(self, petition):
        if petition.pk is None:
            return "Save the petition first."
        codes = [("Your own sites (the host's allowed origins)", embed_snippet(petition=petition))]
        codes += [
            (c.organisation.name, embed_snippet(petition=petition, partner=c.organisation))
            for c in petition.cosponsorships.filter(active=True).select_related("organisation")
        ]
        return format_html_join("", "<p><strong>{}</strong></p>{}", ((name, _code_box(code)) for name, code in codes))

    @admin.display(description="Confirmed signatures")
    def live_count(self, petition):
        return signature_count_live(petition_id=petition.pk, fallback=petition.signature_count) if petition.pk else 0

    def save_model(self, request, obj, form, change):
        petition_save(petition=obj)

    def _set_status(self, request, queryset, status, allowed_from):
        changed = 0
        for petition in queryset:
            if petition.status in allowed_from:
                petition_set_status(petition=petition, status=status)
                changed += 1
        skipped = queryset.count() - changed
        self.message_user(request, ngettext("%(count)d petition now %(status)s.", "%(count)d petitions now %(status)s.", changed)
            % {"count": changed, "status": Petition.Status(status).label.lower()})
        if skipped:
            self.message_user(request, f"{skipped} skipped: not in a state that allows it.", level=messages.WARNING)

    @admin.action(description="Publish (open for signatures)")
    def publish(self, request, queryset):
        self._set_status(request, queryset, Petition.Status.OPEN, {Petition.Status.DRAFT, Petition.Status.CLOSED})

    @admin.action(description="Close")
    def close(self, request, queryset):
        self._set_status(request, queryset, Petition.Status.CLOSED, {Petition.Status.OPEN})

    @admin.action(description="Mark handed in")
    def mark_handed_in(self, request, queryset):
        self._set_status(
            request, queryset, Petition.Status.HANDED_IN, {Petition.Status.OPEN, Petition.Status.CLOSED}
        )

    @admin.action(description="Export confirmed signatures (CSV for hand-in)")
    def export_handin_csv(self, request, queryset):
        response = StreamingHttpResponse(signatures_handin_csv(petitions=list(queryset)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="signatures-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response

    @admin.action(description="Email its signers (a draft mailing to confirmed signers who opted in)")
    def email_signers(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose one petition.", level=messages.WARNING)
            return None
        try:
            mailing = mobilisation_create(petition=queryset.get(), created_by=request.user)
        except NoSender as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return None
        self.message_user(request, "Draft mailing created: write the message, preview it, send a test, then send.")
        return HttpResponseRedirect(reverse("admin:mailings_message_change", args=[mailing.message_id]))


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    list_display = ["supporter", "petition", "status", "hold_reason", "source", "created_at", "confirmed_at"]
    list_filter = ["status", "hold_reason", "petition", "source"]
    search_fields = ["supporter__email", "supporter__postcode", "ip_hash", "source"]
    list_select_related = ["supporter", "petition"]
    readonly_fields = [f.name for f in Signature._meta.fields if f.name != "id"]
    exclude = ["confirm_nonce"]
    actions = ["release", "invalidate"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [name for name in self.readonly_fields if name != "confirm_nonce"]

    @admin.action(description="Release held signatures (send their confirmation email)")
    def release(self, request, queryset):
        released = signatures_release(signature_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, ngettext("%d held signature released.", "%d held signatures released.", released) % released)

    @admin.action(description="Invalidate (never counted)")
    def invalidate(self, request, queryset):
        invalidated = signatures_invalidate(signature_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, ngettext("%d signature invalidated.", "%d signatures invalidated.", invalidated) % invalidated)


@admin.register(Cosponsorship)
class CosponsorshipAdmin(admin.ModelAdmin):
    list_display = ["organisation", "petition", "active", "created_at", "embed_code"]
    list_filter = ["active", "organisation", "petition"]
    list_select_related = ["organisation", "petition"]
    autocomplete_fields = ["organisation", "petition"]
    readonly_fields = ["embed_code"]

    @admin.display(description="Get embed code")
    def embed_code(self, cosponsorship):
        if cosponsorship.pk is None:
            return "Save first."
        note = "" if cosponsorship.organisation.origins else " It works only on sites listed in the partner's allowed origins: add them first."
        return format_html(
            "{}<p class='help'>Paste this where the petition should appear on {}'s site.{}</p>",
            _code_box(embed_snippet(petition=cosponsorship.petition, partner=cosponsorship.organisation)),
            cosponsorship.organisation.name,
            note,
        )
