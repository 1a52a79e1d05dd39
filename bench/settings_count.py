"""Settings for bench/count_api.py only: bench/settings_bench.py (the app's own settings, the raw
sign reference route, a temporary static root) plus the hello-world reference route."""

from bench.settings_bench import *  # noqa: F403

ROOT_URLCONF = "bench.urls_count"
