"""A segment's live count: the workspace builder's count endpoint on 1,000,000 supporters, served
by gunicorn, against the same two figures counted by one hand-written SQL statement run
directly on the same database, in the same run.

Run by `make bench`, or directly: .venv/bin/python bench/segments.py [--supporters 1000000] [--rounds 10]

What it does, all on this machine (with the helpers of bench/common.py):

1. Recreates the PostgreSQL database `muster_bench_segments` (migrated) and empties Redis db 11.
2. Fills it with SQL (generate_series, a minute or two): N supporters across 20 postcode
   districts (5 of them in area S) and 2% in France, each opted in to the host (1% opted out
   later), 60% subscribed to the list, one in 1,000 suppressed; signatures of two petitions
   (40% and 30% of supporters, a seventh of each through either of two partners); and a sent
   mailing delivered to a third of them. Which row gets what is drawn by hashing its number,
   so the conditions are independent of each other.
3. Serves the app with gunicorn (DEBUG=False, the cache on Redis) and logs an organiser in.
4. Times, in alternating rounds, (a) the POST to /organise/<host>/segments/count/ with the
   segment
       all of: subscribed to the list; postcode area S; signed petition A;
               any of: signed through partner 1, signed through partner 2;
               none of: was sent mailing X
   and the list as the consent basis (the count of matching people, of those the list's
   mailing may reach by recipients_eligible, and a sample of ten), and (b) the reference: the
   same two counts in one SQL statement written by hand, run directly with psycopg.
5. Checks that both give the same figures, prints each one's median and slowest time and the
   ratio of medians, and PASS if the endpoint's median is under --target seconds (1.0).
6. Stops gunicorn, drops the database and empties the Redis db, also on Ctrl-C or an error.

Results are also written as JSON to bench/results/ (ignored by git).
"""

import argparse
import http.cookiejar
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.common import (  # noqa: E402
    BenchError,
    ServedApp,
    bench_main,
    load_average_warn,
    log,
    machine_log,
    record_write,
    redis_client,
    server_env,
    versions,
)

HOST = "bench-coalition"
USER, PASSWORD = "bench-organiser", "bench-organiser-pw-1"

SETUP = f"""
from django.contrib.auth import get_user_model
from engage.models import MailingList, Organisation
from mailings.models import Mailing, Message, Segment, Sender
from petitions.models import Petition
host = Organisation.objects.create(name="Bench Coalition", slug={HOST!r}, kind="host")
for slug in ("partner-one", "partner-two", "partner-three"):
    Organisation.objects.create(name=slug.replace("-", " ").title(), slug=slug, kind="partner")
MailingList.objects.create(name="News", slug="news", organisation=host)
from petitions.services.lifecycle import petition_save, petition_set_status
for slug in ("petition-a", "petition-b"):
    petition = petition_save(petition=Petition(organisation=host, slug=slug, title=slug, target="T", summary="S", body="B",
                                               goal=1000000))
    petition_set_status(petition=Petition.objects.get(slug=slug), status=Petition.Status.OPEN)
sender = Sender.objects.create(organisation=host, name="Bench", bulk_email="news@mail.muster.test",
                               transactional_email="hello@muster.test")
message = Message.objects.create(name="X", sender=sender, subject="X", body="X")
Mailing.objects.create(name="Mailing X", message=message, segment=Segment.objects.create(name="All", definition={{"all": []}}),
                       status="sent")
user = get_user_model().objects.create_user({USER!r}, password={PASSWORD!r})
host.members.add(user)
"""

