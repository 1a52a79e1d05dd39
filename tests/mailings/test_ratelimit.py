"""One sending rate per ESP shared by every worker: two limiters (two workers) draw on the
same Redis buckets, so together they never exceed the quota."""

import threading
import time

import pytest
import redis
from django.conf import settings

from mailings import ratelimit
from mailings.ratelimit import RateLimited, RateLimiter

pytestmark = pytest.mark.redis


@pytest.fixture
def key_prefix(settings, monkeypatch):
    # Not the cache's Redis database: every test run's cache.clear() flushes that one, and a
    # flush in the middle of a test refills the buckets.
    settings.MAILINGS_RATE_LIMIT_REDIS_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/12"
    monkeypatch.setattr(ratelimit, "_redis_client", None)
    settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = f"muster-test-{settings.CHECKOUT_ID}-rate-{time.monotonic_ns()}"


def redis_seconds() -> float:
    seconds, micros = redis.Redis.from_url(settings.MAILINGS_RATE_LIMIT_REDIS_URL).time()
    return seconds + micros / 1e6


def test_it_shares_the_per_second_bucket_between_workers(key_prefix):
    first, second = RateLimiter(esp="mailgun", per_second=10, per_hour=0), RateLimiter(esp="mailgun", per_second=10, per_hour=0)
    assert first.try_take(6) == 0
    assert second.try_take(4) == 0
    wait = second.try_take(5)
    assert 0.3 < wait <= 0.6  # five more tokens take half a second at ten a second
    with pytest.raises(RateLimited):
        first.take(5, max_wait=0.1)


def test_it_holds_the_rate_across_threads_and_limiters(key_prefix):
    limiters = [RateLimiter(esp="postmark", per_second=50, per_hour=0) for _ in range(4)]
    taken = []

    def work(limiter):
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            limiter.take(5, max_wait=2)
            taken.append(5)

    threads = [threading.Thread(target=work, args=(each,)) for each in limiters]
    started = redis_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = redis_seconds() - started  # the limiter's own clock
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


@pytest.mark.django_db
def test_transactional_emails_count_against_the_same_quota_and_wait_for_it(key_prefix, settings, mailoutbox):
    from engage.models import Supporter
    from mailings.models import OutboundEmail
    from mailings.services import EmailRateLimited, transactional_send
    from tests.factories import make_petition

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
    time.sleep(0.6)
    assert confirm("confirm:2") is True  # the retry, once the bucket has refilled
    assert len(mailoutbox) == 2


@pytest.mark.django_db
def test_reminders_stop_at_the_rate_limit_and_the_next_run_goes_on(key_prefix, settings, mailoutbox,
                                                                   django_capture_on_commit_callbacks):
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from petitions import services
    from petitions.models import Signature
    from tests.factories import make_petition

    petition = make_petition()
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("ada", "bob", "cy"):
            services.petition_sign(petition=petition, first_name=name, last_name="Test", email=f"{name}@example.org",
                                   country="GB", postcode="S70 2AB", opt_in=False)
    mailoutbox.clear()
    settings.MAILINGS_RATE_PER_SECOND = 1
    settings.MAILINGS_RATE_MAX_WAIT_SECONDS = 0
    due = timezone.now() + settings.CONFIRM_REMINDER_AFTER + timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=due):
        started = time.monotonic()
        assert services.signatures_remind() == 1  # one token, then it stops rather than wait for each
        assert time.monotonic() - started < 2
        assert Signature.objects.filter(reminder_sent_at__isnull=False).count() == 1
        time.sleep(1.1)
        assert services.signatures_remind() == 1
    assert len(mailoutbox) == 2
    assert Signature.objects.filter(reminder_sent_at__isnull=False).count() == 2
