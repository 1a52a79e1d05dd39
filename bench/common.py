"""What the benchmarks share: scratch PostgreSQL databases and Redis dbs, the app migrated and
served by gunicorn, wrk runs, the CPU time processes used, the machine's description and the
results directory. Imported by the benchmark scripts, which put the project on sys.path."""

import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RATE_UNLIMITED = "100000000/60s"
REDIS_MARKER = "muster-bench:owner"

# The open petition that bench/sign.py signs and bench/count_api.py counts.
SLUG = "bench-petition"
SETUP_PETITION = f"""
from engage.models import Organisation
from petitions.services.lifecycle import petition_save, petition_set_status
from petitions.models import Petition
org = Organisation.objects.create(name="Bench Coalition", slug="bench-coalition", kind=Organisation.Kind.HOST)
petition = Petition(organisation=org, slug={SLUG!r}, title="Bench petition", target="The benchmark",
                    summary="A petition for the sign benchmark.", body="Sign **here**.", goal=1000000)
petition_save(petition=petition)
petition_set_status(petition=petition, status=Petition.Status.OPEN)
"""


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


def bench_main(script: str, run) -> int:
    """run()'s exit code, or 2 after saying what stopped it. SIGTERM ends a run as Ctrl-C does,
    through the clean-up on the way out."""

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run()
    except BenchError as error:
        log(f"{script}: {error}")
        return 2


def load_average_warn() -> float:
    """The load average before the run, warned about when others are using the CPUs."""
    load = os.getloadavg()[0]
    if load > 0.5:
        log(f"Warning: load average {load:.2f} before the run; other processes share the CPUs, so figures will be low and noisy")
    return load


def results_write(name: str, record: dict) -> Path:
    """bench/results/<name>.json (ignored by git)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out


def record_write(script: str, args, server: "Gunicorn", machine: dict, results: dict, ok: bool, **extra) -> int:
    """A served benchmark's record in bench/results/ (its options, server, machine, results and
    `extra`), then PASS or FAIL; the exit code."""
    stamp = dt.datetime.now().astimezone()
    record = {
        "date": stamp.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, script, *sys.argv[1:]]),
        "options": vars(args),
        "server": server.description,
        "machine": machine,
        "results": results,
        **extra,
        "pass": ok,
    }
    name = Path(script).stem.replace("_", "-")
    out = results_write(f"{name}-{stamp:%Y%m%d-%H%M%S}", record)
    log(f"\nResults written to {out.relative_to(ROOT)}")
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


# --- options --------------------------------------------------------------------------------------


def load_options(parser, *, duration: int, rounds: int, worker_class: str, workers: int, worker_threads: int,
                 target: float, ratio: str, db_name: str, redis_db: int) -> None:
    """The options of a benchmark that serves the app with gunicorn and loads it with wrk, with
    that benchmark's defaults; `ratio` names the throughput ratio --target applies to."""
    add = parser.add_argument
    add("--duration", type=int, default=duration, help="seconds of measured load per path, over all rounds (default %(default)s)")
    add("--rounds", type=int, default=rounds, help="rounds per path, the paths alternating (default %(default)s)")
    add("--warmup", type=int, default=3, help="seconds of unmeasured load per path first (default %(default)s)")
    add("--connections", type=int, default=16, help="wrk connections (default %(default)s)")
    add("--threads", type=int, default=1, help="wrk threads (default %(default)s: wrk shares the cores with the server)")
    add("--timeout", type=int, default=10, help="wrk request timeout, seconds (default %(default)s)")
    add("--worker-class", default=worker_class, choices=["sync", "gthread"], help="gunicorn worker class (default %(default)s)")
    add("--workers", type=int, default=workers, help="gunicorn workers (default %(default)s)")
    add("--worker-threads", type=int, default=worker_threads, help="threads per gunicorn worker with gthread (default %(default)s)")
    add("--port", type=int, default=0, help="port for gunicorn (default: a free one)")
    add("--target", type=float, default=target, help=f"minimum {ratio} throughput ratio (default %(default).2f)")
    add("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database")
    add("--db-name", default=db_name, help="database to create, use and drop (default %(default)s)")
    add("--redis", default="redis://127.0.0.1:6379", help="Redis server URL, no db index")
    add("--redis-db", type=int, default=redis_db, help="Redis db index, emptied before and after (default %(default)s)")
    add("--keep-db", action="store_true", help="leave the database and Redis db in place afterwards")
    add("--keep-tmp", action="store_true", help="keep the temporary directory (gunicorn log, wrk output)")


def load_options_parse(parser):
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < args.rounds:
        parser.error("--duration must be at least --rounds (seconds), and --rounds at least 1")
    if args.threads < 1 or args.connections < args.threads:
        parser.error("--connections must be at least --threads, and --threads at least 1")
    return args


# --- tools ----------------------------------------------------------------------------------------


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


def wrk_run(args, wrk: str, url: str, script: Path, seconds: int, out: Path, env: dict) -> dict:
    """wrk with `script` for `seconds` on `url`; the script's done() writes its JSON to `out`.
    `env` is what the script reads (BENCH_...)."""
    argv = [
        wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", f"{args.timeout}s", "-s", str(script), url,
    ]  # fmt: skip
    result = subprocess.run(
        argv, env={**os.environ, **env, "BENCH_OUT": str(out)}, capture_output=True, text=True, timeout=seconds + 60
    )
    if result.returncode != 0 or not out.exists():
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return json.loads(out.read_text())


def round_order(names: list[str], rounds: int) -> list[str]:
    """A B B A A B ...: each path runs first in half the rounds, so a slow drift in the
    machine's background load falls on both alike."""
    order = []
    for r in range(rounds):
        order += names if r % 2 == 0 else list(reversed(names))
    return order


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases ------------------------------------------------------------------------------------


