"""Count API throughput: GET /api/petitions/<slug> served from the cache, against a bare Django
hello-world view in the same gunicorn server and the same run, and with If-None-Match for 304s.

Run by `make bench`, or directly: .venv/bin/python bench/count_api.py [--duration 30] [...]

What it does, all on this machine (with bench/sign.py's servers and helpers, in bench/common.py):

1. Recreates the PostgreSQL database `muster_bench_count` (migrated), empties Redis db 10 and
   creates one open petition, as bench/sign.py does.
2. Serves the app with gunicorn under bench.settings_count: the app's own settings and URLs plus
   /bench/hello, a view that answers "Hello, world!" through the same middleware (bench/urls_count.py).
   DEBUG=False, the cache on Redis.
3. Before every round, warms the cache as production keeps it: beat's count reconciliation sets
   the live count, and one read of the petition's summary caches it (five minutes). So the count
   API is answered from the cache alone (each process's one-second copy, then Redis; --memo 0
   for Redis on every request); the run checks that no gunicorn worker ever opened a database
   connection.
4. Runs wrk with bench/count.lua on three paths, in alternating rounds (A B C C B A ...):
     hello      GET /bench/hello                                  expects 200
     count      GET /api/petitions/<slug>                         expects 200
     count_304  GET /api/petitions/<slug>, If-None-Match: <ETag>  expects 304
   and records the CPU time gunicorn used per request.
5. Prints throughput, latency, CPU per request and the ratios, and PASS/FAIL for:
     throughput: count / hello >= --target (0.80)
     answers:    every answer had the expected status (200, or 304 for count_304), no socket errors
     cache:      no gunicorn worker connected to the database while serving the count API
6. Stops gunicorn, drops the database and empties Redis db 10, also on Ctrl-C or an error.
   Exits 1 if a check fails.

Results are also written as JSON to bench/results/ (ignored by git).
"""

import argparse
import datetime as dt
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

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
    manage,
    record_write,
    round_order,
    server_env,
    wrk_run,
)

LUA = ROOT / "bench" / "count.lua"
COUNT_PATH = f"/api/petitions/{SLUG}"
HELLO_PATH = "/bench/hello"
# What beat does every minute (the live count in the cache) and what the first reader of a
# petition's summary does (cache it for five minutes).
WARM_CACHE = f"""
from petitions.selectors import petition_summary
from petitions.services.counts import counts_reconcile
counts_reconcile()
assert petition_summary(slug={SLUG!r}) is not None
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_options(
        parser, duration=30, rounds=6, worker_class="sync", workers=4, worker_threads=1, target=0.80, ratio="count/hello",
        db_name="muster_bench_count", redis_db=10,
    )
    parser.add_argument(
        "--memo", type=int, default=None,
        help="COUNT_MEMO_SECONDS for the server (default: the app's default, 1); 0 asks Redis on every request",
    )  # fmt: skip
    return load_options_parse(parser)


def wrk_get(args, wrk: str, url: str, seconds: int, out: Path, etag: str = "") -> dict:
    """wrk with bench/count.lua: GETs of `url`, with If-None-Match: `etag` if given."""
    w = wrk_run(args, wrk, url, LUA, seconds, out, {"BENCH_IF_NONE_MATCH": etag})
    w.pop("quantiles_us", None)  # the rounds' percentiles are enough here
    return w


def etag_fetch(base: str) -> str:
    with urllib.request.urlopen(base + COUNT_PATH, timeout=10) as response:
        etag = response.headers.get("ETag")
    if not etag:
        raise BenchError(f"{COUNT_PATH} gave no ETag")
    request = urllib.request.Request(base + COUNT_PATH, headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return etag
        raise BenchError(f"If-None-Match with the ETag answered {error.code}, not 304") from None
    raise BenchError("If-None-Match with the ETag answered 200, not 304")


def app_db_connections(db: psycopg.Connection, db_name: str) -> int:
    """Backends of the bench database other than this script's own."""
    return db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name]
    ).fetchone()[0]


def summarise(name: str, path: str, expected: int, rounds: list[dict]) -> dict:
    seconds = sum(r["duration_us"] for r in rounds) / 1e6
    good = sum(r["s200" if expected == 200 else "s304"] for r in rounds)
    responses = sum(r["responses"] for r in rounds)
    socket_errors = sum(r["errors"][k] for r in rounds for k in ("connect", "read", "write", "timeout"))
    cpu = sum(r["cpu_seconds"]["app"] for r in rounds)

    def mean(key):
        return sum(r["latency_us"][key] for r in rounds) / len(rounds) / 1000

    return {
        "path": path,
        "expected_status": expected,
        "seconds": seconds,
        "rps": good / seconds if seconds else 0.0,
        "rps_per_round": [round(r["rps"]) for r in rounds],
        "latency_ms": {"p50": mean("p50"), "p90": mean("p90"), "p99": mean("p99"), "max": max(r["latency_us"]["max"] for r in rounds) / 1000},
        "responses": responses,
        "expected_responses": good,
        "unexpected_responses": responses - good,
        "socket_errors": socket_errors,
        "app_cpu_ms_per_request": 1000 * cpu / responses if responses else 0.0,
        "rounds": rounds,
    }


