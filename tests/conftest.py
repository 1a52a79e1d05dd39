import importlib.util
import os

import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.support.cache import clear_test_cache

CI = os.environ.get("CI", "").lower() == "true"

# Property-based tests: at least 1,000 examples each in CI, fewer on a laptop. A failure prints
# the example and the seed (`--hypothesis-seed=N` replays it). No deadline: the database's
# first query in a test is slower than the rest.
hypothesis_settings.register_profile(
    "ci", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile(
    "dev", max_examples=150, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if CI else "dev"))
# Browser tests drive Debian's chromium through its chromium-driver with Selenium.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_missing() -> str | None:
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if absent:
        return f"{' and '.join(absent)} not installed (apt-get install -y chromium chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "Selenium is not installed (pip install selenium)"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip, with the reason, tests that need a server that is not running; under CI=true
    settings_test has already refused to start without them, so nothing is skipped."""
    missing = {
        "postgres": None if settings.HAS_POSTGRES else "PostgreSQL is not running (set DATABASE_URL or start it on 127.0.0.1:5432)",
        "redis": None if settings.HAS_REDIS else "Redis is not running (set REDIS_URL or start it on 127.0.0.1:6379)",
        "browser": _browser_missing(),
    }
    for item in items:
        for marker, reason in missing.items():
            if reason and item.get_closest_marker(marker):
                if CI:
                    raise pytest.UsageError(f"CI=true and {reason}")
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _anymail_test_backend(settings):
    """Django's test runner swaps in the locmem backend; send through anymail's test backend
    instead, so tests see what anymail would post to the ESP."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"


@pytest.fixture(autouse=True)
def _clear_cache():
    clear_test_cache()
    yield
    clear_test_cache()


# The people and organisations of tests.support.base.MusterTestCase, for tests written as functions.


@pytest.fixture
def host(db):
    from tests.support.factories import make_organisation

    return make_organisation()


@pytest.fixture
def partner(db):
    from tests.support.factories import make_partner

    return make_partner()


@pytest.fixture
def organiser(db):
    from tests.support.factories import make_organiser

    return make_organiser()
