"""The fault-injection rig: real Celery workers (each with its own beat) sending a mailing to the
mock ESP, reaching PostgreSQL and Redis through BlipProxy, so a test can kill them, blip their
services and slow or break the ESP, then check what every recipient received.

Every random choice comes from one seed, printed at the start of each test and in every
failure message; MUSTER_FAULT_SEED=<seed> replays it.
"""

import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from config.celery import app
from mailings.models import Delivery, Mailing
from tests.support.faults import BlipProxy
from tests.support.mock_esp import MockEsp
from tests.support.workers import Worker, wait_until

SETTLED = {Delivery.Status.SENT, Delivery.Status.FAILED, Delivery.Status.SKIPPED, Delivery.Status.DROPPED,
           Delivery.Status.CANCELLED}


def fault_seed() -> int:
    seed = int(os.environ.get("MUSTER_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nfault seed: {seed} (replay with MUSTER_FAULT_SEED={seed})")
    return seed


@dataclass
class Rig:
    seed: int
    esp: MockEsp
    database: BlipProxy
    redis: BlipProxy
    queue: str
    workdir: str
    env: dict
    workers: list[Worker] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    watchers: list[tuple[threading.Event, threading.Thread]] = field(default_factory=list)

    @property
    def rng(self) -> random.Random:
        if not hasattr(self, "_rng"):
            self._rng = random.Random(self.seed)
        return self._rng

    def start_workers(self, count: int = 2, *, beat: bool = True) -> None:
        for n in range(count):
            self.workers.append(Worker(env=self.env, queue=self.queue, concurrency=2, beat=beat, workdir=self.workdir,
                                       name=f"w{n}").start())

    def stop(self) -> None:
        for stop, thread in self.watchers:
            stop.set()
            thread.join(timeout=10)
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.log_tail(25)}" for w in self.workers)

    def say(self, text: str) -> str:
        return f"[seed {self.seed}] {text}"

    # --- watching a mailing ---

    def copies(self, mailing: Mailing) -> dict[int, int]:
        ids = set(Delivery.objects.filter(mailing=mailing).values_list("pk", flat=True))
        return {int(k): n for k, n in self.esp.copies_snapshot().items() if k and int(k) in ids}

    def progress(self, mailing: Mailing) -> float:
        total = mailing.recipient_count or 1
        return len(self.copies(mailing)) / total

    def watch(self, mailing: Mailing) -> threading.Event:
        """Check, all along, that the mailing is never `sent` while a delivery is unsettled."""
        stop = threading.Event()

        def look():
            try:
                while not stop.is_set():
                    status = Mailing.objects.filter(pk=mailing.pk).values_list("status", flat=True).first()
                    if status == Mailing.Status.SENT:
                        pending = Delivery.objects.filter(mailing=mailing).exclude(status__in=SETTLED).count()
                        if pending:
                            self.violations.append(f"mailing sent with {pending} deliveries unsettled")
                    stop.wait(0.25)
            finally:
                connection.close()

        thread = threading.Thread(target=look, daemon=True)
        thread.start()
        self.watchers.append((stop, thread))
        return stop

    def wait_sent(self, mailing: Mailing, timeout: float) -> bool:
        return wait_until(lambda: Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT,
                          timeout=timeout, interval=0.25)

    def assert_exactly_once(self, mailing: Mailing, expected: int) -> dict:
        """Every recipient has exactly one message or is failed after its attempts; nobody two."""
        mailing.refresh_from_db()
        assert not self.violations, self.say(str(self.violations[:3]))
        assert mailing.status == Mailing.Status.SENT, self.say(f"mailing is {mailing.status}\n{self.logs()}")
        assert mailing.recipient_count == expected
        copies = self.copies(mailing)
        doubled = {k: n for k, n in copies.items() if n > 1}
        assert not doubled, self.say(f"{len(doubled)} recipients got more than one: {list(doubled.items())[:5]}")
        rows = dict(Delivery.objects.filter(mailing=mailing).values_list("pk", "status"))
        statuses = Counter(rows.values())
        assert set(statuses) <= {Delivery.Status.SENT, Delivery.Status.FAILED}, self.say(str(statuses))
        sent = {pk for pk, status in rows.items() if status == Delivery.Status.SENT}
        assert set(copies) == sent, self.say(
            f"sent but not received: {len(sent - set(copies))}; received but not sent: {len(set(copies) - sent)}")
        failed = Delivery.objects.filter(mailing=mailing, status=Delivery.Status.FAILED)
        assert all(d.attempts >= settings.MAILINGS_MAX_ATTEMPTS or "refused" in d.last_error for d in failed), self.say(
            "a delivery failed before its attempts ran out")
        return statuses


