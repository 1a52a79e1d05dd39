"""Who may be sent bulk email (docs/design.md, "One recipient filter"), decided in one place.

`recipients_eligible` is the only filter between a segment and a send: the snapshot at the
start of a mailing, the check when a worker claims a chunk, test sends and mobilisation
mailings all go through it. Whatever a segment says, it drops everyone who is suppressed
(hard bounce, complaint, soft bounces, erasure, an organiser), who left the mailing's list,
or whose latest consent row for the sending organisation is not an opt-in.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.expressions import Func
from django.db.models.fields import BinaryField, CharField
from django.db.models.functions import FirstValue, Lower, Trim

from engage import suppression
from engage.hashing import hmac_pads
from engage.models import Consent, MailingList, Organisation, Subscription, Supporter, Suppression


class EmailHash(Func):
    """engage.suppression.email_hash computed in SQL, so "is this supporter suppressed?" is an
    index lookup on Suppression.email_hash inside the same query as the segment. On PostgreSQL,
    HMAC-SHA256 from the key's pads (engage.hashing) and the built-in sha256(), as the trigger
    that stores Supporter.email_hash computes it (engage migration 0005)."""

    output_field = CharField()
    arity = 1

    def __init__(self, expression, **extra):
        super().__init__(Lower(Trim(expression)), **extra)

    def _digest_postgresql(self, compiler) -> tuple[str, list]:
        inner, outer = hmac_pads(settings.SUPPRESSION_HASH_KEY.encode())
        sql, params = compiler.compile(self.source_expressions[0])
        return f"sha256(%s::bytea || sha256(%s::bytea || convert_to({sql}, 'UTF8')))", [outer, inner, *params]

    def as_postgresql(self, compiler, conn, **extra):
        sql, params = self._digest_postgresql(compiler)
        return f"encode({sql}, 'hex')", params

    def as_sqlite(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"muster_email_hash({sql})", params

    def as_sql(self, compiler, conn, **extra):  # other databases: not supported
        raise NotImplementedError("EmailHash needs PostgreSQL or SQLite")


class _EmailDigest(EmailHash):
    """EmailHash as its raw 32 bytes on PostgreSQL (what Supporter.email_hash holds)."""

    output_field = BinaryField()

    def as_postgresql(self, compiler, conn, **extra):
        return self._digest_postgresql(compiler)


class _SupporterDigest(Func):
    """A supporter's suppression hash: on PostgreSQL the stored Supporter.email_hash, or, where
    it is empty (an address written by a connection without the key, not yet filled in by
    beat), the address hashed there and then; elsewhere always the latter. Compared with
    _StoredDigest."""

    output_field = BinaryField()

    def __init__(self, email_hash, email, **extra):
        super().__init__(email_hash, _EmailDigest(email), **extra)

    def as_postgresql(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, function="COALESCE", **extra)

    def as_sqlite(self, compiler, conn, **extra):
        return compiler.compile(self.source_expressions[1])


class _StoredDigest(Func):
    """Suppression.email_hash as bytes on PostgreSQL (decoded once per suppression row, the
    small side of the join), as stored elsewhere."""

    output_field = BinaryField()
    arity = 1

    def as_postgresql(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"decode({sql}, 'hex')", params

    def as_sql(self, compiler, conn, **extra):
        return compiler.compile(self.source_expressions[0])


def register_sqlite_functions(sender, connection, **kwargs):
    """connection_created receiver: SQLite gets the hash as a Python function."""
    if connection.vendor == "sqlite":
        key = settings.SUPPRESSION_HASH_KEY.encode()
        connection.connection.create_function(
            "muster_email_hash", 1,
            lambda email: None if email is None else hmac.new(key, email.encode(), hashlib.sha256).hexdigest(),
            deterministic=True,
        )


def suppressed_q():
    """Whether the outer Supporter row's address is suppressed. An equality between an
    expression of the supporter and one of the suppression row, so PostgreSQL hashes the
    (smaller) suppression table once and probes it: a hash anti join."""
    return Exists(
        Suppression.objects.alias(digest=_StoredDigest("email_hash")).filter(
            digest=_SupporterDigest(OuterRef("email_hash"), OuterRef("email"))
        )
    )


def supporters_email_hash_fill(*, limit: int = 20_000) -> int:
    """Fill Supporter.email_hash for up to `limit` supporters that lack it (beat does this every
    tick). Muster's own connections store each hash as the row is written (a trigger, given the
    key when the connection starts); this is the fallback for rows written by a connection
    without the key (psql, a pooler that drops startup options, SUPPRESSION_HASH_ON_WRITE off).
    One UPDATE computes each hash from the row it writes, so an address changed meanwhile is
    never given the old one's hash. Returns how many were filled; only PostgreSQL uses the column."""
    if connection.vendor != "postgresql":
        return 0
    todo = Supporter.objects.filter(email_hash__isnull=True).order_by("pk").values("pk")[:limit]
    return Supporter.objects.filter(pk__in=Subquery(todo)).update(email_hash=_EmailDigest("email"))


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


def recipients_eligible(
    supporters: QuerySet[Supporter], *, organisation: Organisation, mailing_list: MailingList | None, many: bool = False
) -> QuerySet[Supporter]:
    """`supporters` less everyone this organisation may not email on this list. `many`: the
    supporters are a whole segment, not a chunk (see opted_in_q)."""
    eligible = supporters.filter(opted_in_q(organisation=organisation, many=many)).exclude(suppressed_q())
    if mailing_list is not None:
        eligible = eligible.exclude(
            Exists(
                Subscription.objects.filter(
                    supporter=OuterRef("pk"), mailing_list=mailing_list, status=Subscription.Status.UNSUBSCRIBED
                )
            )
        )
    return eligible


def address_suppressed(email: str) -> bool:
    """The suppression part of the rule for one address that need not be a supporter (the
    organiser's own address, for a test send)."""
    return suppression.is_suppressed(email)
