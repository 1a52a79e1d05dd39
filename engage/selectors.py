"""engage's reads: supporters and their links, the consent ledger, the preference page, a
person's data for an export or an erasure, partners' supporters, and a subscriber import's
batch. Nothing here writes (engage.services does)."""

import json
from collections.abc import Iterator
from datetime import datetime

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from engage import personal_data
from engage.models import (
    Affiliate,
    Consent,
    DataExport,
    MailingList,
    Membership,
    Organisation,
    PartnerNotice,
    Signup,
    Subscription,
    Supporter,
    Suppression,
)
from engage.normalise import normalise_email
from engage.suppression import email_hash


def supporters_by_email(email: str):
    """The supporter with this address (as a queryset), found through the unique index on
    lower(email): a plain `email = …` cannot use that index and reads the whole table."""
    return Supporter.objects.alias(email_lower=Lower("email")).filter(email_lower=normalise_email(email))


def supporter_by_link_nonce(nonce: str) -> Supporter | None:
    return Supporter.objects.filter(link_nonce=nonce).first()


def mailing_list_by_slug(slug: str) -> MailingList | None:
    return MailingList.objects.filter(slug=slug).first()


def organisation_by_slug(slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).first()


def signup_by_confirm_nonce(nonce: str) -> Signup | None:
    return Signup.objects.select_related("supporter", "organisation", "affiliate").filter(confirm_nonce=nonce).first()


def data_export_ready(nonce: str) -> DataExport | None:
    """The export with this download nonce, if it is ready and its link has not expired."""
    return DataExport.objects.filter(download_nonce=nonce, status=DataExport.Status.READY, expires_at__gt=timezone.now()).first()


def consent_current(*, supporter: Supporter, organisation: Organisation) -> bool:
    """True when the latest ledger row for this pair is an opt-in."""
    latest = (
        Consent.objects.filter(supporter=supporter, organisation=organisation)
        .order_by("-created_at", "-id")
        .values_list("given", flat=True)
        .first()
    )
    return bool(latest)


def consents_current(*, supporter: Supporter) -> dict[int, bool]:
    """{organisation id: whether the latest row is an opt-in}, for every organisation this
    person has a ledger row for. One person's ledger is short: read it whole."""
    current: dict[int, bool] = {}
    rows = Consent.objects.filter(supporter=supporter).order_by("created_at", "id").values_list("organisation_id", "given")
    for organisation_id, given in rows:
        current[organisation_id] = given
    return current


def host_organisations():
    return Organisation.objects.filter(kind=Organisation.Kind.HOST)


def host_organisation() -> Organisation | None:
    """The coalition that runs this site: the join form joins it."""
    return host_organisations().order_by("pk").first()


def public_lists():
    return MailingList.objects.filter(public=True).select_related("organisation").order_by("organisation__name", "name")


def subscribers_rows(*, mailing_lists: list[MailingList]) -> Iterator[tuple]:
    """The subscribed people of these lists, one tuple each (list slug, email, first name, last
    name, country, postcode, subscribed at, source), streamed. Suppressed addresses (bounced,
    complained, erased) are left out: a file handed to another tool must not bring them back."""
    suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
    rows = (
        Subscription.objects.filter(mailing_list__in=mailing_lists, status=Subscription.Status.SUBSCRIBED)
        .order_by("mailing_list_id", "id")
        .values_list(
            "mailing_list__slug", "supporter__email", "supporter__first_name", "supporter__last_name",
            "supporter__country", "supporter__postcode", "subscribed_at", "source",
        )
    )
    for slug, email, first, last, country, postcode, subscribed_at, source in rows.iterator(chunk_size=2000):
        if suppressed and email_hash(email) in suppressed:
            continue
        yield slug, email, first, last, country, postcode, subscribed_at.isoformat() if subscribed_at else "", source


def subscription_statuses(*, supporter: Supporter) -> dict[int, str]:
    """{list id: status} for every list this person has a subscription row for."""
    return dict(Subscription.objects.filter(supporter=supporter).values_list("mailing_list_id", "status"))


def preference_lists(*, supporter: Supporter) -> list[MailingList]:
    """The lists a person can switch on or off: the public ones, and any hidden one they are on."""
    own = Subscription.objects.filter(supporter=supporter).values("mailing_list_id")
    return list(
        (MailingList.objects.filter(public=True) | MailingList.objects.filter(pk__in=own))
        .select_related("organisation")
        .order_by("organisation__name", "name")
    )


def preference_organisations(*, supporter: Supporter, consents: dict[int, bool]) -> list[Organisation]:
    """The organisations whose consent a person can give or withdraw: the host, and any other
    they have ever given or withdrawn consent to."""
    return list(
        (host_organisations() | Organisation.objects.filter(pk__in=list(consents))).distinct().order_by("kind", "name")
    )


def is_unsubscribed(*, supporter: Supporter, mailing_list: MailingList | None, organisation: Organisation | None = None) -> bool:
    """Whether an unsubscribe link's wish is on record: an unsubscribed row for the list; or
    (no list) every list of the organisation (None: of the host) off and an opt-out as the
    latest consent to it. Never having joined is not on record: a page that said
    "unsubscribed" then would promise what nothing enforces."""
    if mailing_list is not None:
        return Subscription.objects.filter(
            supporter=supporter, mailing_list=mailing_list, status=Subscription.Status.UNSUBSCRIBED
        ).exists()
    organisations = [organisation] if organisation is not None else list(host_organisations())
    active = Subscription.objects.filter(
        supporter=supporter, status__in=[Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING],
        mailing_list__organisation__in=organisations,
    )
    if active.exists():
        return False
    current = consents_current(supporter=supporter)
    return all(current.get(each.pk) is False for each in organisations)


