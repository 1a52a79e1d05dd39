"""Who may be sent bulk email (docs/design.md, "One recipient filter"), decided in one place.

`recipients_eligible` is the only filter between a segment and a send: the snapshot at the
start of a mailing, the check when a worker claims a chunk and the segment editor's live count
all go through it. Whatever a segment says, it drops everyone who is suppressed (hard bounce,
complaint, soft bounces, erasure, an organiser) or whose latest consent row for the sending
organisation is not an opt-in; a mailing sent on a list also drops everyone not subscribed to
that list (consent to an organisation is not consent to each of its lists).
"""

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.expressions import Func
from django.db.models.fields import BinaryField
from django.db.models.functions import FirstValue
from django.utils.translation import gettext

from engage import consent_sources, suppression
from engage.models import Consent, MailingList, Organisation, Subscription, Supporter, Suppression


class _Digest(Func):
    """One side of the suppression comparison, in the form the other side is stored in:
    `forms` maps a database vendor to its SQL for the column (as it is, elsewhere)."""

    output_field = BinaryField()
    arity = 1
    forms: dict[str, str] = {}

    def as_sql(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return self.forms.get(conn.vendor, "{}").format(sql), params


class _StoredDigest(_Digest):
    """Suppression.email_hash (hex) as bytes on PostgreSQL, decoded once per suppression row
    (the small side of the join)."""

    forms = {"postgresql": "decode({}, 'hex')"}


class _SupporterDigest(_Digest):
    """Supporter.email_hash (bytes) as lower-case hex on SQLite, the form of Suppression.email_hash."""

    forms = {"sqlite": "lower(hex({}))"}


def suppressed_q():
    """Whether the outer Supporter row's stored hash is on the suppression list. An equality
    between an expression of the supporter and one of the suppression row, so PostgreSQL hashes
    the (smaller) suppression table once and probes it: a hash anti join.

    Only stored hashes are compared: a supporter without one (written by another program) is
    not matched here. The snapshot and each claimed chunk fill the missing hashes just before
    they ask (mailings.services.sending), and a chunk never sends to a supporter still without
    one (mailings.selectors.mailings.chunk_supporters_eligible)."""
    return Exists(
        Suppression.objects.alias(digest=_StoredDigest("email_hash")).filter(
            digest=_SupporterDigest(OuterRef("email_hash"))
        )
    )


def consents_opted_in(*, organisation: Organisation) -> QuerySet[Consent]:
    """The ledger rows of everyone whose latest consent row for this organisation is an opt-in
    (docs/design.md, "Consent is a ledger"): the one definition of "opted in" for segments and sends. Further filters
    on the supporter (an OuterRef) narrow the rows before the window, which is per supporter."""
    return (
        Consent.objects.filter(organisation=organisation)
        # Every row of a person carries the `given` of their latest row (newest first by
        # (created_at, id), as the index on the ledger is ordered); the filter on it applies
        # after the window, to the latest row's value, never to the rows it is chosen from.
        .annotate(
            latest_given=Window(
                FirstValue("given"), partition_by=[F("supporter_id")], order_by=[F("created_at").desc(), F("id").desc()]
            )
        )
        .filter(latest_given=True)
    )


def opted_in_q(*, organisation: Organisation, many: bool) -> Q:
    """The consent part of the rule, on Supporter, in the query shape that suits how many
    supporters are asked about (the same rows either way: consents_opted_in).

    many: one ordered pass over the organisation's whole ledger, joined to the supporters as a
    set (a snapshot of a million: a third of its time, as one index lookup per supporter).
    Otherwise one index lookup per supporter: a claimed chunk of a few hundred must not read
    the ledger of every supporter the organisation has."""
    if many:
        return Q(pk__in=consents_opted_in(organisation=organisation).values("supporter_id"))
    return Q(Exists(consents_opted_in(organisation=organisation).filter(supporter=OuterRef("pk"))))


def subscribed_q(*, mailing_list: MailingList, many: bool) -> Q:
    """Whether the outer Supporter is subscribed (confirmed, not pending, not unsubscribed) to
    the list, in the query shape of opted_in_q. Both read the index on (mailing_list, status)."""
    subscribed = Subscription.objects.filter(mailing_list=mailing_list, status=Subscription.Status.SUBSCRIBED)
    if many:
        return Q(pk__in=subscribed.values("supporter_id"))
    return Q(Exists(subscribed.filter(supporter=OuterRef("pk"))))


def recipients_eligible(
    supporters: QuerySet[Supporter], *, organisation: Organisation, mailing_list: MailingList | None, many: bool = False
) -> QuerySet[Supporter]:
    """`supporters` less everyone this organisation may not email on this list: its subscribers
    (a subscription is consent to that list, and any withdrawal from the organisation switches
    its lists off), or, with no list, as the organisation, those whose latest consent to it is
    an opt-in; never anyone suppressed (docs/design.md, "One recipient filter"). `many`: the
    supporters are a whole segment, not a chunk (see opted_in_q)."""
    if mailing_list is not None:
        return supporters.filter(subscribed_q(mailing_list=mailing_list, many=many)).exclude(suppressed_q())
    return supporters.filter(opted_in_q(organisation=organisation, many=many)).exclude(suppressed_q())


# --- Why each recipient gets it: the footer's reason ---------------------------------------------


def list_reason(mailing_list: MailingList) -> str:
    return gettext("You are receiving this because you subscribed to %(list)s.") % {"list": mailing_list.name}


def _opt_in_reason(place: consent_sources.SourcePlace, organisation: Organisation, wording: str) -> str:
    values = {"organisation": organisation.name, "title": place.title, "wording": wording}
    if place.kind == "petition" and place.title:
        return gettext(
            "You are receiving this because you asked %(organisation)s to keep you updated when you signed "
            "the petition “%(title)s”."
        ) % values
    forms = {
        "subscribe-form": gettext("You are receiving this because you asked %(organisation)s to keep you updated when "
                                  "you signed up on its subscribe form."),
        "join-form": gettext("You are receiving this because you asked %(organisation)s to keep you updated when you "
                             "joined it."),
        "affiliate-form": gettext("You are receiving this because you asked %(organisation)s to keep you updated when "
                                  "you registered your organisation as an affiliate."),
        "preferences": gettext("You are receiving this because you asked %(organisation)s to keep you updated on your "
                               "email preferences page."),
    }
    if place.kind in forms:
        return forms[place.kind] % values
    # Anything else (an import, an organiser's entry): the words the person agreed to, as recorded.
    return gettext("You are receiving this because you agreed to hear from %(organisation)s: “%(wording)s”") % values


def recipients_reasons(
    *, organisation: Organisation, mailing_list: MailingList | None, supporter_ids: list[int]
) -> dict[int, str]:
    """{supporter id: why they get this mailing}, true for each: the list it is sent on; or,
    sent as the organisation, where their latest opt-in to it was given (the consent ledger's
    source, or its wording). One query for a chunk (and one per kind of place named, e.g. the
    petitions'), however many recipients: only eligible people are asked about, whose latest
    row is that opt-in."""
    if mailing_list is not None:
        reason = list_reason(mailing_list)
        return dict.fromkeys(supporter_ids, reason)
    latest: dict[int, tuple[str, str]] = {}
    rows = (
        Consent.objects.filter(organisation=organisation, supporter_id__in=supporter_ids, given=True)
        .order_by("created_at", "id")
        .values_list("supporter_id", "source", "wording")
    )
    for supporter_id, source, wording in rows:
        latest[supporter_id] = (source, wording)
    places = consent_sources.source_places(source for source, _ in latest.values())
    texts: dict[tuple[str, str], str] = {}
    reasons = {}
    for supporter_id, (source, wording) in latest.items():
        if (source, wording) not in texts:
            texts[source, wording] = _opt_in_reason(places[source], organisation, wording)
        reasons[supporter_id] = texts[source, wording]
    return reasons


def address_suppressed(email: str) -> bool:
    """The suppression part of the rule for one address that need not be a supporter (the
    organiser's own address, for a test send)."""
    return suppression.is_suppressed(email)
