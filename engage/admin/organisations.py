"""Organisations and coalition partners: on the organisation, who its users are and which sites
may embed its petitions; the partners' API keys (shown once, stored hashed, revoked rather than
deleted); affiliations and memberships."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from engage.admin.base import ReadOnlyAdmin, ReadOnlyInline
from engage.audit import audit_record
from engage.models import Affiliate, Membership, Organisation, OrganisationMember, PartnerApiKey
from engage.partners import organisation_origins, origin_valid
from engage.services.partner_keys import partner_api_key_create, partner_api_key_revoke


class PartnerApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = PartnerApiKey
        fields = ["organisation", "name"]
        help_texts = {"name": "What the key is for, e.g. “CRM sync”. The key itself is shown once, after saving."}


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "prefix", "created_at", "last_used_at", "state"]
    list_filter = ["organisation", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "organisation__name"]
    list_select_related = ["organisation"]
    readonly_fields = ["organisation", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="State")
    def state(self, key):
        return "revoked" if key.revoked_at else "live"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PartnerApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ["organisation", "name"]

    def has_delete_permission(self, request, obj=None):
        # Revoked keys stay listed, so organisers can see which key was used when.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        key, plain = partner_api_key_create(
            organisation=form.cleaned_data["organisation"], name=form.cleaned_data["name"], request_or_actor=request
        )
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = key.pk, key.prefix, key.key_hash, key.created_at
        # Held on the request only, for response_add: the plain key is never stored, logged or put in a message cookie.
        request._partner_api_key_plain = plain

    def response_add(self, request, obj, post_url_continue=None):
        key = PartnerApiKey.objects.select_related("organisation").get(pk=obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "key": key,
            "plain": request._partner_api_key_plain,
            "opts": self.model._meta,
            "supporters_url": request.build_absolute_uri(reverse("petitions:api-partner-supporters")),
        }
        return TemplateResponse(request, "engage/admin/partner_api_key_created.html", context)

    @admin.action(description="Revoke the selected keys (at once, for good)")
    def revoke(self, request, queryset):
        revoked = sum(partner_api_key_revoke(key=key, request_or_actor=request) for key in queryset)
        self.message_user(request, ngettext("%d key revoked.", "%d keys revoked.", revoked) % revoked, level=messages.SUCCESS if revoked else messages.INFO)


class OrganisationMemberInline(admin.TabularInline):
    """The organisation's users and their roles (organisations' admins manage them in the
    workspace's People page, with invitations and an audit trail)."""

    model = OrganisationMember
    extra = 0
    raw_id_fields = ["user"]
    verbose_name = "user"


class PartnerApiKeyInline(ReadOnlyInline):
    """The organisation's keys, to see at a glance; keys are created and revoked on their own page."""

    model = PartnerApiKey
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    show_change_link = True


class OrganisationForm(forms.ModelForm):
    def clean_allowed_origins(self):
        value = self.cleaned_data.get("allowed_origins", "")
        bad = [line.strip() for line in value.splitlines() if line.strip() and not origin_valid(line.strip().rstrip("/").lower())]
        if bad:
            raise forms.ValidationError(
                "Give one origin per line, a scheme and a host with no path, like https://weownit.org.uk. Not: %(bad)s",
                params={"bad": ", ".join(bad)},
            )
        return "\n".join(line.strip().rstrip("/").lower() for line in value.splitlines() if line.strip())


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "website", "member_count", "embed_origins"]
    list_filter = ["kind"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    form = OrganisationForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [OrganisationMemberInline, PartnerApiKeyInline]
    readonly_fields = ["partner_links"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members", distinct=True))

    def save_formset(self, request, form, formset, change):
        """Members added, given another role or removed here are audited as on the People page,
        in the admin's own transaction (docs/design.md, "Organiser accounts")."""
        if formset.model is not OrganisationMember:
            return super().save_formset(request, form, formset, change)
        before = {m.pk: m.role for m in OrganisationMember.objects.filter(organisation=form.instance)}
        removed = [(f.instance.user, f.instance.role) for f in formset.deleted_forms if f.instance.pk]
        super().save_formset(request, form, formset, change)
        organisation = form.instance
        for user, role in removed:
            audit_record(request_or_actor=request, organisation=organisation, action="member.removed",
                         target=user, details={"role": role, "where": "admin"})
        for member in OrganisationMember.objects.filter(organisation=organisation).select_related("user"):
            if member.pk not in before:
                audit_record(request_or_actor=request, organisation=organisation, action="member.added",
                             target=member.user, details={"role": member.role, "where": "admin"})
            elif before[member.pk] != member.role:
                audit_record(request_or_actor=request, organisation=organisation, action="role.changed",
                             target=member.user, details={"from": before[member.pk], "to": member.role, "where": "admin"})

    @admin.display(description="Users", ordering="member_count")
    def member_count(self, organisation):
        return organisation.member_count

    @admin.display(description="May embed from")
    def embed_origins(self, organisation):
        return ", ".join(organisation_origins(organisation)) or "—"

    @admin.display(description="Embed codes and API keys")
    def partner_links(self, organisation):
        if organisation.pk is None:
            return "—"
        # Co-sponsorships live in the petitions app; the link follows its admin URL by name.
        return format_html(
            '<a href="{}?organisation__id__exact={}">Get embed code for each petition it co-sponsors</a> · '
            '<a href="{}?organisation__id__exact={}">API keys</a> · <a href="{}">Add an API key</a>',
            reverse("admin:petitions_cosponsorship_changelist"),
            organisation.pk,
            reverse("admin:engage_partnerapikey_changelist"),
            organisation.pk,
            reverse("admin:engage_partnerapikey_add") + f"?organisation={organisation.pk}",
        )


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
