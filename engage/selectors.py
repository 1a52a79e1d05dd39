"""engage's reads: supporters and their links, the consent ledger, the preference page, a
person's data for an export or an erasure, partners' supporters, and a subscriber import's
batch. Nothing here writes (engage.services does)."""

import contextlib
import itertools
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Collate, Lower
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
from engage.normalise import (
    email_fold_aliases,
    email_fold_aliases_pattern,
    email_normalise,
    normalise_email,
    normalise_postcode,
)
from engage.sql import ids_q
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


# --- Searching supporters (the organisers' workspace) --------------------------------------------
# Every search is one or more prefix matches, each read in the order of its index
# (migration 0010, PostgreSQL) and stopped after SEARCH_LIMIT + 1 rows: a search reads a bounded
# number of index entries however many of a million supporters match. The organiser is told when
# there were more, and narrows the search.

SEARCH_LIMIT = 1000
SEARCH_CANDIDATES = 10 * SEARCH_LIMIT  # index entries read per prefix at most, whatever the scope
SEARCH_FIELDS = ("name", "email", "postcode")
_POSTCODE_LIKE = re.compile(r"[A-Z]{1,2}[0-9]|BFPO|GIR")


@dataclass(frozen=True)
class SupporterSearch:
    field: str  # "" for no query (the newest supporters), else one of SEARCH_FIELDS
    ids: list[int]  # the matches in display order, at most SEARCH_LIMIT
    more: bool  # whether there were more matches than SEARCH_LIMIT
    cut: bool = False  # whether SEARCH_CANDIDATES were read before SEARCH_LIMIT were found: there may be more


def _search_key(expression):
    # The indexes are COLLATE "C" on PostgreSQL; SQLite's default collation is already bytewise.
    return Collate(expression, "C") if connection.vendor == "postgresql" else expression


def supporter_search_field(query: str) -> str:
    """The field a query most likely means: an address has an @, a postcode starts like one
    (letters then a digit, or BFPO), anything else is a name."""
    text = query.strip()
    if "@" in text:
        return "email"
    if _POSTCODE_LIKE.match(re.sub(r"\s+", "", text).upper()):
        return "postcode"
    return "name"


def _email_prefixes(query: str) -> set[str]:
    """The stored spelling of what was typed (engage.normalise.email_normalise: upper-case, NFD
    and punycode spellings are one address), and the plainly lower-cased text for a partial
    address the normaliser refuses ("ada@")."""
    prefixes = {normalise_email(query)}
    with contextlib.suppress(ValueError):
        prefixes.add(email_normalise(query))
    return {p for p in prefixes if p}


def _postcode_prefixes(query: str) -> set[str]:
    spaced = re.sub(r"\s+", " ", unicodedata.normalize("NFC", query).strip().upper())
    prefixes = {spaced}
    with contextlib.suppress(ValidationError):
        prefixes.add(normalise_postcode(query, "GB"))  # "s702ab" is stored as "S70 2AB"
    return {p for p in prefixes if p}


def _name_conditions(query: str) -> list[tuple[str, Q]]:
    """One word: a first or a last name starting with it. Several: the first word begins the
    first name and the rest the last name, or the whole begins either ("Mary Ann", "van Dyke")."""
    words = unicodedata.normalize("NFC", query).lower().split()
    if not words:
        return []
    whole = " ".join(words)
    conditions = [("first", Q(first_key__startswith=whole)), ("last", Q(last_key__startswith=whole))]
    if len(words) > 1:
        conditions.append(("first", Q(first_key__startswith=words[0], last_key__startswith=" ".join(words[1:]))))
    return conditions


def _search_reads(supporters: QuerySet[Supporter], query: str, field: str) -> tuple[str, QuerySet, list[tuple[Q, str]]]:
    """(the field searched, the supporters with the index keys annotated, [(a prefix match, the key it walks)])."""
    field = field if field in SEARCH_FIELDS else supporter_search_field(query)
    if field == "email":
        keyed = supporters.annotate(key=_search_key(Lower("email")))
        return field, keyed, [(Q(key__startswith=p), "key") for p in sorted(_email_prefixes(query))]
    if field == "postcode":
        keyed = supporters.annotate(key=_search_key(F("postcode")))
        return field, keyed, [(Q(key__startswith=p), "key") for p in sorted(_postcode_prefixes(query))]
    keyed = supporters.annotate(first_key=_search_key(Lower("first_name")), last_key=_search_key(Lower("last_name")))
    return field, keyed, [(condition, f"{index}_key") for index, condition in _name_conditions(query)]


_SEARCH_ORDER = {
    "email": ("email", "pk"),
    "postcode": ("postcode", "last_name", "first_name", "pk"),
    "name": ("last_name", "first_name", "pk"),
}


def _sort_key(row: tuple) -> tuple:
    return tuple(value.lower() if isinstance(value, str) else value for value in row)


