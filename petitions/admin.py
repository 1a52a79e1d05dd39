from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from engage.admin.base import PlainHelpTextAdmin
from engage.audit import audit_record
from petitions.embed import embed_snippet
from petitions.exports import signatures_handin_count, signatures_handin_csv
from petitions.kiosk import kiosk_stall_clean, kiosk_url
from petitions.models import Cosponsorship, Petition, Signature
from petitions.selectors import signature_count_live, signatures_alias_neighbours
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
    list_display = ["title", "status", "live_count", "held_signatures", "goal", "closes_at", "organisation"]
    list_filter = ["status", "organisation"]
    change_form_template = "admin/petitions/petition/change_form.html"
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

    def get_queryset(self, request):
        # One aggregate for the whole list page, not a count per row.
        held = Count("signatures", filter=Q(signatures__status=Signature.Status.HELD))
        return super().get_queryset(request).annotate(held_count=held)

    @admin.display(description=gettext_lazy("Held signatures"), ordering="held_count")
    def held_signatures(self, petition):
        """Held signatures (rate limit, honeypot) wait for an organiser: the count links to
        them, where "Release held signatures" sends their confirmations."""
        if not petition.held_count:
            return "0"
        return format_html('<a href="{}">{}</a>', held_signatures_url(petition), petition.held_count)

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.pk:
            context.update(
                held_count=obj.signatures.filter(status=Signature.Status.HELD).count(),
                held_url=held_signatures_url(obj),
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def get_urls(self):
        kiosk = self.admin_site.admin_view(require_POST(self.kiosk_link_view))
        return [path("<int:pk>/kiosk/", kiosk, name="petitions_petition_kiosk"), *super().get_urls()]

    def kiosk_link_view(self, request, pk):
        """Make a kiosk link for this petition and one stall (petitions.kiosk)."""
        petition = get_object_or_404(Petition, pk=pk)
        context = {**self.admin_site.each_context(request), "petition": petition, "opts": self.model._meta,
                   "hours": int(settings.KIOSK_LINK_MAX_AGE.total_seconds() // 3600)}
        if not self.has_change_permission(request, petition):
            context["error"] = _("You may not change this petition, so you may not open a kiosk for it.")
            return TemplateResponse(request, "admin/petitions/petition/kiosk_link.html", context, status=403)
        stall = kiosk_stall_clean(request.POST.get("stall", ""))
        if not stall:
            context["error"] = _("Name the stall in up to 64 letters, digits, dots, dashes or underscores, e.g. market-square.")
            return TemplateResponse(request, "admin/petitions/petition/kiosk_link.html", context, status=400)
        if petition.status != Petition.Status.OPEN:
            context["warning"] = _("This petition is not open: the kiosk will not take signatures until it is.")
        context.update(stall=stall, url=kiosk_url(petition=petition, stall=stall))
        return TemplateResponse(request, "admin/petitions/petition/kiosk_link.html", context)

    @admin.display(description="Confirmed signatures")
    def live_count(self, petition):
        return signature_count_live(petition_id=petition.pk, fallback=petition.signature_count) if petition.pk else 0

    def save_model(self, request, obj, form, change):
        petition_save(petition=obj)

    def _set_status(self, request, queryset, status, allowed_from):
        changed = 0
        for petition in queryset:
            if petition.status in allowed_from:
                petition_set_status(petition=petition, status=status, request_or_actor=request)
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
        petitions = list(queryset.select_related("organisation"))
        with transaction.atomic():
            # Counted with the export's own query, before it streams; one row per petition.
            for petition in petitions:
                audit_record(request_or_actor=request, organisation=petition.organisation, action="export.handin",
                             target=petition, details={"rows": signatures_handin_count(petitions=[petition]),
                                                       "where": "admin"})
        response = StreamingHttpResponse(signatures_handin_csv(petitions=petitions), content_type="text/csv")
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


def held_signatures_url(petition: Petition) -> str:
    changelist = reverse("admin:petitions_signature_changelist")
    return f"{changelist}?status__exact={Signature.Status.HELD}&petition__id__exact={petition.pk}"


class SignatureChangeList(ChangeList):
    """The page's signatures, each with its address's aliases folded and how many others of its
    petition share that mailbox: read for the whole page in one query."""

    def get_results(self, request):
        super().get_results(request)
        neighbours = signatures_alias_neighbours(list(self.result_list))
        for signature in self.result_list:
            signature.alias_neighbours = neighbours.get(signature.pk)


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    list_display = ["supporter", "petition", "status", "hold_reason", "same_mailbox", "source", "created_at", "confirmed_at"]
    list_filter = ["status", "hold_reason", "petition", "source"]
    search_fields = ["supporter__email", "supporter__postcode", "ip_hash", "source"]
    list_select_related = ["supporter", "petition"]
    readonly_fields = [f.name for f in Signature._meta.fields if f.name != "id"]
    exclude = ["confirm_nonce"]
    actions = ["release", "invalidate"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A signature is invalidated, not deleted: deleting a confirmed one here would bypass the
        # tallies (docs/design.md, "Figures come from tallies") and the count's history.
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*(name for name in self.readonly_fields if name != "confirm_nonce"), "same_mailbox"]

    def get_changelist(self, request, **kwargs):
        return SignatureChangeList

    @admin.display(description=gettext_lazy("Same mailbox (Gmail dots and +tags folded)"))
    def same_mailbox(self, signature):
        # A signal for fraud review, not a merge: a.da@ and ada+2@gmail.com may be one person.
        if not hasattr(signature, "alias_neighbours"):
            signature.alias_neighbours = signatures_alias_neighbours([signature]).get(signature.pk)
        if signature.alias_neighbours is None:
            return "—"
        folded, others = signature.alias_neighbours
        if not others:
            return format_html("{} ({})", folded, gettext("no other signature"))
        label = ngettext("%(count)d other signature", "%(count)d other signatures", others) % {"count": others}
        return format_html("{} (<strong>{}</strong>)", folded, label)

    @admin.action(description="Release held signatures (send their confirmation email)")
    def release(self, request, queryset):
        released = signatures_release(signature_ids=list(queryset.values_list("pk", flat=True)), request_or_actor=request)
        self.message_user(request, ngettext("%d held signature released.", "%d held signatures released.", released) % released)

    @admin.action(description="Invalidate (never counted)")
    def invalidate(self, request, queryset):
        invalidated = signatures_invalidate(
            signature_ids=list(queryset.values_list("pk", flat=True)), request_or_actor=request
        )
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