def admin_connect(postgres: str) -> psycopg.Connection:
    try:
        return psycopg.connect(f"{postgres}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL at {postgres} does not answer: {error}") from None


def database_recreate(postgres: str, name: str) -> None:
    with admin_connect(postgres) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(postgres: str, name: str) -> None:
    with admin_connect(postgres) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_client(url: str, db: int) -> redis.Redis:
    client = redis.Redis.from_url(f"{url}/{db}", socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        raise BenchError(f"Redis at {url} does not answer: {error}") from None
    return client


def redis_claim(rds: redis.Redis, db: int) -> None:
    """Empty the bench's Redis db, unless it holds somebody else's keys (no marker of ours)."""
    if rds.dbsize() and not rds.exists(REDIS_MARKER):
        raise BenchError(f"Redis db {db} is not empty and was not left by a benchmark; choose a free one with --redis-db")
    rds.flushdb()
    rds.set(REDIS_MARKER, os.getpid())


def manage(env: dict, *argv: str) -> str:
    """manage.py in a new process, as a deploy runs it; its output."""
    result = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


# --- the app under gunicorn -----------------------------------------------------------------------


def server_env(args, tmp: Path, *, settings: str = "bench.settings_bench") -> dict:
    """The app's environment: the scratch database and Redis db, DEBUG=False, the Celery broker
    on Redis (every sign publishes its task; no worker consumes it), and the sign rate limits
    counted on every sign but set too high to hold one (all load comes from one address)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ANYMAIL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
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


class ServedApp:
    """One run's scratch world: wrk found, a temporary directory, the database `args.db_name`
    created afresh and Redis db `args.redis_db` emptied, the app migrated into them with its
    static files, and gunicorn serving it. On leaving (also on Ctrl-C or an error) gunicorn
    stops, the database is dropped, the Redis db emptied and the directory removed, unless
    --keep-db or --keep-tmp."""

    def __init__(self, args, *, tmp_prefix: str):
        self.args = args
        self.tmp_prefix = tmp_prefix
        self.tmp = Path()
        self.rds: redis.Redis | None = None
        self.db: psycopg.Connection | None = None
        self.server: Gunicorn | None = None
        self.created = self.claimed = False

    def __enter__(self) -> "ServedApp":
        self.wrk = ensure_wrk()
        self.load_before = load_average_warn()
        self.rds = redis_client(self.args.redis, self.args.redis_db)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.tmp_prefix))
        (self.tmp / "var").mkdir()
        return self

    def prepare(self, env: dict, *scripts: str) -> None:
        """The scratch database and Redis db, migrated, static files collected, then each of
        `scripts` run with `manage.py shell -c` (the data the run needs)."""
        args = self.args
        log(f"Recreating database {args.db_name} and emptying Redis db {args.redis_db}")
        database_recreate(args.postgres, args.db_name)
        self.created = True
        redis_claim(self.rds, args.redis_db)
        self.claimed = True
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        for script in scripts:
            manage(env, "shell", "-c", script)
        self.db = psycopg.connect(f"{args.postgres}/{args.db_name}", autocommit=True)

    def serve(self, env: dict, ready_path: str) -> Gunicorn:
        self.server = Gunicorn(self.args, env, self.tmp)
        log(f"Starting {self.server.description} on {self.server.base}")
        self.server.start(ready_path)
        return self.server

    def machine(self) -> dict:
        return {**versions(self.db, self.rds, self.wrk), "load_before": self.load_before}

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.stop()
        if self.db is not None:
            self.db.close()
        if not self.args.keep_db:
            if self.created:
                database_drop(self.args.postgres, self.args.db_name)
            if self.claimed:
                self.rds.flushdb()
        self.rds.close()
        if self.args.keep_tmp:
            log(f"Temporary files kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- CPU time -------------------------------------------------------------------------------------
# Throughput on a shared machine moves with everybody else's load; the CPU time the server spends
# per request moves less. So each round also records the CPU used by gunicorn (master and workers)
# and by the PostgreSQL backends of the bench database. (Redis is left out: it is one server
# shared with other work.)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process on this machine, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


def cpu_sample(server: Gunicorn, db: psycopg.Connection, db_name: str) -> dict:
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


# --- the machine ----------------------------------------------------------------------------------


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


def machine_log(machine: dict) -> None:
    log(
        f"Machine: nproc {machine['nproc']}, {machine['cpu']}; Python {machine['python']}, "
        f"PostgreSQL {machine['postgresql']}, Redis {machine['redis']}, {machine['wrk']}, {machine['gunicorn']}"
    )
    log(f"Code: {machine['code']}; load average before the run: {machine['load_before']:.2f}")


def sessions_script(usernames) -> str:
    """Django shell code that prints "SESSION <username> <cookie name> <key>" for each user: a
    session as the workspace login leaves it after the password and the second factor
    (allauth's authentication records), so a benchmark times the pages, not the logins."""
    return f"""
import time
from importlib import import_module
from django.conf import settings
from django.contrib.auth import get_user_model
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
engine = import_module(settings.SESSION_ENGINE)
for username in {list(usernames)!r}:
    user = get_user_model().objects.get(username=username)
    session = engine.SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[-1]
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {{"method": "password", "at": time.time(), "username": username}},
        {{"method": "mfa", "at": time.time(), "type": "totp"}},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.create()
    print(f"SESSION {{username}} {{settings.SESSION_COOKIE_NAME}} {{session.session_key}}")
"""


def sessions_read(output: str) -> dict[str, str]:
    """{username: "name=key" cookie} from sessions_script's output."""
    sessions = {}
    for line in output.splitlines():
        if line.startswith("SESSION "):
            _, username, name, key = line.split()
            sessions[username] = f"{name}={key}"
    return sessions
