"""Settings for bench/sign.py only: the app's own settings, unchanged, plus a URL module that
adds the raw-SQL reference endpoint, and a static root outside the work tree.

Every other value still comes from the environment that bench/sign.py gives gunicorn."""

import os

from config.settings import *  # noqa: F403
from config.settings import STATIC_ROOT

ROOT_URLCONF = "bench.urls"
# Its own queue name, so a worker or a test run on the same Redis never takes the tasks that
# bench/sign.py counts. The name changes nothing in the cost of a publish.
CELERY_TASK_DEFAULT_QUEUE = "muster-bench"
# collectstatic writes the manifest that DEBUG=False needs; bench/sign.py points this at a
# temporary directory so the work tree is not touched.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", str(STATIC_ROOT))
