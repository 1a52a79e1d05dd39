"""Sign throughput benchmark: the real sign path against a raw-SQL reference.

Run by `make bench`, or directly: .venv/bin/python bench/sign.py [--duration 20] [...]

What it does, all on this machine:

1. Recreates the PostgreSQL database `muster_bench` (migrated with manage.py migrate), empties
   the Redis db 15, collects static files into a temporary directory and creates one open
   petition with petitions.services (petition_save, petition_set_status).
2. Serves the app with gunicorn (gthread, 3 workers x 4 threads by default) under
   bench.settings_bench, which is config.settings plus the route /bench/raw-sign/<slug>
   (bench/views.py): DEBUG=False, ALLOWED_HOSTS=127.0.0.1, the cache and the Celery broker on
   Redis, so every sign publishes its confirmation task to Redis (no worker consumes it). All
   load comes from one IP, so SIGN_RATE_PER_IP_PETITION and SIGN_RATE_PER_PETITION are set to
   100000000/60s: the limits are still counted in Redis on every sign, but never hold one.
3. Fetches the petition page once for a CSRF cookie and form token, checks one sign on each
   path answers 303, runs a short wrk warm-up on each, empties the tables and the queue, then
   measures the real POST /p/<slug>/sign ("full") and the raw reference ("raw") in alternating
   rounds (full raw raw full ...: --rounds per path, --duration seconds per path in all), so both
   meet the same background load on a shared machine. wrk runs bench/sign.lua, which gives every
   request a new email address and writes 1000 quantiles of its latencies; percentiles are taken
   over the merged distributions of a path's rounds.
4. After each round, counts what was stored (signatures, supporters, consent rows, tasks in the
   Redis queue) and compares it with the 303s wrk received, then prints throughput, latency percentiles, the
   ratio full/raw and PASS/FAIL for the two checks:
     throughput: full / raw >= --target (0.40)
     rows: no error responses, no signature held, every 303 has its rows and its queued task,
           and any extra rows are requests wrk had in flight when it stopped (the server
           finishes a request whose client has hung up).
5. Stops gunicorn, drops the database, empties Redis db 15 and removes the temporary
   directory, also on Ctrl-C or an error. Exits 1 if a check fails.

Results are also written as JSON to bench/results/ (ignored by git).
"""

import argparse
import datetime as dt
import fcntl
import re
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from bench.common import (  # noqa: E402
    ROOT,
    SETUP_PETITION,
    SLUG,
    BenchError,
    Gunicorn,
    ServedApp,
    bench_main,
    cpu_sample,
    cpu_used,
    load_options,
    load_options_parse,
    log,
    machine_log,
    record_write,
    round_order,
    server_env,
    wrk_run,
)

LUA = ROOT / "bench" / "sign.lua"
CELERY_QUEUE = "muster-bench"  # CELERY_TASK_DEFAULT_QUEUE in bench/settings_bench.py


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # gthread 3 x 4 was the fastest for the real sign path of sync 4, gthread 2 x 4 and gthread 3 x 4
    # on this 2-core machine (BENCHMARKS.md), if only by a little; both paths are served by it.
    load_options(
        parser, duration=20, rounds=4, worker_class="gthread", workers=3, worker_threads=4, target=0.40, ratio="full/raw",
        db_name="muster_bench", redis_db=15,
    )
    parser.add_argument("--only", choices=["full", "raw"], help="run one path only (no ratio)")
    return load_options_parse(parser)


# --- HTTP ---------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def csrf_fetch(base: str) -> tuple[str, str]:
    """One GET of the petition page: the csrftoken cookie and the form's csrfmiddlewaretoken."""
    with urllib.request.urlopen(f"{base}/p/{SLUG}/", timeout=10) as response:
        html = response.read().decode()
        cookies = response.headers.get_all("Set-Cookie") or []
    cookie = next((m.group(1) for c in cookies if (m := re.match(r"csrftoken=([^;]+)", c))), None)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not cookie or not token:
        raise BenchError("the petition page gave no CSRF cookie or form token")
    return token.group(1), cookie