# r(g, 'salt'): a number 0..99 drawn from the row number, independent for each salt.
FILL = """
import time
from django.db import connection
from engage.models import MailingList, Organisation, Suppression
from engage.suppression import email_digest, email_hash
from mailings.models import Mailing
from petitions.models import Petition

N = {n}
host = Organisation.objects.get(slug={host!r})
news = MailingList.objects.get(slug="news")
one, two, three = (Organisation.objects.get(slug=s).pk for s in ("partner-one", "partner-two", "partner-three"))
a, b = (Petition.objects.get(slug=s).pk for s in ("petition-a", "petition-b"))
x = Mailing.objects.get().pk
R = "(abs(hashtext(g::text || '{{salt}}')) %% 100)"
r = lambda salt: R.format(salt=salt)
started = time.monotonic()
with connection.cursor() as cursor:
    for first in range(1, N + 1, 100_000):
        last = min(first + 99_999, N)
        digests = [email_digest(f"s{{g}}@example.org") for g in range(first, last + 1)]
        cursor.execute(
            "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, "
            "created_at, updated_at) "
            "SELECT 's' || g || '@example.org', 'Name' || g, 'Bench', "
            f"CASE WHEN {{r('country')}} < 2 THEN 'FR' ELSE 'GB' END, "
            f"CASE WHEN {{r('country')}} < 2 THEN '75001' ELSE "
            "(ARRAY['S70','S1','S2','S10','S11','DN1','SW1A','N1','M1','LS1','B1','EH1','CF10','BS1','NE1','L1','G1',"
            f"'SE1','E1','W1'])[1 + {{r('district')}} %% 20] || ' ' || (g %% 9 + 1) || 'AB' END, "
            "md5(g::text), h, now() - (g %% 700) * interval '1 day', now() "
            "FROM (SELECT h, i + %s - 1 AS g FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(h, i)) AS rows",
            [first, digests],
        )
    cursor.execute("CREATE TEMP TABLE n AS SELECT id, row_number() OVER (ORDER BY id) AS g FROM engage_supporter")
    cursor.execute(
        "INSERT INTO engage_consent (supporter_id, organisation_id, given, wording, source, created_at) "
        "SELECT id, %s, true, 'Keep me updated', 'bench', now() - interval '1 day' FROM n", [host.pk])
    cursor.execute(
        "INSERT INTO engage_consent (supporter_id, organisation_id, given, wording, source, created_at) "
        f"SELECT id, %s, false, 'Stop', 'bench', now() FROM n WHERE {{r('optout')}} < 1", [host.pk])
    cursor.execute(
        "INSERT INTO engage_subscription (supporter_id, mailing_list_id, status, source, confirm_nonce, created_at, "
        f"subscribed_at) SELECT id, %s, 'subscribed', 'bench', md5('s' || id), now(), now() FROM n WHERE {{r('list')}} < 60",
        [news.pk])
    for petition, salt, share in ((a, "a", 40), (b, "b", 30)):
        cursor.execute(
            "INSERT INTO petitions_signature (petition_id, supporter_id, country, postcode_area, partner_id, status, "
            "hold_reason, source, confirm_nonce, ip_hash, new_supporter, opt_ins_pending, created_at, confirmed_at) "
            f"SELECT %s, id, 'GB', '', CASE {{r(salt + 'partner')}} %% 7 WHEN 0 THEN %s WHEN 1 THEN %s WHEN 2 THEN %s END, "
            f"'confirmed', '', CASE WHEN {{r(salt + 'src')}} < 10 THEN 'leaflet' ELSE '' END, md5(%s || '-' || id), '', false, "
            f"'[]', now(), now() FROM n WHERE {{r(salt)}} < %s",
            [petition, one, two, three, salt, share])
    cursor.execute(
        "INSERT INTO mailings_delivery (mailing_id, supporter_id, status, attempts, esp_message_id, last_error, outcome, "
        f"sent_at) SELECT %s, id, 'sent', 1, '', '', '', now() - interval '3 days' FROM n WHERE {{r('x')}} < 33", [x])
    cursor.execute("DROP TABLE n")
Suppression.objects.bulk_create(
    Suppression(email_hash=email_hash(f"s{{g}}@example.org"), reason="hard_bounce") for g in range(7, N + 1, 1000))
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")
print(f"filled in {{time.monotonic() - started:.0f}} s")
"""


def definition(ids: dict) -> dict:
    return {"all": [
        {"condition": "subscribed_to_list", "list": "news"},
        {"condition": "postcode", "prefix": "S"},
        {"condition": "signed_petition", "petition": "petition-a"},
        {"any": [{"condition": "signed_via_partner", "partner": "partner-one"},
                 {"condition": "signed_via_partner", "partner": "partner-two"}]},
        {"not": {"any": [{"condition": "received_mailing", "mailing": ids["mailing"]}]}},
    ]}


