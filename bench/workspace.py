"""Benchmark: the organisers' workspace answers a petition's page (its time chart and every
breakdown) and the overview in under 300 ms with 1,000,000 signatures on a petition and
1,000,000 supporters, from the tallies (docs/design.md, "Figures come from tallies"); the count
API, on the same server in the same run, is the reference.

What it does:

1. Recreates the PostgreSQL database muster_bench_workspace and empties Redis db 13, migrates,
   collects static files, and sets up a host, four partners co-sponsoring the bench petition, five
   other open petitions, two past mailings (markers on the time chart), an organiser of the host
   and a person of one partner, each with a logged-in session.
2. Inserts --supporters supporters and one signature each on the bench petition with
   generate_series (three weeks of signatures, a third of them in a surge after a mailing a week
   ago; 90% confirmed, the rest pending, held or invalid; four partners and none, eight source
   codes, 121 postcode areas, 3% abroad; boxes ticked for the host and the partner, and in the
   consent ledger for the confirmed), a thousand signatures on each other petition, and a
   mailing sending now to --sending of them. Then
   builds the tallies with `manage.py tallies_rebuild` (timed) and runs VACUUM ANALYZE, as
   autovacuum would after so many inserts.
3. Serves the app with gunicorn and GETs, one at a time, in alternating rounds:
     count             /api/petitions/bench-petition            (the reference)
     petition          /organise/<host>/petitions/bench-petition/
     overview          /organise/<host>/
     partner_petition  /organise/<partner>/petitions/bench-petition/
     partner_overview  /organise/<partner>/
   checking that each page's total equals the confirmed signatures counted in the database.
4. Prints each path's latency (median, p90, max) and its ratio to the count API, and PASS/FAIL:
     each workspace page's p90 < --target-ms (300).
5. Stops gunicorn, drops the database and empties the Redis db, also on Ctrl-C or an error.

Results are also written as JSON to bench/results/ (ignored by git).
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.common import (  # noqa: E402
    SLUG,
    BenchError,
    Gunicorn,
    bench_main,
    database_drop,
    database_recreate,
    load_average_warn,
    log,
    manage,
    redis_claim,
    redis_client,
    results_write,
    round_order,
    server_env,
    sessions_read,
    sessions_script,
)

HOST, PARTNER = "bench-coalition", "bench-partner-1"
AREAS = (
    "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN EX FK "
    "FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW "
    "OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC "
    "WD WF WN WR WS WV YO ZE"
).split()
SOURCES = ["", "newsletter", "twitter", "facebook", "whatsapp", "email-1", "email-2", "leaflet"]

SETUP = f"""
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from engage.models import Organisation
from mailings.models import Mailing, Message, Segment, Sender
from petitions.models import Cosponsorship, Petition
from petitions.services.lifecycle import petition_save, petition_set_status

now = timezone.now()
host = Organisation.objects.create(name="Bench Coalition", slug={HOST!r}, kind=Organisation.Kind.HOST)
partners = [Organisation.objects.create(name=f"Bench Partner {{n}}", slug=f"bench-partner-{{n}}", kind=Organisation.Kind.PARTNER)
            for n in range(1, 5)]
def petition_open(slug, title, goal):
    petition = Petition(organisation=host, slug=slug, title=title, target="The benchmark", summary="A bench petition.",
                        body="Sign **here**.", goal=goal)
    petition_save(petition=petition)
    petition_set_status(petition=petition, status=Petition.Status.OPEN)
    Petition.objects.filter(pk=petition.pk).update(opened_at=now - timedelta(days=21))
    return petition
bench = petition_open({SLUG!r}, "Bench petition", 1500000)
for partner in partners:
    Cosponsorship.objects.create(petition=bench, organisation=partner)
for n in range(5):
    petition_open(f"other-{{n}}", f"Other petition {{n}}", 10000)
sender = Sender.objects.create(organisation=host, name="Bench", bulk_email="news@bench.test", transactional_email="hello@bench.test")
segment = Segment.objects.create(name="Everyone", definition={{"all": []}})
for name, days, status in (("Launch", 20, "sent"), ("Surge call", 7, "sent"), ("Hand-in call", 0.05, "sending")):
    message = Message.objects.create(name=name, sender=sender, subject=name, body="Sign.")
    Mailing.objects.create(name=name, message=message, segment=segment, status=status, started_at=now - timedelta(days=days))
users = get_user_model().objects
for username, organisation in (("organiser", host), ("partner", partners[0])):
    user = users.create_user(username, password="bench-pw-123")
    organisation.members.add(user)