def _candidates(rows: QuerySet, scope: QuerySet[Supporter], order: tuple[str, ...]) -> tuple[list[int], bool, bool]:
    """(up to SEARCH_LIMIT ids of `rows` in `scope`, whether there were more, whether the read
    stopped at SEARCH_CANDIDATES before finding them all). `rows` is not scoped, so the database
    walks the index in `order` and stops; the scope (a partner's opt-ins: a semi-join the planner
    misjudges inside such a walk, and sorts instead) is then checked for each batch of ids alone."""
    scoped = bool(scope.query.where)  # the host's scope is everyone: nothing to check
    ordered = rows.order_by(*order).values_list("pk", flat=True)
    found: list[int] = []
    offset = 0
    while offset < SEARCH_CANDIDATES:
        batch = list(ordered[offset : offset + SEARCH_LIMIT + 1])
        offset += len(batch)
        if scoped and batch:
            in_scope = set(scope.filter(ids_q(Supporter, batch)).values_list("pk", flat=True))
            found.extend(pk for pk in batch if pk in in_scope)
        else:
            found.extend(batch)
        if len(found) > SEARCH_LIMIT:
            return found[:SEARCH_LIMIT], True, False
        if len(batch) <= SEARCH_LIMIT:
            return found, False, False
    return found, False, True


def supporters_search(*, supporters: QuerySet[Supporter], query: str, field: str = "") -> SupporterSearch:
    """Those of `supporters` (the workspace's people) matching `query` in `field` (guessed when
    empty), by prefix: the address as stored (normalised), the postcode, or the names. Without
    a query: the newest. At most SEARCH_LIMIT, in the order of the field (address, postcode,
    last name, first name; newest first without a query)."""
    query = query.strip()
    everyone = Supporter.objects.all()
    if not query:
        ids, more, cut = _candidates(everyone, supporters, ("-pk",))
        return SupporterSearch(field="", ids=ids, more=more, cut=cut)
    field, keyed, reads = _search_reads(everyone, query, field)
    found: set[int] = set()
    more = cut = False
    for condition, key in reads:
        # Ordered by the index's own key (and id), so the database walks the index and stops.
        ids, read_more, read_cut = _candidates(keyed.filter(condition), supporters, (key, "pk"))
        found.update(ids)
        more, cut = more or read_more, cut or read_cut
    if not found:
        return SupporterSearch(field=field, ids=[], more=False, cut=cut)
    rows = sorted(Supporter.objects.filter(pk__in=found).values_list(*_SEARCH_ORDER[field]), key=_sort_key)
    ids = [row[-1] for row in rows]
    more = more or len(ids) > SEARCH_LIMIT
    return SupporterSearch(field=field, ids=ids[:SEARCH_LIMIT], more=more, cut=cut and not more)


def supporters_search_all(*, supporters: QuerySet[Supporter], query: str, field: str = "") -> QuerySet[Supporter]:
    """The same matches as supporters_search without its limit, for a CSV of them (streamed)."""
    query = query.strip()
    if not query:
        return supporters
    _field, keyed, reads = _search_reads(supporters, query, field)
    wanted = Q(pk__in=[])
    for condition, _key in reads:
        wanted |= condition
    return keyed.filter(wanted)


def supporters_folding_to(mailboxes: set[str]) -> dict[int, str]:
    """{supporter id: mailbox} for the supporters whose address folds to one of these mailboxes
    (engage.normalise.email_fold_aliases: "+tags" off, and Gmail's dots). Read through the
    search index (migration 0010) as a few prefix ranges per mailbox, each then matched exactly:
    the local part for most domains ("ada" for ada@ and ada+1@), and for Gmail its first five
    letters with every placing of dots between them ("ada" gives "ada", "a.da", "ad.a",
    "a.d.a"), so a million supporters are never read one by one. (Gmail addresses with two
    dots in a row among their first five letters are not found; Gmail refuses to create them.)"""
    if not mailboxes:
        return {}
    wanted = Q(pk__in=[])
    for mailbox in mailboxes:
        local, _, domain = mailbox.rpartition("@")
        if not local:
            continue
        if domain == "gmail.com":
            head = local[:5]
            prefixes = {head[0] + "".join(("." if dot else "") + char for dot, char in zip(dots, head[1:], strict=True))
                        for dots in itertools.product((False, True), repeat=len(head) - 1)}
        else:
            prefixes = {local}
        starts = Q(pk__in=[])
        for prefix in prefixes:
            starts |= Q(key__startswith=prefix)
        wanted |= starts & Q(email__regex=email_fold_aliases_pattern(mailbox))
    rows = Supporter.objects.annotate(key=_search_key(Lower("email"))).filter(wanted).values_list("pk", "email")
    return {pk: folded for pk, email in rows if (folded := email_fold_aliases(email)) in mailboxes}