# The reference: the same segment and the same recipient rule (docs/design.md, "One recipient
# filter": not suppressed, the latest consent row to the organisation an opt-in, subscribed to
# the list), written by hand as one statement.
REFERENCE_SQL = """
WITH segment AS (
    SELECT s.id, s.email_hash FROM engage_supporter s
    WHERE s.country = 'GB' AND s.postcode ~ '^S[0-9]'
      AND EXISTS (SELECT 1 FROM engage_subscription x
                  WHERE x.supporter_id = s.id AND x.mailing_list_id = %(list)s AND x.status = 'subscribed')
      AND EXISTS (SELECT 1 FROM petitions_signature g
                  WHERE g.supporter_id = s.id AND g.petition_id = %(petition)s AND g.status = 'confirmed')
      AND EXISTS (SELECT 1 FROM petitions_signature g
                  WHERE g.supporter_id = s.id AND g.status = 'confirmed' AND g.partner_id IN (%(one)s, %(two)s))
      AND NOT EXISTS (SELECT 1 FROM mailings_delivery d
                      WHERE d.supporter_id = s.id AND d.mailing_id = %(mailing)s AND d.status = 'sent')
)
SELECT
    (SELECT count(*) FROM segment),
    -- On a list, its subscribers who are not suppressed (docs/design.md, "One recipient filter").
    (SELECT count(*) FROM segment s
     WHERE NOT EXISTS (SELECT 1 FROM engage_suppression p WHERE decode(p.email_hash, 'hex') = s.email_hash)
       AND EXISTS (SELECT 1 FROM engage_subscription x
                   WHERE x.supporter_id = s.id AND x.mailing_list_id = %(list)s AND x.status = 'subscribed'))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--supporters", type=int, default=1_000_000, help="supporters to create (default %(default)s)")
    add("--rounds", type=int, default=10, help="timed requests of each kind, alternating (default %(default)s)")
    add("--warmup", type=int, default=2, help="untimed requests of each kind first (default %(default)s)")
    add("--target", type=float, default=1.0, help="the endpoint's median must be under this, seconds (default %(default)s)")
    add("--workers", type=int, default=2, help="gunicorn workers (default %(default)s)")
    add("--port", type=int, default=0, help="port for gunicorn (default: a free one)")
    add("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database")
    add("--db-name", default="muster_bench_segments", help="database to create, use and drop (default %(default)s)")
    add("--redis", default="redis://127.0.0.1:6379", help="Redis server URL, no db index")
    add("--redis-db", type=int, default=11, help="Redis db index, emptied before and after (default %(default)s)")
    add("--explain", action="store_true", help="also print EXPLAIN ANALYZE of the reference statement")
    add("--keep-db", action="store_true", help="leave the database and Redis db in place afterwards")
    add("--keep-tmp", action="store_true", help="keep the temporary directory (gunicorn log)")
    args = parser.parse_args()
    args.worker_class, args.worker_threads = "sync", 1  # what bench.common.Gunicorn reads
    return args


class SegmentsApp(ServedApp):
    """bench/common.ServedApp without wrk: this benchmark times single requests."""

    def __enter__(self) -> "SegmentsApp":
        self.wrk = None
        self.load_before = load_average_warn()
        self.rds = redis_client(self.args.redis, self.args.redis_db)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.tmp_prefix))
        (self.tmp / "var").mkdir()
        return self

    def machine(self) -> dict:
        found = versions(self.db, self.rds, shutil.which("true") or "/bin/true")
        found.pop("wrk", None)
        return {**found, "load_before": self.load_before}


class Organiser:
    """An HTTP client logged in to the workspace, as a browser is: session and CSRF cookies."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def login(self, session_cookie: str) -> None:
        """The session the login leaves after the password and second factor (bench.common.
        sessions_script), and the CSRF cookie the login page sets."""
        self.opener.open(self.base + "/organise/login/", timeout=30).read()
        name, key = session_cookie.split("=", 1)
        host = urllib.parse.urlsplit(self.base).hostname
        self.jar.set_cookie(http.cookiejar.Cookie(
            0, name, key, None, False, host, False, False, "/", True, False, None, False, None, None, {},
        ))
        landed = self.opener.open(f"{self.base}/organise/{HOST}/segments/", timeout=30).geturl()
        if "/login/" in landed or "second-factor" in landed:
            raise BenchError("the organiser's session was refused")

    def count(self, payload: dict) -> tuple[float, dict]:
        request = urllib.request.Request(
            f"{self.base}/organise/{HOST}/segments/count/", data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf(), "Referer": self.base},
        )
        started = time.perf_counter()
        with self.opener.open(request, timeout=120) as response:
            answer = json.loads(response.read())
        return time.perf_counter() - started, answer


