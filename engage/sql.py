"""engage's raw SQL, each statement with its ORM twin beside it.

PostgreSQL runs the statement; SQLite (the embedded default) runs the twin, which gives the
same result more slowly. A statement is here only where a benchmark needs it: the sign
surge (bench/sign.py), the subscriber import (bench/import_subscribers.py) and the fill of
missing suppression hashes before a mailing's snapshot (bench/mail.py --snapshot-only).

Every statement that writes a supporter's address writes its suppression hash with it
(Supporter.email_hash, engage.suppression.email_digest), as the ORM's writes do.
"""

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from engage.models import Supporter
from engage.suppression import email_digest


def ids_q(model, ids: list[int]) -> Q | RawSQL:
    """These rows of `model` by primary key, as a filter. Why SQL: on PostgreSQL one array
    parameter, as psycopg took longer to parse a thousand placeholders (a chunk's ids) than
    the query took to run."""
    if connection.vendor == "postgresql":
        table, pk = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
        return RawSQL(f"{table}.{pk} = ANY(%s)", [list(ids)], output_field=BooleanField())
    return Q(pk__in=ids)


def supporter_insert(details: dict) -> Supporter | None:
    """Insert a supporter with these field values: the new row, or None when the address is
    already there (the unique index on lower(email) decides, so concurrent inserts are safe)."""
    details = {**details, "email_hash": email_digest(details["email"])}
    if connection.vendor != "postgresql":
        return _supporter_insert_orm(details)
    # One statement and no savepoint on the path a surge of new signers takes.
    now = timezone.now()
    fields = [f for f in Supporter._meta.concrete_fields if not f.primary_key]
    values = []
    for field in fields:
        if field.attname in details:
            value = details[field.attname]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        else:
            value = field.get_default()
        values.append(field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(Supporter._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    returning = ", ".join(connection.ops.quote_name(f.column) for f in Supporter._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ((lower(email))) DO NOTHING RETURNING {returning}",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Supporter.from_db(connection.alias, [f.attname for f in Supporter._meta.concrete_fields], row)


def _supporter_insert_orm(details: dict) -> Supporter | None:
    # The savepoint lets the caller's transaction go on after the unique index refuses the row.
    try:
        with transaction.atomic():
            return Supporter.objects.create(**details)
    except IntegrityError:
        return None


def rows_insert(model, *, constants: dict, columns: dict[str, list], returning: tuple[str, ...] = ()) -> list[tuple]:
    """INSERT many rows, skipping any that would break a unique constraint: `constants` are
    the same in every row, `columns` one list per field. Returns the `returning` fields of the
    rows inserted (PostgreSQL only; elsewhere an empty list). Field defaults and auto_now are
    not applied: pass every column.

    One statement, `INSERT ... SELECT ... FROM unnest(<one array per column>) ON CONFLICT DO
    NOTHING`, whose handful of parameters cost the same for 10 rows or 10,000: bulk_create binds
    every value of every row separately.
    """
    count = len(next(iter(columns.values()), []))
    if not count:
        return []
    if model is Supporter and "email" in columns:
        columns = {**columns, "email_hash": [email_digest(email) for email in columns["email"]]}
    if connection.vendor != "postgresql":
        return _rows_insert_orm(model, constants=constants, columns=columns, count=count)
    meta, quote = model._meta, connection.ops.quote_name
    names = [*constants, *columns]
    target = ", ".join(quote(meta.get_field(name).column) for name in names)
    arrays = ", ".join(f"%s::{meta.get_field(name).db_type(connection)}[]" for name in columns)
    aliases = [f"c{i}" for i in range(len(columns))]
    select = ", ".join(["%s"] * len(constants) + [f"t.{alias}" for alias in aliases])
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({target}) SELECT {select} FROM unnest({arrays}) AS t({', '.join(aliases)}) "
        "ON CONFLICT DO NOTHING"
    )
    if returning:
        sql += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in constants.items()
    ] + [list(values) for values in columns.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def _rows_insert_orm(model, *, constants: dict, columns: dict[str, list], count: int) -> list[tuple]:
    # SQLite has no arrays to unnest; bulk_create returns no ids with ignore_conflicts.
    meta = model._meta
    fixed = {meta.get_field(name).attname: value for name, value in constants.items()}
    model.objects.bulk_create(
        [model(**fixed, **{meta.get_field(name).attname: values[i] for name, values in columns.items()}) for i in range(count)],
        ignore_conflicts=True,
    )
    return []


def supporters_email_hash_write(rows: list[tuple[int, str, bytes]]) -> int:
    """Store each (supporter id, address, hash) where the row still has that address and no
    hash: an address changed since it was read keeps no hash of the old one. Returns how many
    rows were written."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        return _supporters_email_hash_write_orm(rows)
    # One statement for a batch: a fill of a million rows is 50 statements, not a million.
    meta, quote = Supporter._meta, connection.ops.quote_name
    ids, emails, digests = zip(*rows, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS supporter SET email_hash = t.digest "
            f"FROM unnest(%s::{meta.pk.db_type(connection)}[], %s::text[], %s::bytea[]) AS t(id, email, digest) "
            f"WHERE supporter.id = t.id AND supporter.email = t.email AND supporter.email_hash IS NULL",
            [list(ids), list(emails), list(digests)],
        )
        return cursor.rowcount


def _supporters_email_hash_write_orm(rows: list[tuple[int, str, bytes]]) -> int:
    return sum(
        Supporter.objects.filter(pk=pk, email=email, email_hash__isnull=True).update(email_hash=digest)
        for pk, email, digest in rows
    )
