"""Start and stop real Celery worker processes (`celery -A config worker`) for the
fault-injection suite (tests/mailings/test_faults.py) and bench/mail.py: each in its own
session, so SIGKILL can take the whole process group (main process, pool children, embedded
beat) as a crash would."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project, where `-A config` is found


class Worker:
    def __init__(self, *, env: dict[str, str], queue: str, concurrency: int = 2, beat: bool = False,
                 workdir: str, name: str = "worker"):
        self.env = {**os.environ, **env, "CELERY_TASK_DEFAULT_QUEUE": queue, "PYTHONUNBUFFERED": "1"}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)  # config.settings, as in production
        self.queue = queue
        self.concurrency = concurrency
        self.beat = beat
        self.workdir = Path(workdir)
        self.name = name
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Worker":
        self.starts += 1
        self.started_at = time.monotonic()
        args = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
            "--concurrency", str(self.concurrency), "-Q", self.queue, "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{self.name}-{os.getpid()}-{self.starts}@%h",
        ]
        if self.beat:
            args += ["-B", "--schedule", str(self.workdir / f"beat-{self.name}")]
        log = open(self.workdir / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def uptime(self) -> float:
        return time.monotonic() - getattr(self, "started_at", time.monotonic())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the main process, as a deploy does: a warm shutdown that finishes the
        tasks it is running. Returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to every process of the worker, as a crash or an OOM kill does."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            try:
                self.terminate(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # stray pool children, if any
            except (ProcessLookupError, PermissionError):
                pass

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / f"{self.name}-{self.starts}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """Whether `predicate()` came true within `timeout` seconds, asked every `interval`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