# --- A person's data: what an export gathers, and what still keeps them here --------------------


def supporters_unattached(*, supporter_ids: list[int]) -> set[int]:
    """Those of these people of whom nothing else is held: no subscription (even an
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
    for source in personal_data.sources():
        if source.holds and ids:
            ids -= source.holds(sorted(ids))
    return ids


def supporter_export_data(*, supporter: Supporter) -> dict:
    """Everything held about this person, from every registered app, ready for json.dumps."""
    data = {"format": personal_data.EXPORT_FORMAT, "exported_at": timezone.now().isoformat()}
    data.update(_engage_export(supporter))
    for source in personal_data.sources():
        data.update(source.export(supporter))
    return data


def supporter_export_json(*, supporter: Supporter) -> str:
    return json.dumps(supporter_export_data(supporter=supporter), indent=2, ensure_ascii=False, sort_keys=False)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _engage_export(supporter: Supporter) -> dict:
    """engage's sections of the export: the person, their ledgers, sign-ups and memberships."""
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
        **_ledgers_export(supporter),
        "signups": _signups_export(supporter),
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


def _ledgers_export(supporter: Supporter) -> dict:
    """Consents, subscriptions and their history, and the corrections of the person's details."""
    consents = supporter.consents.select_related("organisation").order_by("created_at", "id")
    subscriptions = supporter.subscriptions.select_related("mailing_list__organisation").order_by("created_at", "id")
    events = supporter.subscription_events.select_related("mailing_list").order_by("created_at", "id")
    return {
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
    }


def _signups_export(supporter: Supporter) -> list[dict]:
    signups = supporter.signups.select_related("organisation", "affiliate").prefetch_related("mailing_lists")
    return [
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
    ]


# --- Supporters a partner may receive -----------------------------------------------------------
# A partner only ever receives supporters whose latest consent row for that partner is an opt-in
# (docs/design.md, "Consent is a ledger"): the ledger's latest row is read each time, so a withdrawal written by the
# preference centre takes effect on the very next request.


def consent_latest(*, organisation: Organisation | int, supporter_ref: str = "supporter_id") -> QuerySet[Consent]:
    """For a subquery: the outer row's supporter's ledger rows for this organisation, latest first.
    Served by the index on (supporter, organisation, -created_at, -id)."""
    return Consent.objects.filter(supporter=OuterRef(supporter_ref), organisation=organisation).order_by(
        "-created_at", "-id"
    )


def partner_opt_ins_current(*, organisation: Organisation, since: datetime | None = None) -> QuerySet[Consent]:
    """The supporters whose latest consent row for this organisation is an opt-in, one row each:
    that latest row, with its supporter loaded, oldest first by (created_at, id).

    Ordering by (created_at, id) makes keyset pagination stable while new rows arrive. `since`
    keeps only opt-ins whose latest row is at or after it. A later opt-out row, or a later row of
    any kind, replaces the earlier one, so a withdrawal removes the person at once.
    """
    rows = (
        Consent.objects.filter(organisation=organisation, given=True)
        .annotate(latest_pk=Subquery(consent_latest(organisation=organisation).values("pk")[:1]))
        .filter(pk=F("latest_pk"))
        .select_related("supporter")
        .order_by("created_at", "id")
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows


def partner_notices_feed(*, organisation: Organisation, since: datetime | None = None) -> QuerySet[PartnerNotice]:
    """This organisation's notices of withdrawals and erasures, oldest first by (occurred_at,
    id) for keyset pagination (index partner_notice_feed); `since` keeps those at or after it."""
    rows = PartnerNotice.objects.filter(organisation=organisation).order_by("occurred_at", "id")
    if since is not None:
        rows = rows.filter(occurred_at__gte=since)
    return rows


# --- Subscriber imports: a batch's people, read in one query each --------------------------------


def supporter_ids_by_email(emails: list[str]) -> dict[str, int]:
    """{address: supporter id} for these normalised addresses. LOWER(email) = ANY(...) is
    served by the unique index on lower(email)."""
    if not emails:
        return {}
    return dict(
        Supporter.objects.alias(email_lower=Lower("email")).filter(email_lower__in=emails).values_list("email", "pk")
    )


def subscription_statuses_on_list(*, mailing_list: MailingList, supporter_ids: list[int]) -> dict[int, str]:
    """{supporter id: status} for those of these people with a row for this list."""
    return dict(
        Subscription.objects.filter(mailing_list=mailing_list, supporter_id__in=supporter_ids).values_list("supporter_id", "status")
    )


def consent_withdrawn_ids(*, organisation_id: int, supporter_ids: list[int]) -> set[int]:
    """Those of these people whose latest consent row for this organisation is an opt-out."""
    if not supporter_ids:
        return set()
    latest = consent_latest(organisation=organisation_id, supporter_ref="pk").values("given")[:1]
    return set(
        Supporter.objects.filter(pk__in=supporter_ids)
        .annotate(consent=Subquery(latest))
        .filter(consent=False)
        .values_list("pk", flat=True)
    )
