"""The tallies behind the workspace's figures (docs/design.md, "Figures come from tallies").

Every change of whether a signature counts (confirmed) or of what a confirmed one is tallied by
(its opt-in boxes, dropped by anonymising) calls one of the functions here in the same
transaction, after the change, with the signature's row as the transaction sees it:

- `tallies_confirmed_add`: signature_confirm, once its UPDATE moved the row to confirmed;
- `tallies_confirmed_remove`: signatures_invalidate, for the rows that were confirmed;
- `tallies_opt_ins_remove`: signatures_strip (erasure and retention), for the confirmed rows
  whose boxes it drops.

Release and hold touch no tally (neither state counts); the purge deletes only pending rows; a
supporter's deletion sets only Signature.supporter to NULL, which no tally keys on.

Each call is one `INSERT … ON CONFLICT … DO UPDATE SET n = n + excluded.n` per tally table,
with the keys in a fixed order (table, then key), so two transactions never wait on each other's
rows in opposite orders. `tallies_rebuild` recounts a petition from its signatures, for repair.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import Coalesce, Trunc, TruncDate

from petitions.models import OptInTally, Petition, PlaceTally, Signature, SignatureTally

# What a signature is tallied by: read with .values(*TALLY_FIELDS).
TALLY_FIELDS = (
    "petition_id", "confirmed_at", "created_at", "partner_id", "source", "country", "postcode_area",
    "new_supporter", "opt_ins_pending",
)

_KEYS = {
    SignatureTally: (("petition_id", "hour", "partner_key", "source", "new_supporter"), "signatures"),
    PlaceTally: (("petition_id", "day", "partner_key", "country", "postcode_area"), "signatures"),
    OptInTally: (("petition_id", "hour", "organisation_key", "partner_key"), "opt_ins"),
}
_ROWS_PER_STATEMENT = 500


def _moment(row: dict) -> datetime:
    # A confirmed signature has confirmed_at; created_at stands in should a repaired row lack it.
    return (row["confirmed_at"] or row["created_at"]).astimezone(UTC)


def _hour(row: dict) -> datetime:
    return _moment(row).replace(minute=0, second=0, microsecond=0)


def _signature_key(row: dict) -> tuple:
    return (row["petition_id"], _hour(row), row["partner_id"] or 0, row["source"], row["new_supporter"])


def _place_key(row: dict) -> tuple:
    return (row["petition_id"], _moment(row).date(), row["partner_id"] or 0, row["country"], row["postcode_area"])


def _opt_in_keys(row: dict) -> list[tuple]:
    # A box with a kind (the petition's updates) is a list subscription, not an opt-in to the organisation.
    organisations = sorted({
        box["organisation_id"] for box in row["opt_ins_pending"] or [] if box.get("organisation_id") and not box.get("kind")
    })
    return [(row["petition_id"], _hour(row), organisation, row["partner_id"] or 0) for organisation in organisations]


def _upsert(model, deltas: Counter) -> None:
    """Add each delta to its row, creating the rows missing, in key order."""
    key_fields, value_field = _KEYS[model]
    items = sorted((key, n) for key, n in deltas.items() if n)
    if not items:
        return
    opts = model._meta
    fields = [opts.get_field(name) for name in key_fields]
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    value = qn(opts.get_field(value_field).column)
    placeholders = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    for start in range(0, len(items), _ROWS_PER_STATEMENT):
        chunk = items[start : start + _ROWS_PER_STATEMENT]
        params = []
        for key, n in chunk:
            params += [field.get_db_prep_save(part, connection) for field, part in zip(fields, key, strict=True)]
            params.append(n)
        sql = (
            f"INSERT INTO {table} ({columns}, {value}) VALUES {', '.join([placeholders] * len(chunk))} "
            f"ON CONFLICT ({columns}) DO UPDATE SET {value} = {table}.{value} + excluded.{value}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _apply(rows: Iterable[dict], *, sign: int, signatures: bool = True, opt_ins: bool = True) -> None:
    by_signature, by_place, by_opt_in = Counter(), Counter(), Counter()
    for row in rows:
        if signatures:
            by_signature[_signature_key(row)] += sign
            by_place[_place_key(row)] += sign
        if opt_ins:
            for key in _opt_in_keys(row):
                by_opt_in[key] += sign
    _upsert(SignatureTally, by_signature)
    _upsert(PlaceTally, by_place)
    _upsert(OptInTally, by_opt_in)


def tallies_confirmed_add(*, signature_id: int) -> None:
    """A signature has just been confirmed in this transaction: add it to every tally."""
    _apply(Signature.objects.filter(pk=signature_id).values(*TALLY_FIELDS), sign=+1)


def tallies_confirmed_remove(*, rows: Iterable[dict]) -> None:
    """These confirmed signatures (rows of TALLY_FIELDS, read under lock) stop counting."""
    _apply(rows, sign=-1)


def tallies_opt_ins_remove(*, rows: Iterable[dict]) -> None:
    """These confirmed signatures (rows of TALLY_FIELDS, read under lock) lose their boxes."""
    _apply(rows, sign=-1, signatures=False)


def _tables_lock(*models) -> None:
    # The rebuild's count and the deletion of the old rows must see the same confirmations: every
    # writer of the tallies waits until the rebuild commits (reads go on). Tables in the order the
    # writers take their rows, so neither waits on the other in a circle.
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


def tallies_rebuild(*, petition: Petition, apps=django_apps) -> dict[str, int]:
    """Recount a petition's tallies from its signatures, replacing the rows it had. For repair
    (the tallies_rebuild command), for signatures written by other programs, and for the
    migration that made the tallies (which passes its historical `apps`). Returns how many rows
    of each tally it wrote."""
    Signature = apps.get_model("petitions", "Signature")
    SignatureTally, PlaceTally, OptInTally = (apps.get_model("petitions", m) for m in ("SignatureTally", "PlaceTally", "OptInTally"))
    confirmed = Signature.objects.filter(petition_id=petition.pk, status="confirmed").annotate(
        at=Coalesce("confirmed_at", "created_at")
    )
    with transaction.atomic():
        _tables_lock(SignatureTally, PlaceTally, OptInTally)
        for model in (SignatureTally, PlaceTally, OptInTally):
            model.objects.filter(petition_id=petition.pk).delete()
        by_hour = (
            confirmed.annotate(hour=Trunc("at", "hour", tzinfo=UTC))
            .values("hour", "partner_id", "source", "new_supporter")
            .annotate(n=Count("id"))
            .order_by()
        )
        signature_rows = [
            SignatureTally(petition_id=petition.pk, hour=r["hour"], partner_key=r["partner_id"] or 0, source=r["source"],
                           new_supporter=r["new_supporter"], signatures=r["n"])
            for r in by_hour
        ]
        by_place = (
            confirmed.annotate(day=TruncDate("at", tzinfo=UTC))
            .values("day", "partner_id", "country", "postcode_area")
            .annotate(n=Count("id"))
            .order_by()
        )
        place_rows = [
            PlaceTally(petition_id=petition.pk, day=r["day"], partner_key=r["partner_id"] or 0, country=r["country"],
                       postcode_area=r["postcode_area"], signatures=r["n"])
            for r in by_place
        ]
        opt_ins = Counter()
        boxes = confirmed.exclude(opt_ins_pending=[]).values(*TALLY_FIELDS)
        for row in boxes.iterator(chunk_size=5000):
            for key in _opt_in_keys(row):
                opt_ins[key] += 1
        opt_in_rows = [
            OptInTally(petition_id=p, hour=hour, organisation_key=organisation, partner_key=partner, opt_ins=n)
            for (p, hour, organisation, partner), n in opt_ins.items()
        ]
        SignatureTally.objects.bulk_create(signature_rows, batch_size=2000)
        PlaceTally.objects.bulk_create(place_rows, batch_size=2000)
        OptInTally.objects.bulk_create(opt_in_rows, batch_size=2000)
    return {"signatures": len(signature_rows), "places": len(place_rows), "opt_ins": len(opt_in_rows)}


def tallies_rebuild_all(*, apps=django_apps) -> int:
    """Rebuild every petition's tallies, one transaction each. Returns how many petitions."""
    petitions = list(apps.get_model("petitions", "Petition").objects.order_by("pk"))
    for petition in petitions:
        tallies_rebuild(petition=petition, apps=apps)
    return len(petitions)
