"""Everything held about one person, from every app: gathered for an export, deleted for an
erasure, and consulted before a person with "nothing left here" is deleted.

engage cannot import the apps above it (DESIGN), so each app that holds personal data
registers a source here from its AppConfig.ready():

    personal_data.source_register(
        name="petitions",
        export=signatures_of,      # (supporter) -> JSON-ready dict of sections, e.g. {"signatures": [...]}
        erase=signatures_clear,    # (supporters queryset) -> None; runs before the rows are deleted
        holds=signers_among,       # optional: (supporter ids) -> the ids it still has a reason to keep
    )

engage's own tables (the supporter, consent ledger, subscriptions, sign-ups, memberships) are
handled here directly. Erasure deletes the Supporter row last, so every foreign key with
on_delete=CASCADE goes with it, and every SET_NULL (a signature) keeps its anonymous remainder.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from engage.models import (
    Affiliate,
    Consent,
    DataExport,
    Membership,
    Signup,
    Subscription,
    Supporter,
    Suppression,
)
from engage.suppression import email_hash, suppression_add

EXPORT_FORMAT = "muster-personal-data/1"


@dataclass(frozen=True)
class Source:
    name: str
    export: Callable[[Supporter], dict]
    erase: Callable[[QuerySet], None]
    holds: Callable[[list[int]], set[int]] | None = None


_sources: dict[str, Source] = {}


def source_register(
    *,
    name: str,
    export: Callable[[Supporter], dict],
    erase: Callable[[QuerySet], None],
    holds: Callable[[list[int]], set[int]] | None = None,
) -> None:
    """Register (or replace) one app's part of a person's data."""
    _sources[name] = Source(name=name, export=export, erase=erase, holds=holds)


def sources() -> list[Source]:
    return list(_sources.values())


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _engage_export(supporter: Supporter) -> dict:
    consents = supporter.consents.select_related("organisation").order_by("created_at", "id")
    subscriptions = supporter.subscriptions.select_related("mailing_list__organisation").order_by("created_at", "id")
    events = supporter.subscription_events.select_related("mailing_list").order_by("created_at", "id")
    signups = supporter.signups.select_related("organisation", "affiliate").prefetch_related("mailing_lists")
    suppression = Suppression.objects.filter(email_hash=email_hash(supporter.email)).first()
    return {
        "supporter": {
            "email": supporter.email,
            "first_name": supporter.first_name,
            "last_name": supporter.last_name,
            "country": str(supporter.country),
            "postcode": supporter.postcode,
            "created_at": _when(supporter.created_at),
            "updated_at": _when(supporter.updated_at),
        },
        "consents": [
            {
                "organisation": c.organisation.name,
                "given": c.given,
                "wording": c.wording,
                "source": c.source,
                "recorded_at": _when(c.created_at),
                "given_at": _when(c.given_at or c.created_at),
            }
            for c in consents
        ],
        "subscriptions": [
            {
                "list": s.mailing_list.name,
                "organisation": s.mailing_list.organisation.name,
                "status": s.status,
                "source": s.source,
                "created_at": _when(s.created_at),
                "subscribed_at": _when(s.subscribed_at),
                "unsubscribed_at": _when(s.unsubscribed_at),
            }
            for s in subscriptions
        ],
        "subscription_history": [
            {"list": e.mailing_list.name, "status": e.status, "wording": e.wording, "source": e.source, "at": _when(e.created_at)}
            for e in events
        ],
        "detail_corrections": [
            {"fields": c.fields.split(","), "source": c.source, "at": _when(c.created_at)}
            for c in supporter.changes.order_by("created_at", "id")
        ],
        "signups": [
            {
                "kind": s.kind,
                "status": s.status,
                "organisation": s.organisation.name if s.organisation else None,
                "affiliated_organisation": s.affiliate.name if s.affiliate else None,
                "lists": [m.name for m in s.mailing_lists.all()],
                "wording_shown": s.consent_wordings,
                "source": s.source,
                "created_at": _when(s.created_at),
                "confirmed_at": _when(s.confirmed_at),
            }
            for s in signups.order_by("created_at", "id")
        ],
        "memberships": [
            {"organisation": m.organisation.name, "source": m.source, "joined_at": _when(m.joined_at)}
            for m in supporter.memberships.select_related("organisation").order_by("joined_at")
        ],
        "affiliated_organisations_as_contact": [
            {"name": a.name, "kind": a.kind, "website": a.website, "status": a.status, "created_at": _when(a.created_at)}
            for a in supporter.affiliates_contacted.order_by("created_at", "id")
        ],
        "data_exports": [
            {"requested_by": d.requested_by, "created_at": _when(d.created_at), "ready_at": _when(d.ready_at)}
            for d in supporter.data_exports.order_by("created_at", "id")
        ],
        "suppression": {"reason": suppression.reason, "since": _when(suppression.created_at)} if suppression else None,
    }


def supporter_export_data(*, supporter: Supporter) -> dict:
    """Everything held about this person, from every registered app, ready for json.dumps."""
    data = {"format": EXPORT_FORMAT, "exported_at": timezone.now().isoformat()}
    data.update(_engage_export(supporter))
    for source in sources():
        data.update(source.export(supporter))
    return data


def _admin_log_scrub(supporters: QuerySet) -> None:
    """The admin's history names an object by its str(), which for a supporter is the address."""
    rows = list(supporters.values_list("pk", "email"))
    emails = [email for _, email in rows]
    supporter_type = ContentType.objects.get_for_model(Supporter)
    LogEntry.objects.filter(content_type=supporter_type, object_id__in=[str(pk) for pk, _ in rows]).update(
        object_repr="(erased)", change_message=""
    )
    LogEntry.objects.filter(object_repr__in=emails).update(object_repr="(erased)")
    # Other objects may name the address inside their str() ("confirmation to ada@…"). Each
    # search reads the whole history, so it is done for an erasure at someone's request (a
    # few people), not for the thousands the retention rule deletes in a batch.
    if len(rows) <= 20:
        for email in emails:
            LogEntry.objects.filter(object_repr__icontains=email).update(object_repr="(erased)")


