"""Mailing lists, their subscriptions, and the sign-ups that ask for them."""

from django.contrib import admin
from django.db import transaction
from django.db.models import Count, Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import ngettext

from engage.admin.base import PlainHelpTextAdmin, ReadOnlyAdmin
from engage.audit import audit_record
from engage.csvfiles import csv_stream
from engage.models import MailingList, Signup, Subscription, Suppression
from engage.selectors import subscribers_rows
from engage.services import subscriptions
from engage.services.signups import signups_release

SUBSCRIBERS_HEADER = ["list", "email", "first_name", "last_name", "country", "postcode", "subscribed_at", "source"]


@admin.register(MailingList)
class MailingListAdmin(PlainHelpTextAdmin):
    list_display = ["name", "organisation", "public", "subscribers"]
    list_filter = ["organisation", "public"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["export_subscribers_csv"]

    @admin.action(description="Export subscribers (CSV)")
    def export_subscribers_csv(self, request, queryset):
        """Safe to open in a spreadsheet; suppressed addresses are left out (engage.selectors.subscribers_rows)."""
        mailing_lists = list(queryset.select_related("organisation"))
        with transaction.atomic():
            # Audited per list with its row count, counted as subscribers_rows filters (its
            # subscribed rows less the suppressed addresses) before the file streams.
            suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
            for mailing_list in mailing_lists:
                hashes = Subscription.objects.filter(
                    mailing_list=mailing_list, status=Subscription.Status.SUBSCRIBED
                ).values_list("supporter__email_hash", flat=True)
                count = sum(1 for digest in hashes.iterator(chunk_size=5000) if bytes(digest).hex() not in suppressed)
                audit_record(request_or_actor=request, organisation=mailing_list.organisation,
                             action="export.subscribers", target=mailing_list, details={"rows": count, "where": "admin"})
        lines = csv_stream(SUBSCRIBERS_HEADER, subscribers_rows(mailing_lists=mailing_lists))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
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
            changed += subscriptions.unsubscribe(
                supporter=subscription.supporter, mailing_list=subscription.mailing_list,
                wording=f"Unsubscribed by an organiser ({request.user.get_username()}).", source="admin",
            )
        self.message_user(request, ngettext("%d subscription unsubscribed.", "%d subscriptions unsubscribed.", changed) % changed)


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
        released = signups_release(signup_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, ngettext("%d held sign-up released.", "%d held sign-ups released.", released) % released)