def rig_env(*, esp: MockEsp, database: BlipProxy, redis: BlipProxy, queue: str, workdir: str, **overrides) -> dict:
    """The workers' environment: this test's database and Redis through the proxies."""
    db = connection.settings_dict
    redis_db = (urlsplit(settings.REDIS_URL).path or "/0").strip("/") or "0"
    redis_url = redis.url_for_redis(int(redis_db))
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        "DEBUG": "False",
        "SITE_URL": settings.SITE_URL,
        "DATABASE_URL": database.url_for_postgres(db["NAME"], db["USER"]),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "MUSTER_VAR_DIR": workdir,
        "MAILINGS_RATE_LIMIT_KEY_PREFIX": queue,
        "MAILINGS_RATE_PER_SECOND": "5000",
        "MAILINGS_SEND_LANES": "4",
        "MAILINGS_TICK_SECONDS": "1",
        "MAILINGS_LANE_LEASE_SECONDS": "2",
        "MAILINGS_CLAIM_TIMEOUT_SECONDS": "3",
        "ANYMAIL_REQUESTS_TIMEOUT": "0.6",
        "MAILINGS_SEARCH_DELAY_SECONDS": "2",
        "MAILINGS_MAX_ATTEMPTS": "8",
        "LOG_LEVEL": "WARNING",
        **esp_env(esp, "batch"),
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def esp_env(esp: MockEsp, mode: str) -> dict:
    if mode == "batch":
        return {"EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend", "ANYMAIL_MAILGUN_API_KEY": "k",
                "ANYMAIL_MAILGUN_API_URL": f"{esp.url}/v3", "ANYMAIL_MAILGUN_SENDER_DOMAIN": "mail.muster.test",
                "MAILINGS_SEND_MODE": "batch", "MAILINGS_CHUNK_SIZE": "500"}
    return {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend", "ANYMAIL_POSTMARK_SERVER_TOKEN": "t",
            "ANYMAIL_POSTMARK_API_URL": f"{esp.url}/", "MAILINGS_SEND_MODE": "single", "MAILINGS_CHUNK_SIZE": "100",
            "MAILINGS_SINGLE_GROUP_SIZE": "10"}


class rig_running:
    """Context manager: a Rig with its ESP, proxies and queue, torn down afterwards."""

    def __init__(self, *, seed: int, mode: str, **overrides):
        self.seed, self.mode, self.overrides = seed, mode, overrides

    def __enter__(self) -> Rig:
        self.esp = MockEsp(seed=self.seed).start()
        self.database = BlipProxy(connection.settings_dict["HOST"] or "127.0.0.1",
                                  int(connection.settings_dict["PORT"] or 5432)).start()
        parts = urlsplit(settings.REDIS_URL)
        self.redis = BlipProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
        self.queue = f"muster-faults-{uuid.uuid4().hex[:10]}"
        self.saved = app.conf.task_always_eager, app.conf.task_default_queue
        app.conf.task_always_eager = False
        app.conf.task_default_queue = self.queue
        self.tmp = tempfile.TemporaryDirectory()
        env = rig_env(esp=self.esp, database=self.database, redis=self.redis, queue=self.queue, workdir=self.tmp.name,
                      **{**esp_env(self.esp, self.mode), **self.overrides})
        self.rig = Rig(seed=self.seed, esp=self.esp, database=self.database, redis=self.redis, queue=self.queue,
                       workdir=self.tmp.name, env=env)
        return self.rig

    def __exit__(self, *exc) -> None:
        try:
            self.rig.stop()
        finally:
            self.database.up()
            self.redis.up()
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.queue)
            app.conf.task_always_eager, app.conf.task_default_queue = self.saved
            self.esp.stop()
            self.database.stop()
            self.redis.stop()
            self.tmp.cleanup()


def kill_moments(rng: random.Random, count: int) -> list[float]:
    """Shares of the send at which to kill: spread at random, one always in the last 10%."""
    moments = sorted(rng.uniform(0.05, 0.88) for _ in range(count - 1))
    return [*moments, rng.uniform(0.9, 0.99)]


def pause(rng: random.Random, low: float, high: float) -> None:
    time.sleep(rng.uniform(low, high))