"""

WARM_COUNT = f"""
from petitions.selectors import petition_summary
from petitions.services.counts import counts_reconcile
counts_reconcile()
assert petition_summary(slug={SLUG!r}) is not None
"""


def data_insert(db: psycopg.Connection, *, supporters: int, sending: int) -> dict:
    """Supporters, their signatures, a mailing's deliveries: generate_series, in a few statements."""
    ids = dict(db.execute("SELECT slug, id FROM engage_organisation").fetchall())
    petitions = dict(db.execute("SELECT slug, id FROM petitions_petition").fetchall())
    host, partner_ids = ids[HOST], [ids[f"bench-partner-{n}"] for n in range(1, 5)]
    started = time.monotonic()
    db.execute(
        """
        INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, created_at, updated_at)
        SELECT 'bench' || g || '@example.org', 'First' || g, 'Last', 'GB', 'S70 2AB', md5('nonce' || g), NULL,
               now() - interval '21 days' + g * (interval '21 days' / %(n)s), now()
        FROM generate_series(1, %(n)s) AS g
        """,
        {"n": supporters},
    )
    log(f"  {supporters:,} supporters in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    # A third of the signatures in the surge after the mailing a week ago (most within a day), the
    # rest spread over three weeks; areas skewed towards the first ones, as real ones are.
    db.execute(
        """
        INSERT INTO petitions_signature (petition_id, supporter_id, country, postcode_area, partner_id, status, hold_reason,
                                         source, confirm_nonce, ip_hash, new_supporter, opt_ins_pending, created_at,
                                         confirmed_at, confirmation_sent_at, reminder_sent_at, anonymised_at)
        SELECT %(petition)s, s.id, c.country,
               CASE WHEN c.country = 'GB' THEN (%(areas)s::text[])[1 + floor(power(random(), 2) * %(n_areas)s)::int] ELSE '' END,
               (%(partners)s::int[])[1 + (s.g %% 9)],  -- 5 of 9 through no partner, 1 of 9 through each partner
               CASE WHEN s.g %% 100 < 90 THEN 'confirmed' WHEN s.g %% 100 < 97 THEN 'pending'
                    WHEN s.g %% 100 < 99 THEN 'held' ELSE 'invalid' END,
               CASE WHEN s.g %% 100 BETWEEN 97 AND 98 THEN 'rate_limit' ELSE '' END,
               (%(sources)s::text[])[1 + floor(power(random(), 1.5) * %(n_sources)s)::int],
               md5('confirm' || s.g), md5('ip' || (s.g %% 50000)), s.g %% 4 <> 0,
               (CASE WHEN s.g %% 5 < 3 THEN jsonb_build_array(jsonb_build_object('organisation_id', %(host)s,
                       'wording', 'Keep me updated', 'source', 'petition:bench-petition')) ELSE '[]'::jsonb END)
               || (CASE WHEN (%(partners)s::int[])[1 + (s.g %% 9)] IS NOT NULL AND s.g %% 2 = 0
                        THEN jsonb_build_array(jsonb_build_object('organisation_id', (%(partners)s::int[])[1 + (s.g %% 9)],
                             'wording', 'Keep me updated', 'source', 'petition:bench-petition'))
                        ELSE '[]'::jsonb END),
               t.at, CASE WHEN s.g %% 100 < 90 THEN t.at + interval '4 minutes' END, t.at, NULL, NULL
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS g FROM engage_supporter) AS s
        CROSS JOIN LATERAL (SELECT CASE WHEN s.g %% 50 = 0 THEN 'FR' WHEN s.g %% 70 = 0 THEN 'IE' ELSE 'GB' END AS country) AS c
        CROSS JOIN LATERAL (SELECT CASE
            WHEN s.g %% 3 = 0 THEN now() - interval '7 days' + LEAST(-ln(1 - random() * 0.999999) * interval '6 hours', interval '6 days')
            ELSE now() - interval '21 days' + random() * interval '21 days' - interval '5 minutes' END AS at) AS t
        """,
        {
            "petition": petitions[SLUG], "areas": AREAS, "n_areas": len(AREAS), "host": host,
            "partners": [None, None, None, None, None, *partner_ids], "sources": SOURCES, "n_sources": len(SOURCES),
        },
    )  # fmt: skip
    for n in range(5):
        db.execute(
            """
            INSERT INTO petitions_signature (petition_id, supporter_id, country, postcode_area, status, hold_reason, source,
                                             confirm_nonce, ip_hash, new_supporter, opt_ins_pending, created_at, confirmed_at)
            SELECT %(petition)s, id, 'GB', 'S', 'confirmed', '', '', md5('other' || %(n)s || '-' || id), '', false, '[]',
                   now() - random() * interval '10 days', now() - random() * interval '10 days'
            FROM engage_supporter ORDER BY id LIMIT 1000
            """,
            {"petition": petitions[f"other-{n}"], "n": n},
        )
    log(f"  {supporters:,} signatures on {SLUG} and 5,000 on five others in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    # The boxes ticked reached the consent ledger when each signature was confirmed: the partner's
    # overview counts the people opted in to it from there.
    db.execute(
        """
        INSERT INTO engage_consent (supporter_id, organisation_id, given, wording, source, created_at)
        SELECT s.supporter_id, (box->>'organisation_id')::int, true, box->>'wording', box->>'source', s.confirmed_at
        FROM petitions_signature AS s, jsonb_array_elements(s.opt_ins_pending) AS box
        WHERE s.status = 'confirmed'
        """
    )
    log(f"  their opt-ins in the consent ledger in {time.monotonic() - started:.0f} s")
    mailing = db.execute("SELECT id FROM mailings_mailing WHERE status = 'sending'").fetchone()[0]
    if sending:
        db.execute(
            """
            INSERT INTO mailings_delivery (mailing_id, supporter_id, status, outcome, attempts, esp_message_id, last_error)
            SELECT %(mailing)s, id, CASE WHEN id %% 5 < 3 THEN 'sent' ELSE 'queued' END, '', 0, '', ''
            FROM engage_supporter ORDER BY id LIMIT %(n)s
            """,
            {"mailing": mailing, "n": sending},
        )
        log(f"  {sending:,} deliveries of the mailing sending now")
    # What autovacuum does after so many inserts (PostgreSQL 13 and later vacuum insert-only
    # tables too): statistics, and the visibility map that lets counts read only an index.
    db.execute("VACUUM ANALYZE")
    confirmed = db.execute(
        "SELECT count(*) FROM petitions_signature WHERE petition_id = %s AND status = 'confirmed'", [petitions[SLUG]]
    ).fetchone()[0]
    partner_confirmed = db.execute(
        "SELECT count(*) FROM petitions_signature WHERE petition_id = %s AND status = 'confirmed' AND partner_id = %s",
        [petitions[SLUG], partner_ids[0]],
    ).fetchone()[0]
    return {"confirmed": confirmed, "partner_confirmed": partner_confirmed}


def fetch(url: str, cookie: str) -> tuple[float, int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    return (time.perf_counter() - started) * 1000, status, body.decode("utf-8", "replace")


def page_total(body: str) -> int | None:
    # The petition page's headline, or the bench petition's card on the overview.
    body = body.split(f'data-petition="{SLUG}"', 1)[-1]
    found = re.search(r'data-figure="total">(\d+)<', body)
    return int(found.group(1)) if found else None


def measure(args, base: str, sessions: dict, expected: dict) -> dict:
    host_cookie, partner_cookie = sessions["organiser"], sessions["partner"]
    paths = {
        "count": (f"/api/petitions/{SLUG}", "", None),
        "petition": (f"/organise/{HOST}/petitions/{SLUG}/", host_cookie, expected["confirmed"]),
        "overview": (f"/organise/{HOST}/", host_cookie, expected["confirmed"]),
        "partner_petition": (f"/organise/{PARTNER}/petitions/{SLUG}/", partner_cookie, expected["partner_confirmed"]),
        "partner_overview": (f"/organise/{PARTNER}/", partner_cookie, expected["partner_confirmed"]),
    }
    for name, (path, cookie, total) in paths.items():
        for _ in range(args.warmup):
            ms, status, body = fetch(base + path, cookie)
        if status != 200:
            raise BenchError(f"{name}: {path} answered {status}")
        if total is not None and page_total(body) != total:
            raise BenchError(f"{name}: the page says {page_total(body)} confirmed, the database {total}")
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for i, name in enumerate(round_order(list(paths), args.rounds)):
        path, cookie, _ = paths[name]
        for _ in range(args.requests):
            ms, status, _ = fetch(base + path, cookie)
            if status != 200:
                raise BenchError(f"{name}: {path} answered {status}")
            timings[name].append(ms)
        log(f"  round {i // len(paths) + 1}/{args.rounds} {name}: median {statistics.median(timings[name][-args.requests:]):.1f} ms")
    results = {}
    for name, values in timings.items():
        ordered = sorted(values)
        results[name] = {
            "path": paths[name][0], "requests": len(values), "median_ms": statistics.median(ordered),
            "p90_ms": ordered[int(0.9 * (len(ordered) - 1))], "max_ms": ordered[-1],
        }  # fmt: skip
    return results


def report(args, results: dict, setup: dict) -> bool:
    log("")
    log(f"Workspace pages with {args.supporters:,} signatures on {SLUG} and {args.supporters:,} supporters "
        f"({setup['confirmed']:,} confirmed; tallies rebuilt in {setup['rebuild_seconds']:.1f} s: {setup['rebuild']})")
    log(f"{args.rounds} rounds of {args.requests} sequential GETs per path, alternating; gunicorn sync, {args.workers} workers")
    log("")
    log(f"{'path':<17} {'median ms':>9} {'p90 ms':>8} {'max ms':>8} {'median / count':>14}")
    reference = results["count"]["median_ms"]
    for name, r in results.items():
        r["ratio_to_count"] = r["median_ms"] / reference if reference else 0.0
        log(f"{name:<17} {r['median_ms']:>9.1f} {r['p90_ms']:>8.1f} {r['max_ms']:>8.1f} {r['ratio_to_count']:>14.1f}")
    log("")
    ok = True
    for name in ("petition", "overview", "partner_petition", "partner_overview"):
        passed = results[name]["p90_ms"] < args.target_ms
        ok &= passed
        log(f"Check {name}: p90 {results[name]['p90_ms']:.1f} ms < {args.target_ms:.0f} ms  {'PASS' if passed else 'FAIL'}")
    return ok


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--supporters", type=int, default=1_000_000, help="supporters, and signatures on the bench petition (default %(default)s)")
    add("--sending", type=int, default=100_000, help="deliveries of the mailing sending now (default %(default)s)")
    add("--rounds", type=int, default=4, help="rounds per path, the paths alternating (default %(default)s)")
    add("--requests", type=int, default=10, help="sequential GETs per path per round (default %(default)s)")
    add("--warmup", type=int, default=3, help="unmeasured GETs per path first (default %(default)s)")
    add("--workers", type=int, default=2, help="gunicorn sync workers (default %(default)s)")
    add("--target-ms", type=float, default=300.0, help="each page's p90 must be under this (default %(default)s)")
    add("--port", type=int, default=0, help="port for gunicorn (default: a free one)")
    add("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database")
    add("--db-name", default="muster_bench_workspace", help="database to create, use and drop (default %(default)s)")
    add("--redis", default="redis://127.0.0.1:6379", help="Redis server URL, no db index")
    add("--redis-db", type=int, default=13, help="Redis db index, emptied before and after (default %(default)s)")
    add("--keep-db", action="store_true", help="leave the database and Redis db in place afterwards")
    args = parser.parse_args()
    args.worker_class, args.worker_threads = "sync", 1
    return args


def run(args) -> int:
    import datetime as dt
    import shutil

    load_before = load_average_warn()
    rds = redis_client(args.redis, args.redis_db)
    tmp = Path(tempfile.mkdtemp(prefix="muster-bench-workspace-"))
    (tmp / "var").mkdir()
    server = None
    created = False
    try:
        env = server_env(args, tmp, settings="bench.settings_count")
        log(f"Recreating database {args.db_name} and emptying Redis db {args.redis_db}")
        database_recreate(args.postgres, args.db_name)
        created = True
        redis_claim(rds, args.redis_db)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "shell", "-c", SETUP)
        sessions = sessions_read(manage(env, "shell", "-c", sessions_script(["organiser", "partner"])))
        with psycopg.connect(f"{args.postgres}/{args.db_name}", autocommit=True) as db:
            log("Inserting the data")
            setup = data_insert(db, supporters=args.supporters, sending=args.sending)
            started = time.monotonic()
            setup["rebuild"] = manage(env, "tallies_rebuild", "--petition", SLUG).strip()
            setup["rebuild_seconds"] = time.monotonic() - started
            manage(env, "tallies_rebuild")
            db.execute("VACUUM ANALYZE")
            setup["tally_rows"] = db.execute("SELECT count(*) FROM petitions_signaturetally").fetchone()[0]
            postgres_version = db.execute("SHOW server_version").fetchone()[0]
        log(f"  tallies rebuilt in {setup['rebuild_seconds']:.1f} s: {setup['rebuild']}")
        manage(env, "shell", "-c", WARM_COUNT)
        server = Gunicorn(args, env, tmp)
        log(f"Starting {server.description} on {server.base}")
        server.start(f"/api/petitions/{SLUG}")
        results = measure(args, server.base, sessions, setup)
        ok = report(args, results, setup)
        stamp = dt.datetime.now().astimezone()
        out = results_write(f"workspace-{stamp:%Y%m%d-%H%M%S}", {
            "date": stamp.isoformat(timespec="seconds"), "command": " ".join([Path(sys.executable).name, "bench/workspace.py", *sys.argv[1:]]),
            "options": vars(args), "server": server.description, "load_before": load_before, "postgresql": postgres_version,
            "setup": setup, "results": results, "pass": ok,
        })  # fmt: skip
        log(f"\nResults written to {out}")
        log("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            if created:
                database_drop(args.postgres, args.db_name)
            rds.flushdb()
        rds.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    args = parse_args()
    return bench_main("bench/workspace.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