def reference(db, ids: dict) -> tuple[float, tuple[int, int]]:
    started = time.perf_counter()
    row = db.execute(REFERENCE_SQL, ids).fetchone()
    return time.perf_counter() - started, (row[0], row[1])


def ids_read(db) -> dict:
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "host": one(f"SELECT id FROM engage_organisation WHERE slug = '{HOST}'"),
        "one": one("SELECT id FROM engage_organisation WHERE slug = 'partner-one'"),
        "two": one("SELECT id FROM engage_organisation WHERE slug = 'partner-two'"),
        "list": one("SELECT id FROM engage_mailinglist WHERE slug = 'news'"),
        "petition": one("SELECT id FROM petitions_petition WHERE slug = 'petition-a'"),
        "mailing": one("SELECT id FROM mailings_mailing"),
    }


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "times_s": times}


def run(args) -> int:
    with SegmentsApp(args, tmp_prefix="muster-bench-segments-") as app:
        env = server_env(args, app.tmp)
        log(f"Filling {args.supporters:,} supporters (SQL), their consent, lists, signatures and deliveries")
        app.prepare(env, SETUP)
        filled = app.db  # prepare() connected after the scripts; fill through manage.py as the app writes hashes
        from bench.common import manage, sessions_read, sessions_script

        log(manage(env, "shell", "-c", FILL.format(n=args.supporters, host=HOST)).strip())
        server = app.serve(env, "/organise/login/")
        ids = ids_read(filled)
        payload = {"definition": definition(ids), "basis": f"list:{ids['list']}"}
        organiser = Organiser(server.base)
        organiser.login(sessions_read(manage(env, "shell", "-c", sessions_script([USER])))[USER])
        if args.explain:
            for line in filled.execute("EXPLAIN (ANALYZE, BUFFERS) " + REFERENCE_SQL, ids).fetchall():
                log(line[0])
        for _ in range(args.warmup):
            organiser.count(payload)
            reference(filled, ids)
        endpoint_times, reference_times, answers, figures = [], [], [], []
        for i in range(args.rounds):
            order = ("endpoint", "reference") if i % 2 == 0 else ("reference", "endpoint")
            for kind in order:
                if kind == "endpoint":
                    seconds, answer = organiser.count(payload)
                    endpoint_times.append(seconds)
                    answers.append((answer["matching"], answer["eligible"]))
                else:
                    seconds, counts = reference(filled, ids)
                    reference_times.append(seconds)
                    figures.append(counts)
            log(f"  round {i + 1}/{args.rounds}: endpoint {endpoint_times[-1] * 1000:.0f} ms, "
                f"reference {reference_times[-1] * 1000:.0f} ms")
        machine = app.machine()
        results = {
            "supporters": args.supporters, "definition": payload["definition"],
            "endpoint": summary(endpoint_times), "reference": summary(reference_times),
            "figures": {"endpoint": answers[-1], "reference": figures[-1]},
        }
        ratio = results["endpoint"]["median_s"] / results["reference"]["median_s"]
        results["ratio_endpoint_over_reference"] = ratio
        log("")
        log(f"Segment live count on {args.supporters:,} supporters; {server.description}; {args.rounds} rounds, alternating")
        machine_log({**machine, "wrk": "-"})
        log(f"matching / emailable on the list: endpoint {answers[-1][0]:,} / {answers[-1][1]:,}; "
            f"reference {figures[-1][0]:,} / {figures[-1][1]:,}")
        log(f"endpoint (HTTP, counts and sample):  median {results['endpoint']['median_s'] * 1000:.0f} ms, "
            f"slowest {results['endpoint']['max_s'] * 1000:.0f} ms")
        log(f"reference (one SQL statement):       median {results['reference']['median_s'] * 1000:.0f} ms, "
            f"slowest {results['reference']['max_s'] * 1000:.0f} ms")
        log(f"ratio endpoint / reference (medians): {ratio:.2f}")
        checks = {
            "figures: the endpoint's counts equal the reference's, every round": all(
                tuple(a) == tuple(f) for a, f in zip(answers, figures, strict=True)),
            f"speed: the endpoint's median {results['endpoint']['median_s']:.3f} s < {args.target:.1f} s":
                results["endpoint"]["median_s"] < args.target,
        }
        for check, passed in checks.items():
            log(f"Check {check}  {'PASS' if passed else 'FAIL'}")
        return record_write("bench/segments.py", args, server, machine, results, all(checks.values()))


def main() -> int:
    args = parse_args()
    return bench_main("bench/segments.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