def supporters_delete(*, supporters: QuerySet) -> int:
    """Delete these people and everything every app holds about them; what must outlive them
    (a signature's petition, country and postcode area) is kept by its app, anonymous.

    Call inside a transaction: the erasers and the deletion stand or fall together.
    """
    ids = list(supporters.values_list("pk", flat=True))
    supporters = Supporter.objects.filter(pk__in=ids)
    for source in sources():
        source.erase(supporters)
    # Pending affiliations were never confirmed by anyone but this person; confirmed ones are
    # the organisation's, and lose only their contact (SET_NULL).
    Affiliate.objects.filter(contact__in=supporters, status=Affiliate.Status.PENDING).delete()
    _admin_log_scrub(supporters)
    supporters.delete()
    return len(ids)


def supporter_erase(*, supporter: Supporter) -> None:
    """Erase a person at their request or an organiser's: their address stays only as a keyed
    hash in the suppression list, so it is never imported, subscribed or mailed again."""
    with transaction.atomic(durable=True):
        suppression_add(email=supporter.email, reason=Suppression.Reason.ERASED)
        supporters_delete(supporters=Supporter.objects.filter(pk=supporter.pk))


def supporters_delete_unattached(*, supporter_ids: list[int]) -> int:
    """Delete those of these people of whom nothing else is held: no subscription (even an
    unsubscribed one, which records a wish we must keep honouring), no consent row (the same
    for an opt-out), no membership or affiliation, no sign-up or data export under way, and
    nothing any registered app says it still holds (e.g. another signature)."""
    ids = set(
        Supporter.objects.filter(pk__in=supporter_ids)
        .exclude(pk__in=Subscription.objects.values("supporter_id"))
        .exclude(pk__in=Consent.objects.values("supporter_id"))
        .exclude(pk__in=Membership.objects.values("supporter_id"))
        .exclude(pk__in=Affiliate.objects.filter(contact__isnull=False).values("contact_id"))
        .exclude(pk__in=Signup.objects.values("supporter_id"))
        .exclude(pk__in=DataExport.objects.exclude(status=DataExport.Status.EXPIRED).values("supporter_id"))
        .values_list("pk", flat=True)
    )
    for source in sources():
        if source.holds and ids:
            ids -= source.holds(sorted(ids))
    if not ids:
        return 0
    with transaction.atomic():
        supporters_delete(supporters=Supporter.objects.filter(pk__in=ids))
    return len(ids)
