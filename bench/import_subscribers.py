"""Subscriber import benchmark: `manage.py import_subscribers` against PostgreSQL COPY.

Run by `make bench`, or directly: .venv/bin/python bench/import_subscribers.py [--rows 100000]

What it does, all on this machine:

1. Writes a Mailchimp-shaped CSV of --rows people (the 22 columns of an audience export, every
   address different, UK postcodes in the Address column) to a temporary directory.
2. Recreates the PostgreSQL database `muster_bench_import`, migrates it, and creates an
   organisation and the mailing list `bench-list`.
3. Ours: runs `manage.py import_subscribers <file> --list bench-list --wording ...
   --consent-date ... --column postcode=Address --no-progress` as a new process and times it
   from start to exit (Django's start-up included): every row read, validated, checked against
   the suppression list and written as a supporter, a subscription, a consent row and a
   subscription ledger row.
4. Reference, in the same run: PostgreSQL's COPY of the same file into a scratch table of 22
   text columns (psycopg's COPY FROM STDIN) - the floor for getting those bytes into the
   database, with no validation, no deduplication and no ledger.
5. Checks what was stored (rows in each table equal to --rows), prints both times, rows per
   second and the ratio, then times a second run of the same import (nothing new to write).
   The database is dropped at the end, also on Ctrl-C or an error. Exits 1 if a check fails
   or ours takes a minute or more.

Results are also written as JSON to bench/results/ (ignored by git).
"""

import argparse
import csv
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.common import ROOT, admin_connect, database_drop, database_recreate, log, manage, results_write  # noqa: E402

