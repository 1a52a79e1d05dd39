"""One sending rate per ESP shared by every worker: two limiters (two workers) draw on the
same Redis buckets, so together they never exceed the quota. Time is the test's own clock,
which moves only when a limiter sleeps or the test moves it."""

import threading
import time

import pytest

from mailings import ratelimit
from mailings.ratelimit import RateLimited, RateLimiter
from petitions.services.signing import petition_sign, signatures_remind

pytestmark = pytest.mark.redis


class ManualClock:
    """A limiter's clock that the test moves. A sleep moves it on by the wait from when the
    sleeping thread last read it, so threads sleeping side by side move it once, as real
    time would pass."""

    def __init__(self, start: float = 1_000_000.0):
        self.lock = threading.Lock()
        self.time = start
        self.read = threading.local()

    def now(self) -> float:
        with self.lock:
            self.read.at = self.time
            return self.time

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.time = max(self.time, getattr(self.read, "at", self.time) + seconds)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.time += seconds


@pytest.fixture
def clock(monkeypatch):
    """Every limiter made during the test (the services' too) reads and sleeps on this clock."""
    manual = ManualClock()
    monkeypatch.setattr(ratelimit, "default_clock", ratelimit.Clock(now=manual.now, sleep=manual.sleep))
    return manual


@pytest.fixture
def key_prefix(settings, monkeypatch, clock):
    # Not the cache's Redis database: every test run's cache.clear() flushes that one, and a
    # flush in the middle of a test refills the buckets.
    settings.MAILINGS_RATE_LIMIT_REDIS_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/12"
    monkeypatch.setattr(ratelimit, "_redis_client", None)
    settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = f"muster-test-{settings.CHECKOUT_ID}-rate-{time.monotonic_ns()}"


def test_it_shares_the_per_second_bucket_between_workers(key_prefix):
    first, second = RateLimiter(esp="mailgun", per_second=10, per_hour=0), RateLimiter(esp="mailgun", per_second=10, per_hour=0)
    assert first.try_take(6) == 0
    assert second.try_take(4) == 0
    wait = second.try_take(5)
    assert 0.3 < wait <= 0.6  # five more tokens take half a second at ten a second
    with pytest.raises(RateLimited):
        first.take(5, max_wait=0.1)


def test_it_holds_the_rate_across_threads_and_limiters(key_prefix, clock):
    limiters = [RateLimiter(esp="postmark", per_second=50, per_hour=0) for _ in range(4)]
    taken = []

    def work(limiter):
        deadline = clock.now() + 1.0
        while clock.now() < deadline:
            limiter.take(5, max_wait=2)
            taken.append(5)

    threads = [threading.Thread(target=work, args=(each,)) for each in limiters]
    started = clock.now()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = clock.now() - started  # the limiter's own clock
    # A full bucket (50) plus 50 a second; never what four unshared limiters would allow.
    assert sum(taken) <= 50 + 50 * elapsed + 5
    assert sum(taken) >= 50


def test_it_applies_the_hourly_quota_too(key_prefix):
    limiter = RateLimiter(esp="ses", per_second=1000, per_hour=20)
    assert limiter.try_take(20) == 0
    assert limiter.try_take(1) > 60  # the next token is three minutes away


def test_a_chunk_larger_than_the_bucket_waits_for_a_full_bucket_then_goes_into_debt(key_prefix):
    limiter = RateLimiter(esp="mailgun", per_second=100, per_hour=0)
    assert limiter.try_take(500) == 0  # full bucket: allowed, 400 in debt
    assert limiter.try_take(1) > 3.5


def test_without_a_clock_of_its_own_it_reads_redis_time(key_prefix):
    limiter = RateLimiter(esp="mailgun", per_second=10, per_hour=0, clock=ratelimit.Clock())
    assert limiter.try_take(10) == 0
    assert 0 < limiter.try_take(5) <= 0.5


def test_without_redis_the_same_buckets_live_in_the_process(settings, monkeypatch, clock):
    settings.MAILINGS_RATE_LIMIT_REDIS_URL = ""
    settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = "muster-test-local"
    monkeypatch.setattr(ratelimit, "_local", ratelimit._LocalBuckets())
    first, second = RateLimiter(esp="mailgun", per_second=10, per_hour=0), RateLimiter(esp="mailgun", per_second=10, per_hour=0)
    assert first.try_take(6) == 0
    assert second.try_take(4) == 0
    assert 0.3 < second.try_take(5) <= 0.6
    with pytest.raises(RateLimited):
        first.take(5, max_wait=0.1)
    first.take(5, max_wait=1)  # sleeps on the test's clock until the tokens are there
    assert second.try_take(1) > 0


@pytest.mark.django_db
def test_transactional_emails_count_against_the_same_quota_and_wait_for_it(key_prefix, clock, settings, mailoutbox):
    from engage.models import Supporter
    from mailings.models import OutboundEmail
    from mailings.services.transactional import EmailRateLimited, transactional_send
    from tests.support.factories import make_petition

    settings.MAILINGS_RATE_PER_SECOND = 2
    settings.MAILINGS_RATE_MAX_WAIT_SECONDS = 0
    petition = make_petition()
    ada = Supporter.objects.create(email="ada@example.org", first_name="Ada", last_name="Lovelace")

    def confirm(key: str) -> bool:
        return transactional_send(
            dedupe_key=key, kind="signature_confirm", supporter=ada, template="petitions/email/confirm",
            context={"petition": petition, "confirm_url": "https://x", "pending": True},
        )

    bulk = ratelimit.esp_limiter("test")  # the ESP of anymail's test backend, which both streams use here
    assert bulk.try_take(1) == 0
    assert confirm("confirm:1") is True  # the second token of the second
    assert bulk.try_take(1) > 0  # the confirmation took one: the mailing must wait
    with pytest.raises(EmailRateLimited, match="rate limit"):
        confirm("confirm:2")
    waiting = OutboundEmail.objects.get(dedupe_key="confirm:2")
    assert (waiting.status, waiting.attempts) == (OutboundEmail.Status.QUEUED, 0)  # handed back, not failed
    assert len(mailoutbox) == 1
    clock.advance(0.6)
    assert confirm("confirm:2") is True  # the retry, once the bucket has refilled
    assert len(mailoutbox) == 2


@pytest.mark.django_db
def test_reminders_stop_at_the_rate_limit_and_the_next_run_goes_on(key_prefix, clock, settings, mailoutbox,
                                                                   django_capture_on_commit_callbacks):
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from petitions.models import Signature
    from tests.support.factories import make_petition

    petition = make_petition()
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("ada", "bob", "cy"):
            petition_sign(petition=petition, first_name=name, last_name="Test", email=f"{name}@example.org",
                                   country="GB", postcode="S70 2AB", opt_in=False)
    mailoutbox.clear()
    settings.MAILINGS_RATE_PER_SECOND = 1
    settings.MAILINGS_RATE_MAX_WAIT_SECONDS = 0
    due = timezone.now() + settings.CONFIRM_REMINDER_AFTER + timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=due):
        started = clock.now()
        assert signatures_remind() == 1  # one token, then it stops rather than wait for each
        assert clock.now() - started < 2
        assert Signature.objects.filter(reminder_sent_at__isnull=False).count() == 1
        clock.advance(1.1)
        assert signatures_remind() == 1
    assert len(mailoutbox) == 2
    assert Signature.objects.filter(reminder_sent_at__isnull=False).count() == 2
