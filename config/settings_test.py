"""Test settings: PostgreSQL and Redis when they answer (DATABASE_URL, REDIS_URL, or the local
defaults), SQLite and an in-process cache otherwise. With CI=true both servers are required."""

import hashlib
import os
import socket
from urllib.parse import urlparse

LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/14"


def _answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


CI = os.environ.get("CI", "").lower() == "true"
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ["DEBUG"] = "False"
for name, local in (("DATABASE_URL", LOCAL_DATABASE_URL), ("REDIS_URL", LOCAL_REDIS_URL)):
    url = os.environ.get(name) or local
    if _answers(url):
        os.environ[name] = url
    elif CI:
        raise RuntimeError(f"CI=true but {name} ({url}) does not answer; start the server first")
    else:
        os.environ.pop(name, None)

os.environ.setdefault("MUSTER_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES, REDIS_URL  # noqa: E402

# Two checkouts on one machine (a working tree and CI's clean clone) may test at the same time:
# each gets its own test database, cache prefix and Celery queue.
CHECKOUT_ID = os.environ.get("MUSTER_TEST_ID") or hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["TEST"] = {"NAME": f"test_muster_{CHECKOUT_ID}"}
CELERY_TASK_DEFAULT_QUEUE = f"muster-test-{CHECKOUT_ID}"

HAS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
HAS_REDIS = bool(REDIS_URL)

if not HAS_REDIS:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-ratelimit warns that an in-process cache is not shared; in tests it needn't be.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
else:
    CACHES["default"]["KEY_PREFIX"] = f"muster-test-{CHECKOUT_ID}"  # noqa: F405

SITE_URL = "https://muster.test"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "muster.test"]
EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "CRITICAL"}}
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405
# Generous here; tests of the limits set their own.
SIGN_RATE_PER_IP_PETITION = ["1000/60s"]
# Tests read the count right after changing it; tests of the per-process copy turn it on.
COUNT_MEMO_SECONDS = 0
SIGNUP_RATE_PER_IP = ["1000/60s"]
# Organiser accounts: tests of other features need not enrol a second factor; the tests of
# two-factor (tests/organise/test_accounts_*.py) turn it back on (docs/development.md).
MUSTER_MFA_ENFORCED = False
