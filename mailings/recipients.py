"""Who may be sent bulk email (DESIGN rule 4), decided in one place.

`recipients_eligible` is the only filter between a segment and a send: the snapshot at the
start of a mailing, the check when a worker claims a chunk, test sends and mobilisation
mailings all go through it. Whatever a segment says, it drops everyone who is suppressed
(hard bounce, complaint, soft bounces, erasure, an organiser), who left the mailing's list,
or whose latest consent row for the sending organisation is not an opt-in.
"""

import hashlib
import hmac

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import Func
from django.db.models.fields import CharField
from django.db.models.functions import Coalesce, Lower, Trim

from engage import suppression
from engage.models import Consent, MailingList, Organisation, Subscription, Supporter, Suppression


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer keys (RFC 2104), so the database can compute the same
    keyed hash as engage.suppression.email_hash with its built-in sha256()."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class EmailHash(Func):
    """engage.suppression.email_hash computed in SQL, so "is this supporter suppressed?" is an
    index lookup on Suppression.email_hash inside the same query as the segment."""

    output_field = CharField()
    arity = 1

    def __init__(self, expression, **extra):
        super().__init__(Lower(Trim(expression)), **extra)

    def as_postgresql(self, compiler, conn, **extra):
        inner, outer = _hmac_pads(settings.SUPPRESSION_HASH_KEY.encode())
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"encode(sha256(%s::bytea || sha256(%s::bytea || convert_to({sql}, 'UTF8'))), 'hex')",
            [outer, inner, *params],
        )

    def as_sqlite(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"muster_email_hash({sql})", params

    def as_sql(self, compiler, conn, **extra):  # other databases: not supported
        raise NotImplementedError("EmailHash needs PostgreSQL or SQLite")


def register_sqlite_functions(sender, connection, **kwargs):
    """connection_created receiver: SQLite gets the hash as a Python function."""
    if connection.vendor == "sqlite":
        key = settings.SUPPRESSION_HASH_KEY.encode()
        connection.connection.create_function(
            "muster_email_hash", 1,
            lambda email: None if email is None else hmac.new(key, email.encode(), hashlib.sha256).hexdigest(),
            deterministic=True,
        )


def suppressed_q(email_field: str = "email"):
    return Exists(Suppression.objects.filter(email_hash=EmailHash(OuterRef(email_field))))


def recipients_eligible(
    supporters: QuerySet[Supporter], *, organisation: Organisation, mailing_list: MailingList | None
) -> QuerySet[Supporter]:
    """`supporters` less everyone this organisation may not email on this list."""
    latest_consent = (
        Consent.objects.filter(supporter=OuterRef("pk"), organisation=organisation)
        .order_by("-created_at", "-id")
        .values("given")[:1]
    )
    eligible = supporters.filter(Coalesce(Subquery(latest_consent), Value(False))).exclude(suppressed_q())
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