LIST_SLUG = "bench-list"
MAILCHIMP_HEADER = [
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
    "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION",
    "LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS",
]
FIRST = ["Ada", "Bea", "Cyril", "Dev", "Eilidh", "Femi", "Gwen", "Harpreet", "Ioan", "Jo", "Kwame", "Lena", "Mo", "Niamh"]
LAST = ["Lovelace", "Brontë", "Okafor", "Patel", "Jones", "Murphy", "Nowak", "Khan", "Evans", "O'Neill", "Smith", "Wright"]
POSTCODES = ["S70 2AB", "LS1 4AP", "M1 1AE", "SW1A 1AA", "CF10 1EP", "EH1 1YZ", "BT1 5GS", "B1 1BB", "NE1 7RU", "L1 8JQ"]
SETUP = f"""
from engage.models import MailingList, Organisation
org = Organisation.objects.create(name="Bench Coalition", slug="bench-coalition", kind=Organisation.Kind.HOST)
MailingList.objects.create(organisation=org, name="Bench list", slug={LIST_SLUG!r})
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db-name", default="muster_bench_import")
    parser.add_argument("--limit-seconds", type=float, default=60.0, help="Fail if ours takes this long or longer.")
    return parser.parse_args()


def csv_write(path: Path, rows: int) -> None:
    chance = random.Random(8058)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MAILCHIMP_HEADER)
        for n in range(rows):
            first, last = chance.choice(FIRST), chance.choice(LAST)
            writer.writerow([
                f"{first.lower()}.{n}@example.org", first, last, chance.choice(POSTCODES), "", "2",
                "2019-03-01 10:00:00", "", "2019-03-01 10:05:00", "", "", "", "", "", "", "GB", "",
                "2020-01-01 00:00:00", str(n), f"e{n:x}", "", "",
            ])


def manage_timed(env: dict, *argv: str) -> float:
    """manage.py in a new process; seconds from start to exit (Django's start-up included)."""
    started = time.perf_counter()
    manage(env, *argv)
    return time.perf_counter() - started


def counts(db: psycopg.Connection) -> dict:
    tables = {
        "supporters": "engage_supporter",
        "subscriptions": "engage_subscription",
        "consents": "engage_consent",
        "subscription_events": "engage_subscriptionevent",
    }
    return {name: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for name, table in tables.items()}


def copy_reference(db: psycopg.Connection, path: Path) -> tuple[float, int]:
    columns = ", ".join(f'"c{i}" text' for i in range(len(MAILCHIMP_HEADER)))
    db.execute(f"CREATE TABLE bench_copy_scratch ({columns})")
    started = time.perf_counter()
    with db.cursor() as cursor:
        with cursor.copy("COPY bench_copy_scratch FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
    db.commit()
    elapsed = time.perf_counter() - started
    copied = db.execute("SELECT count(*) FROM bench_copy_scratch").fetchone()[0]
    return elapsed, copied


def machine(args) -> dict:
    with admin_connect(args.postgres) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "python": platform.python_version(), "postgresql": server, "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def import_env(args) -> dict:
    """manage.py's environment: the scratch database, no Redis (an import needs no cache)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/{args.db_name}",
        "DEBUG": "False",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    return env


def measure(args, env: dict, path: Path) -> dict:
    """In a new database: ours, the COPY reference and ours again, timed, and what each stored.
    The database is dropped at the end, also on an error."""
    try:
        database_recreate(args.postgres, args.db_name)
        manage(env, "migrate", "--noinput")
        manage(env, "shell", "-c", SETUP)
        log("Ours: manage.py import_subscribers ...")
        command = [
            "import_subscribers", str(path), "--list", LIST_SLUG, "--wording", "Bench wording",
            "--consent-date", "2019-03-01", "--column", "postcode=Address", "--no-progress",
        ]
        ours = manage_timed(env, *command)
        with psycopg.connect(env["DATABASE_URL"]) as db:
            stored = counts(db)
            log("Reference: COPY into a scratch table ...")
            reference, copied = copy_reference(db, path)
        log("Ours again: the same file (nothing new to write) ...")
        again = manage_timed(env, *command)
        with psycopg.connect(env["DATABASE_URL"]) as db:
            stored_after = counts(db)
    finally:
        database_drop(args.postgres, args.db_name)
    return {"ours": ours, "stored": stored, "reference": reference, "copied": copied, "again": again, "stored_after": stored_after}


def result_of(args, m: dict) -> dict:
    checks = {
        "every row stored once in each table": all(value == args.rows for value in m["stored"].values()),
        "COPY stored every row": m["copied"] == args.rows,
        "a second run writes nothing": m["stored_after"] == m["stored"],
        f"ours under {args.limit_seconds:.0f} s": m["ours"] < args.limit_seconds,
    }
    return {
        "rows": args.rows,
        "ours_seconds": round(m["ours"], 2),
        "ours_rows_per_second": round(args.rows / m["ours"]),
        "copy_seconds": round(m["reference"], 2),
        "copy_rows_per_second": round(args.rows / m["reference"]),
        "ratio_ours_to_copy": round(m["ours"] / m["reference"], 1),
        "second_run_seconds": round(m["again"], 2),
        "stored": m["stored"],
        "checks": checks,
        "machine": machine(args),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def report(args, m: dict, checks: dict) -> None:
    ours, reference = m["ours"], m["reference"]
    log("")
    log(f"rows                         {args.rows:>10,}")
    log(f"ours: import_subscribers     {ours:>9.2f} s  {args.rows / ours:>10,.0f} rows/s  (process start to exit)")
    log(f"reference: PostgreSQL COPY   {reference:>9.2f} s  {args.rows / reference:>10,.0f} rows/s")
    log(f"ratio ours / COPY            {ours / reference:>9.1f} x")
    log(f"ours again (nothing new)     {m['again']:>9.2f} s")
    log(f"stored                       {m['stored']}")
    for name, passed in checks.items():
        log(f"{'PASS' if passed else 'FAIL'}  {name}")


def main() -> int:
    args = parse_args()
    env = import_env(args)
    with tempfile.TemporaryDirectory(prefix="muster-bench-import-") as tmp:
        path = Path(tmp) / "mailchimp-export.csv"
        log(f"Writing {args.rows:,} Mailchimp-shaped rows ...")
        csv_write(path, args.rows)
        log(f"  {path.stat().st_size / 1e6:.1f} MB")
        measured = measure(args, env, path)
    result = result_of(args, measured)
    report(args, measured, result["checks"])
    out = results_write(f"import-subscribers-{dt.datetime.now():%Y%m%d-%H%M%S}", result)
    log(f"written to {out.relative_to(ROOT)}")
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