def sign_once(base: str, path: str, token: str, cookie: str, email: str) -> int:
    form = {
        "csrfmiddlewaretoken": token, "first_name": "Bench", "last_name": "Check", "email": email,
        "country": "GB", "postcode": "S70 2AB", "opt_in": "on", "source": "bench", "website": "",
    }  # fmt: skip
    request = urllib.request.Request(
        base + path,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Cookie": f"csrftoken={cookie}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# --- database and queue -------------------------------------------------------------------------


def tables_empty(db: psycopg.Connection, rds: redis.Redis) -> None:
    db.execute("TRUNCATE engage_supporter, petitions_signature, engage_consent RESTART IDENTITY CASCADE")
    queue_purge(rds)


def queue_keys(rds: redis.Redis) -> list[bytes]:
    # kombu's Redis transport keeps a queue as a list, plus one list per priority step.
    return [k for k in rds.scan_iter(match=f"{CELERY_QUEUE}*") if rds.type(k) == b"list"]


def queue_length(rds: redis.Redis) -> int:
    return sum(rds.llen(k) for k in queue_keys(rds))


def queue_purge(rds: redis.Redis) -> None:
    keys = queue_keys(rds)
    if keys:
        rds.delete(*keys)


def stored_counts(db: psycopg.Connection, rds: redis.Redis) -> dict:
    row = db.execute(
        """SELECT (SELECT count(*) FROM petitions_signature),
                  (SELECT count(*) FROM petitions_signature WHERE status <> 'pending'),
                  (SELECT count(*) FROM engage_supporter),
                  (SELECT count(*) FROM petitions_signature WHERE opt_ins_pending <> '[]'::jsonb)"""
    ).fetchone()
    return {
        "signatures": row[0],
        "not_pending": row[1],
        "supporters": row[2],
        "consents": row[3],
        "queued": queue_length(rds),
    }


def stored_counts_settled(db: psycopg.Connection, rds: redis.Redis) -> dict:
    """Counts once the server has finished what wrk left in flight (unchanged for ~1 s)."""
    last, stable = None, 0
    for _ in range(60):
        counts = stored_counts(db, rds)
        stable = stable + 1 if counts == last else 0
        if stable >= 3:
            return counts
        last = counts
        time.sleep(0.3)
    return last


# --- wrk ----------------------------------------------------------------------------------------


def wrk_sign(args, wrk: str, base: str, path: str, token: str, cookie: str, seconds: int, run_id: str, tmp: Path) -> dict:
    """wrk with bench/sign.lua: sign POSTs to `path`, each with a new address."""
    env = {"BENCH_PATH": path, "BENCH_CSRF_TOKEN": token, "BENCH_CSRF_COOKIE": cookie, "BENCH_RUN_ID": run_id}
    return wrk_run(args, wrk, base + path, LUA, seconds, tmp / f"wrk-{run_id}.json", env)


class PathTotals:
    """What one path (full or raw) added up to over its rounds."""

    def __init__(self, name: str, path: str):
        self.name, self.path = name, path
        self.rounds: list[dict] = []
        self.samples: list[tuple[int, float]] = []  # (latency in microseconds, responses it stands for)

    def add(self, w: dict, stored: dict) -> None:
        """One round: wrk's counts and what the database and queue gained during it."""
        quantiles = w.pop("quantiles_us")
        if quantiles:
            # Each of the round's 1000 quantiles stands for a thousandth of its responses.
            weight = w["responses"] / len(quantiles)
            self.samples += [(us, weight) for us in quantiles]
        errors = w["non3xx"] + w["other3xx"]
        w["in_flight_at_stop"] = max(0, w["sent"] - w["s303"] - errors)
        w["stored"] = stored
        w["rps"] = w["s303"] / (w["duration_us"] / 1e6)
        self.rounds.append(w)

    def total(self, key: str) -> int:
        return sum(r[key] for r in self.rounds)

    def stored(self, key: str) -> int:
        return sum(r["stored"][key] for r in self.rounds)

    def percentile(self, p: float) -> float:
        """Over the rounds' merged distributions; milliseconds."""
        total = sum(weight for _, weight in self.samples)
        if not total:
            return 0.0
        seen = 0.0
        for us, weight in sorted(self.samples):
            seen += weight
            if seen >= p / 100 * total - 1e-9:
                return us / 1000
        return max(us for us, _ in self.samples) / 1000

    def summary(self) -> dict:
        seconds = self.total("duration_us") / 1e6
        accepted = self.total("s303")
        errors = self.total("non3xx") + self.total("other3xx")
        socket_errors = sum(r["errors"][k] for r in self.rounds for k in ("connect", "read", "write"))
        rows = self.stored("signatures")
        checks = {
            "no error responses": errors == 0,
            "no socket errors": socket_errors == 0,
            # Per round: every 303 has its row, and the only extra rows are requests wrk had in
            # flight when it stopped, which the server still finished.
            "every 303 stored (rows >= 303s, each round)": all(
                r["stored"]["signatures"] >= r["s303"] for r in self.rounds
            ),
            "extra rows only from requests in flight at stop (each round)": all(
                r["stored"]["signatures"] - r["s303"] <= r["in_flight_at_stop"] for r in self.rounds
            ),
            "no signature held": self.stored("not_pending") == 0,
            "one supporter per signature": self.stored("supporters") == rows,
            "the opt-in recorded with every signature": self.stored("consents") == rows,
            "one queued task per signature": self.stored("queued") == rows,
        }
        cpu = {kind: sum(r["cpu_seconds"][kind] for r in self.rounds) for kind in ("app", "postgres")}
        cpu_ms_per_sign = {kind: 1000 * value / rows if rows else 0.0 for kind, value in cpu.items()}
        return {
            "path": self.path,
            "seconds": seconds,
            "cpu_ms_per_sign": cpu_ms_per_sign,
            "rps": accepted / seconds if seconds else 0.0,
            "rps_per_round": [round(r["rps"], 1) for r in self.rounds],
            "latency_ms": {
                "p50": self.percentile(50),
                "p90": self.percentile(90),
                "p99": self.percentile(99),
                "max": max((r["latency_us"]["max"] for r in self.rounds), default=0) / 1000,
            },
            "sent": self.total("sent"),
            "accepted_303": accepted,
            "error_responses": errors,
            "socket_errors": socket_errors,
            "timeouts": sum(r["errors"]["timeout"] for r in self.rounds),
            "in_flight_at_stop": self.total("in_flight_at_stop"),
            "stored": {k: self.stored(k) for k in ("signatures", "not_pending", "supporters", "consents", "queued")},
            "extra_rows": rows - accepted,
            "checks": checks,
            "rows_ok": all(checks.values()),
            "rounds": self.rounds,
        }


def measure_all(
    args, wrk, server: Gunicorn, db, rds, paths: dict, token: str, cookie: str, run: str, tmp: Path
) -> dict:
    totals = {name: PathTotals(name, path) for name, path in paths.items()}
    if args.warmup > 0:
        for name, path in paths.items():
            log(f"  warm-up {args.warmup} s: {name} (POST {path})")
            wrk_sign(args, wrk, server.base, path, token, cookie, args.warmup, f"{run}-{name}-warm", tmp)
        stored_counts_settled(db, rds)
    tables_empty(db, rds)
    slice_seconds = max(1, round(args.duration / args.rounds))
    before = stored_counts_settled(db, rds)
    for i, name in enumerate(round_order(list(paths), args.rounds)):
        cpu_before = cpu_sample(server, db, args.db_name)
        w = wrk_sign(args, wrk, server.base, paths[name], token, cookie, slice_seconds, f"{run}-{name}-{i}", tmp)
        after = stored_counts_settled(db, rds)
        w["cpu_seconds"] = cpu_used(cpu_before, cpu_sample(server, db, args.db_name))
        totals[name].add(w, {k: after[k] - before[k] for k in after})
        before = after
        log(
            f"  round {i // len(paths) + 1}/{args.rounds} {name}: {w['rps']:.1f} req/s over {slice_seconds} s, {w['s303']} x 303"
        )
    return {name: t.summary() for name, t in totals.items()}


# --- report -------------------------------------------------------------------------------------


def full_over_raw(results: dict) -> float | None:
    if "full" in results and "raw" in results:
        return results["full"]["rps"] / results["raw"]["rps"] if results["raw"]["rps"] else 0.0
    return None


def report(args, server: Gunicorn, machine: dict, results: dict) -> bool:
    slice_seconds = max(1, round(args.duration / args.rounds))
    log("")
    log(
        f"Sign throughput ({dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}): {args.rounds} rounds of {slice_seconds} s "
        f"per path, alternating; wrk {args.threads} thread(s) / {args.connections} connections; {server.description}"
    )
    machine_log(machine)
    log("")
    log(
        f"{'path':<5} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'303s':>7} {'errors':>6} "
        f"{'rows':>7} {'queued':>7}  req/s per round"
    )
    for name, r in results.items():
        lat = r["latency_ms"]
        log(
            f"{name:<5} {r['rps']:>7.1f} {lat['p50']:>7.1f} {lat['p90']:>7.1f} {lat['p99']:>7.1f} "
            f"{r['accepted_303']:>7} {r['error_responses'] + r['socket_errors']:>6} {r['stored']['signatures']:>7} "
            f"{r['stored']['queued']:>7}  {' '.join(f'{x:.0f}' for x in r['rps_per_round'])}"
        )
    for name, r in results.items():
        c = r["cpu_ms_per_sign"]
        log(
            f"CPU per stored sign ({name}): gunicorn {c['app']:.2f} ms + PostgreSQL {c['postgres']:.2f} ms = {c['app'] + c['postgres']:.2f} ms"
        )
    if "full" in results and "raw" in results:
        full_cpu = sum(results["full"]["cpu_ms_per_sign"].values())
        raw_cpu = sum(results["raw"]["cpu_ms_per_sign"].values())
        if full_cpu:
            log(
                f"CPU ratio raw / full = {raw_cpu / full_cpu:.2f} (what full / raw throughput tends to when the CPUs are the limit)"
            )
    log("")
    ok = True
    ratio = full_over_raw(results)
    if ratio is not None:
        passed = ratio >= args.target
        ok &= passed
        log(f"Throughput check: full / raw = {ratio:.2f} (target >= {args.target:.2f})  {'PASS' if passed else 'FAIL'}")
    for name, r in results.items():
        ok &= r["rows_ok"]
        failed = [check for check, passed in r["checks"].items() if not passed]
        log(
            f"Rows check ({name}): {r['accepted_303']} x 303 and {r['stored']['signatures']} signatures stored "
            f"({r['extra_rows']:+d}: requests wrk had in flight when it stopped, {r['in_flight_at_stop']} over all rounds, "
            f"which the server finished); {r['stored']['supporters']} supporters, {r['stored']['consents']} with their opt-in recorded, "
            f"{r['stored']['queued']} tasks queued; {r['error_responses']} error responses, {r['socket_errors']} socket errors  "
            + ("PASS" if not failed else "FAIL: " + "; ".join(failed))
        )
    return ok


# --- main ---------------------------------------------------------------------------------------


def run_lock(args):
    """One run at a time per database name: a second would drop the first one's database."""
    lock = open(Path(tempfile.gettempdir()) / f"muster-bench-sign-{args.db_name}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BenchError(
            f"another bench/sign.py run is using {args.db_name}; wait for it, or pass --db-name and --redis-db"
        ) from None
    return lock


def paths_checked(args, server: Gunicorn, token: str, cookie: str) -> dict:
    """The paths to measure ({name: path}), once each has answered one sign with a 303."""
    paths = {"full": f"/p/{SLUG}/sign", "raw": f"/bench/raw-sign/{SLUG}"}
    if args.only:
        paths = {args.only: paths[args.only]}
    for name, path in paths.items():
        status = sign_once(server.base, path, token, cookie, f"check-{name}@example.org")
        if status != 303:
            raise BenchError(f"one sign on {path} answered {status}, not 303:\n{server.log_tail()}")
    return paths


def run(args) -> int:
    lock = run_lock(args)  # noqa: F841 (held until exit)
    with ServedApp(args, tmp_prefix="muster-bench-") as app:
        env = server_env(args, app.tmp)
        app.prepare(env, SETUP_PETITION)
        server = app.serve(env, f"/p/{SLUG}/")
        token, cookie = csrf_fetch(server.base)
        paths = paths_checked(args, server, token, cookie)
        results = measure_all(args, app.wrk, server, app.db, app.rds, paths, token, cookie, secrets.token_hex(3), app.tmp)
        tables_empty(app.db, app.rds)
        machine = app.machine()
        ok = report(args, server, machine, results)
        return record_write("bench/sign.py", args, server, machine, results, ok, ratio_full_over_raw=full_over_raw(results))


def main() -> int:
    args = parse_args()
    return bench_main("bench/sign.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
