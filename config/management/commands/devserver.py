"""`make run`: the web server, a Celery worker and beat in one terminal, on the embedded
defaults (SQLite, kombu's filesystem broker, emails as files). Ctrl-C stops all three."""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

DEMO_TOTP_CODE = "123456"


class Command(BaseCommand):
    help = "Run the web server with a Celery worker and beat alongside (development)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default=os.environ.get("MUSTER_ADDRPORT", "127.0.0.1:8000"))

    def handle(self, *args, addrport, **options):
        for folder in ("broker", "broker-control", "mail", "cache"):
            (settings.VAR_DIR / folder).mkdir(parents=True, exist_ok=True)
        site = f"http://{addrport}"
        # Links in emails point at this server unless SITE_URL says otherwise.
        os.environ.setdefault("SITE_URL", site)
        # The demo's second factor: this code passes wherever an authenticator app's is asked
        # for (DEBUG only; config/settings.py).
        os.environ.setdefault("MUSTER_DEMO_TOTP_CODE", DEMO_TOTP_CODE)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--pool=threads",
             "--concurrency=2", "--loglevel=INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nMuster is starting at {site}/\n"
                f"  Petition:        {site}/p/scrap-the-icp-contract/\n"
                f"  Workspace:       {site}/organise/\n"
                f"    organiser login: admin / muster-admin   (the coalition; also the admin at {site}/admin/)\n"
                f"    partner login:   weownit / muster-partner   (We Own It's slice)\n"
                f"    two-factor:      when asked for an authenticator app's code, {os.environ['MUSTER_DEMO_TOTP_CODE']} works here\n"
                f"  Emails:          {site}/dev/outbox/  and files in {settings.MAIL_OUTBOX_DIR}\n"
                f"  Broker:          {settings.CELERY_BROKER_URL.split('@')[-1]}\n"
            )
        )
        try:
            subprocess.call([sys.executable, "manage.py", "runserver", "--noreload", addrport])
        except KeyboardInterrupt:
            pass
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
