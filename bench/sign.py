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
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "sign.lua"
RESULTS = BENCH / "results"
SLUG = "bench-petition"
RATE_UNLIMITED = "100000000/60s"
CELERY_QUEUE = "muster-bench"  # CELERY_TASK_DEFAULT_QUEUE in bench/settings_bench.py
REDIS_MARKER = "muster-bench:owner"

SETUP_PETITION = f"""
from engage.models import Organisation
from petitions import services
from petitions.models import Petition
org = Organisation.objects.create(name="Bench Coalition", slug="bench-coalition", kind=Organisation.Kind.HOST)
petition = Petition(organisation=org, slug={SLUG!r}, title="Bench petition", target="The benchmark",
                    summary="A petition for the sign benchmark.", body="Sign **here**.", goal=1000000)
services.petition_save(petition=petition)
services.petition_set_status(petition=petition, status=Petition.Status.OPEN)
"""


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=20, help="seconds of measured load per path, over all rounds (default 20)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds per path, alternating full and raw (default 4)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per path first (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (default 1: wrk shares 2 cores with the server)"
    )
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, seconds (default 10)")
    # gthread 3 x 4 was the fastest for the real sign path of sync 4, gthread 2 x 4 and gthread 3 x 4
    # on this 2-core machine (BENCHMARKS.md), if only by a little; both paths are served by it.
    parser.add_argument(
        "--worker-class", default="gthread", choices=["sync", "gthread"], help="gunicorn worker class (default gthread)"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument(
        "--worker-threads", type=int, default=4, help="threads per gunicorn worker with gthread (default 4)"
    )
    parser.add_argument("--port", type=int, default=0, help="port for gunicorn (default: a free one)")
    parser.add_argument("--target", type=float, default=0.40, help="minimum full/raw throughput ratio (default 0.40)")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database"
    )
    parser.add_argument(
        "--db-name", default="muster_bench", help="database to create, use and drop (default muster_bench)"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server URL, no db index")
    parser.add_argument(
        "--redis-db", type=int, default=15, help="Redis db index, emptied before and after (default 15)"
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the database and Redis db in place afterwards")
    parser.add_argument("--only", choices=["full", "raw"], help="run one path only (no ratio)")
    parser.add_argument(
        "--keep-tmp", action="store_true", help="keep the temporary directory (gunicorn log, wrk output)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < args.rounds:
        parser.error("--duration must be at least --rounds (seconds), and --rounds at least 1")
    if args.threads < 1 or args.connections < args.threads:
        parser.error("--connections must be at least --threads, and --threads at least 1")
    return args


# --- tools and servers --------------------------------------------------------------------------


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found; installing the Debian package: apt-get install -y wrk")
        result = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True)
        path = shutil.which("wrk")
        if path:
            return path
    raise BenchError("wrk is needed: apt-get install -y wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_connect(args) -> psycopg.Connection:
    try:
        return psycopg.connect(f"{args.postgres}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL at {args.postgres} does not answer: {error}") from None


def database_recreate(args) -> None:
    with admin_connect(args) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')


def database_drop(args) -> None:
    with admin_connect(args) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


def redis_client(args) -> redis.Redis:
    client = redis.Redis.from_url(f"{args.redis}/{args.redis_db}", socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        raise BenchError(f"Redis at {args.redis} does not answer: {error}") from None
    return client


def redis_claim(args, rds: redis.Redis) -> None:
    """Empty the bench's Redis db, unless it holds somebody else's keys (no marker of ours)."""
    if rds.dbsize() and not rds.exists(REDIS_MARKER):
        raise BenchError(
            f"Redis db {args.redis_db} is not empty and was not left by bench/sign.py; "
            "choose a free one with --redis-db"
        )
    rds.flushdb()
    rds.set(REDIS_MARKER, os.getpid())


def server_env(args, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ANYMAIL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings_bench",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL="http://127.0.0.1",
        DATABASE_URL=f"{args.postgres}/{args.db_name}",
        REDIS_URL=f"{args.redis}/{args.redis_db}",
        CELERY_BROKER_URL=f"{args.redis}/{args.redis_db}",
        CELERY_TASK_ALWAYS_EAGER="False",
        SIGN_RATE_PER_IP_PETITION=RATE_UNLIMITED,
        SIGN_RATE_PER_PETITION=RATE_UNLIMITED,
        MUSTER_VAR_DIR=str(tmp / "var"),
        BENCH_STATIC_ROOT=str(tmp / "static"),
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for name in ("CLIENT_IP_HEADER", "IP_HASH_KEY", "CSRF_TRUSTED_ORIGINS", "SECURE", "EMAIL_BACKEND"):
        env.pop(name, None)
    return env


def manage(env: dict, *argv: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class Gunicorn:
    def __init__(self, args, env: dict, tmp: Path):
        self.port = args.port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "gunicorn.log"
        self.argv = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", args.worker_class,
            "--workers", str(args.workers),
            "--backlog", "2048",
            "--timeout", "60",
            "--log-level", "warning",
            "--error-logfile", str(self.log_path),
        ]  # fmt: skip
        if args.worker_class == "gthread":
            self.argv += ["--threads", str(args.worker_threads)]
        self.description = f"gunicorn {args.worker_class}, {args.workers} workers" + (
            f" x {args.worker_threads} threads" if args.worker_class == "gthread" else ""
        )
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self, ready_path: str) -> None:
        # Django logs errors to stderr; keep them with gunicorn's own log.
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log_file, stderr=log_file, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer {ready_path} within 30 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no gunicorn log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The master and its workers are the process group that start() created.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


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


# --- CPU time -----------------------------------------------------------------------------------
# Throughput on a shared machine moves with everybody else's load; the CPU time the server spends
# per sign moves less. So each round also records the CPU used by gunicorn (master and workers)
# and by the PostgreSQL backends of the bench database. (Redis is left out: it is one server
# shared with other work.)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_sample(server: "Gunicorn", db: psycopg.Connection, db_name: str) -> dict:
    app = [server.proc.pid, *proc_children(server.proc.pid)]
    backends = [
        row[0]
        for row in db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name]
        ).fetchall()
    ]
    sample = {"app": {}, "postgres": {}}
    for kind, pids in (("app", app), ("postgres", backends)):
        for pid in pids:
            seconds = proc_cpu_seconds(pid)
            if seconds is not None:
                sample[kind][pid] = seconds
    return sample


def cpu_used(before: dict, after: dict) -> dict:
    return {
        kind: sum(seconds - before[kind].get(pid, 0.0) for pid, seconds in after[kind].items())
        for kind in ("app", "postgres")
    }


# --- wrk ----------------------------------------------------------------------------------------


def wrk_run(
    args, wrk: str, base: str, path: str, token: str, cookie: str, seconds: int, run_id: str, tmp: Path
) -> dict:
    out = tmp / f"wrk-{run_id}.json"
    env = dict(os.environ)
    env.update(
        BENCH_PATH=path, BENCH_CSRF_TOKEN=token, BENCH_CSRF_COOKIE=cookie, BENCH_RUN_ID=run_id, BENCH_OUT=str(out)
    )
    argv = [
        wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", f"{args.timeout}s", "-s", str(LUA), base + path,
    ]  # fmt: skip
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0 or not out.exists():
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return json.loads(out.read_text())


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


def round_order(names: list[str], rounds: int) -> list[str]:
    """A B B A A B ...: each path runs first in half the rounds, so a slow drift in the
    machine's background load falls on both alike."""
    order = []
    for r in range(rounds):
        order += names if r % 2 == 0 else list(reversed(names))
    return order


def measure_all(
    args, wrk, server: Gunicorn, db, rds, paths: dict, token: str, cookie: str, run: str, tmp: Path
) -> dict:
    totals = {name: PathTotals(name, path) for name, path in paths.items()}
    if args.warmup > 0:
        for name, path in paths.items():
            log(f"  warm-up {args.warmup} s: {name} (POST {path})")
            wrk_run(args, wrk, server.base, path, token, cookie, args.warmup, f"{run}-{name}-warm", tmp)
        stored_counts_settled(db, rds)
    tables_empty(db, rds)
    slice_seconds = max(1, round(args.duration / args.rounds))
    before = stored_counts_settled(db, rds)
    for i, name in enumerate(round_order(list(paths), args.rounds)):
        cpu_before = cpu_sample(server, db, args.db_name)
        w = wrk_run(args, wrk, server.base, paths[name], token, cookie, slice_seconds, f"{run}-{name}-{i}", tmp)
        after = stored_counts_settled(db, rds)
        w["cpu_seconds"] = cpu_used(cpu_before, cpu_sample(server, db, args.db_name))
        totals[name].add(w, {k: after[k] - before[k] for k in after})
        before = after
        log(
            f"  round {i // len(paths) + 1}/{args.rounds} {name}: {w['rps']:.1f} req/s over {slice_seconds} s, {w['s303']} x 303"
        )
    return {name: t.summary() for name, t in totals.items()}


# --- report -------------------------------------------------------------------------------------


def versions(db: psycopg.Connection, rds: redis.Redis, wrk: str) -> dict:
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    gunicorn_version = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--version"], capture_output=True, text=True
    ).stdout.strip()
    git = ["git", "-C", str(ROOT)]  # read-only: no optional locks, nothing written
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        [*git, "--no-optional-locks", "status", "--porcelain"], capture_output=True, text=True
    ).stdout.splitlines()
    return {
        "code": f"commit {commit or '?'}" + (f" + {len(dirty)} uncommitted changes" if dirty else ""),
        "nproc": os.cpu_count(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "python": platform.python_version(),
        "postgresql": db.execute("SHOW server_version").fetchone()[0],
        "redis": rds.info("server")["redis_version"],
        "wrk": wrk_version,
        "gunicorn": gunicorn_version,
    }


def report(args, server: Gunicorn, machine: dict, results: dict) -> bool:
    slice_seconds = max(1, round(args.duration / args.rounds))
    log("")
    log(
        f"Sign throughput ({dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}): {args.rounds} rounds of {slice_seconds} s "
        f"per path, alternating; wrk {args.threads} thread(s) / {args.connections} connections; {server.description}"
    )
    log(
        f"Machine: nproc {machine['nproc']}, {machine['cpu']}; Python {machine['python']}, "
        f"PostgreSQL {machine['postgresql']}, Redis {machine['redis']}, {machine['wrk']}, {machine['gunicorn']}"
    )
    log(f"Code: {machine['code']}; load average before the run: {machine['load_before']:.2f}")
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
    if "full" in results and "raw" in results:
        ratio = results["full"]["rps"] / results["raw"]["rps"] if results["raw"]["rps"] else 0.0
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


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


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


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        lock = run_lock(args)  # noqa: F841 (held until exit)
    except BenchError as error:
        log(f"bench/sign.py: {error}")
        return 2
    wrk = ensure_wrk()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(
            f"Warning: load average {load_before:.2f} before the run; other processes share the CPUs, so figures will be low and noisy"
        )
    tmp = Path(tempfile.mkdtemp(prefix="muster-bench-"))
    (tmp / "var").mkdir()
    rds = redis_client(args)
    server = None
    db = None
    created = claimed = False
    try:
        log(f"Recreating database {args.db_name} and emptying Redis db {args.redis_db}")
        database_recreate(args)
        created = True
        redis_claim(args, rds)
        claimed = True
        env = server_env(args, tmp)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "shell", "-c", SETUP_PETITION)
        db = psycopg.connect(f"{args.postgres}/{args.db_name}", autocommit=True)

        server = Gunicorn(args, env, tmp)
        log(f"Starting {server.description} on {server.base}")
        server.start(f"/p/{SLUG}/")
        token, cookie = csrf_fetch(server.base)

        paths = {"full": f"/p/{SLUG}/sign", "raw": f"/bench/raw-sign/{SLUG}"}
        if args.only:
            paths = {args.only: paths[args.only]}
        for name, path in paths.items():
            status = sign_once(server.base, path, token, cookie, f"check-{name}@example.org")
            if status != 303:
                raise BenchError(f"one sign on {path} answered {status}, not 303:\n{server.log_tail()}")

        run = secrets.token_hex(3)
        results = measure_all(args, wrk, server, db, rds, paths, token, cookie, run, tmp)
        if "full" in results and "raw" in results:
            results_ratio = results["full"]["rps"] / results["raw"]["rps"] if results["raw"]["rps"] else 0.0
        else:
            results_ratio = None
        tables_empty(db, rds)

        machine = versions(db, rds, wrk)
        machine["load_before"] = load_before
        ok = report(args, server, machine, results)
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now().astimezone()
        record = {
            "date": stamp.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, "bench/sign.py", *sys.argv[1:]]),
            "options": vars(args),
            "server": server.description,
            "machine": machine,
            "results": results,
            "ratio_full_over_raw": results_ratio,
            "pass": ok,
        }
        out = RESULTS / f"sign-{stamp:%Y%m%d-%H%M%S}.json"
        out.write_text(json.dumps(record, indent=2, default=str) + "\n")
        log(f"\nResults written to {out.relative_to(ROOT)}")
        log("PASS" if ok else "FAIL")
        return 0 if ok else 1
    except BenchError as error:
        log(f"bench/sign.py: {error}")
        return 2
    finally:
        if server is not None:
            server.stop()
        if db is not None:
            db.close()
        if not args.keep_db:
            if created:
                database_drop(args)
            if claimed:
                rds.flushdb()
        rds.close()
        if args.keep_tmp:
            log(f"Temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