def measure(args, wrk, server: Gunicorn, db, env: dict, etag: str, tmp: Path) -> dict:
    paths = {"hello": (HELLO_PATH, "", 200), "count": (COUNT_PATH, "", 200), "count_304": (COUNT_PATH, etag, 304)}
    if args.warmup > 0:
        manage(env, "shell", "-c", WARM_CACHE)
        for name, (path, tag, _) in paths.items():
            log(f"  warm-up {args.warmup} s: {name}")
            wrk_get(args, wrk, server.base + path, args.warmup, tmp / f"wrk-{name}-warm.json", tag)
    slice_seconds = max(1, round(args.duration / args.rounds))
    rounds: dict[str, list] = {name: [] for name in paths}
    for i, name in enumerate(round_order(list(paths), args.rounds)):
        path, tag, expected = paths[name]
        manage(env, "shell", "-c", WARM_CACHE)
        before = cpu_sample(server, db, args.db_name)
        w = wrk_get(args, wrk, server.base + path, slice_seconds, tmp / f"wrk-{name}-{i}.json", tag)
        w["cpu_seconds"] = cpu_used(before, cpu_sample(server, db, args.db_name))
        w["rps"] = w["s200" if expected == 200 else "s304"] / (w["duration_us"] / 1e6)
        rounds[name].append(w)
        log(f"  round {i // len(paths) + 1}/{args.rounds} {name}: {w['rps']:.0f} req/s")
    return {name: summarise(name, paths[name][0], paths[name][2], rounds[name]) for name in paths}


def report(args, server: Gunicorn, machine: dict, results: dict, db_connections: int) -> bool:
    slice_seconds = max(1, round(args.duration / args.rounds))
    log("")
    log(
        f"Count API throughput ({dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}): {args.rounds} rounds of {slice_seconds} s "
        f"per path, alternating; wrk {args.threads} thread(s) / {args.connections} connections; {server.description}; "
        f"COUNT_MEMO_SECONDS={'app default (1)' if args.memo is None else args.memo}"
    )
    machine_log(machine)
    log("")
    log(f"{'path':<10} {'status':>6} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10} {'answers':>8} {'other':>6}  req/s per round")
    for name, r in results.items():
        lat = r["latency_ms"]
        log(
            f"{name:<10} {r['expected_status']:>6} {r['rps']:>8.0f} {lat['p50']:>7.2f} {lat['p90']:>7.2f} {lat['p99']:>7.2f} "
            f"{r['app_cpu_ms_per_request']:>10.3f} {r['expected_responses']:>8} {r['unexpected_responses'] + r['socket_errors']:>6}  "
            + " ".join(str(x) for x in r["rps_per_round"])
        )
    log("(latency: the mean of the rounds' percentiles; CPU: gunicorn master and workers, per answer)")
    log("")
    hello = results["hello"]
    ratio = results["count"]["rps"] / hello["rps"] if hello["rps"] else 0.0
    ratio_304 = results["count_304"]["rps"] / hello["rps"] if hello["rps"] else 0.0
    cpu_ratio = hello["app_cpu_ms_per_request"] / results["count"]["app_cpu_ms_per_request"] if results["count"]["app_cpu_ms_per_request"] else 0.0
    log(f"CPU ratio hello / count = {cpu_ratio:.2f} (what count / hello throughput tends to when the CPUs are the limit)")
    checks = {
        f"throughput: count / hello = {ratio:.2f} (target >= {args.target:.2f}); count_304 / hello = {ratio_304:.2f}": ratio >= args.target,
        "answers: every answer had the expected status, no socket errors": all(
            r["unexpected_responses"] == 0 and r["socket_errors"] == 0 and r["expected_responses"] > 0 for r in results.values()
        ),
        f"cache: no gunicorn worker connected to the database ({db_connections} connections)": db_connections == 0,
    }
    for check, passed in checks.items():
        log(f"Check {check}  {'PASS' if passed else 'FAIL'}")
    results["ratio_count_over_hello"] = ratio
    results["ratio_count_304_over_hello"] = ratio_304
    return all(checks.values())


def count_env(args, tmp: Path) -> dict:
    """The app's environment (bench/common.py), with this benchmark's settings and memo."""
    env = server_env(args, tmp, settings="bench.settings_count")
    env.pop("COUNT_MEMO_SECONDS", None)
    if args.memo is not None:
        env["COUNT_MEMO_SECONDS"] = str(args.memo)
    return env


def run(args) -> int:
    with ServedApp(args, tmp_prefix="muster-bench-count-") as app:
        env = count_env(args, app.tmp)
        app.prepare(env, SETUP_PETITION, WARM_CACHE)
        server = app.serve(env, COUNT_PATH)
        etag = etag_fetch(server.base)
        results = measure(args, app.wrk, server, app.db, env, etag, app.tmp)
        db_connections = app_db_connections(app.db, args.db_name)
        machine = app.machine()
        ok = report(args, server, machine, results, db_connections)
        return record_write("bench/count_api.py", args, server, machine, results, ok, app_db_connections=db_connections)


def main() -> int:
    args = parse_args()
    return bench_main("bench/count_api.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
