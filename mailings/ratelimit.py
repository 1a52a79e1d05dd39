"""One sending rate per ESP, shared by every worker on every machine.

Celery's own `rate_limit` counts per worker, so adding workers would break the ESP's quota.
Here a token bucket per limit (messages per second, messages per hour) lives in Redis, and one
Lua script refills and takes from both atomically. A chunk larger than a bucket waits for the
bucket to be full and leaves it in debt, so the average rate still holds.

Without Redis (the embedded default, one worker) the same buckets live in the process.

The time comes from a Clock: by default Redis's own (one clock for every machine) or, in the
process, time.monotonic; tests give one they move themselves instead of sleeping.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

# KEYS: one per bucket. ARGV: tokens wanted, the time in milliseconds ("" for Redis's own),
# then each bucket's refill rate (tokens per millisecond) and capacity. Returns 0 when the
# tokens were taken, else the milliseconds to wait (and takes none). A bucket's time never
# goes back, so a late caller with an older reading refills nothing twice.
_LUA = """
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = tonumber(ARGV[1])
local wait = 0
local levels = {}
local stamps = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i + 1])
  local cap = tonumber(ARGV[2 * i + 2])
  local b = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(b[1]) or cap
  local ts = tonumber(b[2]) or now
  tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
  local need = math.min(n, cap)
  if tokens < need then
    wait = math.max(wait, math.ceil((need - tokens) / rate))
  end
  levels[i] = tokens
  stamps[i] = math.max(now, ts)
end
if wait > 0 then
  return wait
end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i + 1])
  local cap = tonumber(ARGV[2 * i + 2])
  redis.call('HSET', KEYS[i], 'tokens', tostring(levels[i] - n), 'ts', tostring(stamps[i]))
  redis.call('PEXPIRE', KEYS[i], math.ceil(cap / rate) + 60000)
end
return 0
"""


@dataclass(frozen=True)
class Clock:
    """Where a limiter reads the time (seconds) and how it waits. `now` None: the buckets'
    own time, Redis's TIME (a machine's clock may be off from the others') or, in the process,
    time.monotonic."""

    now: Callable[[], float] | None = None
    sleep: Callable[[float], None] = time.sleep

    def seconds(self) -> float:
        """The time for deadlines: this clock's, or time.monotonic."""
        return self.now() if self.now is not None else time.monotonic()


# The clock of limiters made without one (esp_limiter's); tests replace it with their own.
default_clock = Clock()


class RateLimited(Exception):
    """The tokens will not be there within the wait allowed; `wait` is seconds until they are."""

    def __init__(self, wait: float):
        super().__init__(f"rate limited for {wait:.1f}s")
        self.wait = wait


@dataclass(frozen=True)
class Bucket:
    suffix: str
    per_ms: float  # refill rate, tokens per millisecond
    capacity: float


class _LocalBuckets:
    """The same arithmetic as the Lua script, for a single process without Redis."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state: dict[str, tuple[float, float]] = {}

    def take(self, keys: list[str], buckets: list[Bucket], n: int, clock: Clock) -> int:
        with self.lock:
            now_ms = clock.seconds() * 1000
            wait, levels, stamps = 0, [], []
            for key, bucket in zip(keys, buckets, strict=True):
                tokens, ts = self.state.get(key, (bucket.capacity, now_ms))
                tokens = min(bucket.capacity, tokens + max(0.0, now_ms - ts) * bucket.per_ms)
                need = min(n, bucket.capacity)
                if tokens < need:
                    wait = max(wait, int((need - tokens) / bucket.per_ms) + 1)
                levels.append(tokens)
                stamps.append(max(now_ms, ts))
            if wait:
                return wait
            for key, tokens, ts in zip(keys, levels, stamps, strict=True):
                self.state[key] = (tokens - n, ts)
            return 0


_local = _LocalBuckets()
_redis_client = None
_script = None


def _redis():
    global _redis_client, _script
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.MAILINGS_RATE_LIMIT_REDIS_URL, socket_timeout=5)
        _script = _redis_client.register_script(_LUA)
    return _redis_client, _script


class RateLimiter:
    def __init__(self, *, esp: str, per_second: int, per_hour: int, clock: Clock | None = None):
        self.clock = clock or default_clock
        self.buckets = []
        if per_second > 0:
            self.buckets.append(Bucket("s", per_second / 1000.0, float(per_second)))
        if per_hour > 0:
            self.buckets.append(Bucket("h", per_hour / 3_600_000.0, float(per_hour)))
        prefix = settings.MAILINGS_RATE_LIMIT_KEY_PREFIX
        self.keys = [f"{prefix}:mailrate:{esp}:{bucket.suffix}" for bucket in self.buckets]

    def try_take(self, n: int) -> float:
        """Take n tokens now and return 0, or take none and return seconds to wait."""
        if not self.buckets or n <= 0:
            return 0.0
        if settings.MAILINGS_RATE_LIMIT_REDIS_URL:
            _client, script = _redis()
            args = [n, "" if self.clock.now is None else repr(self.clock.now() * 1000)]
            for bucket in self.buckets:
                args += [repr(bucket.per_ms), repr(bucket.capacity)]
            wait_ms = int(script(keys=self.keys, args=args))
        else:
            wait_ms = _local.take(self.keys, self.buckets, n, self.clock)
        return wait_ms / 1000.0

    def take(self, n: int, *, max_wait: float) -> None:
        """Take n tokens, sleeping while the wait is short; RateLimited if it is longer."""
        deadline = self.clock.seconds() + max_wait
        while True:
            wait = self.try_take(n)
            if wait <= 0:
                return
            if self.clock.seconds() + wait > deadline:
                raise RateLimited(wait)
            self.clock.sleep(wait)


def esp_limiter(esp: str, *, clock: Clock | None = None) -> RateLimiter:
    """The ESP's quota: mailings and transactional emails sent through it both take from it."""
    return RateLimiter(
        esp=esp, per_second=settings.MAILINGS_RATE_PER_SECOND, per_hour=settings.MAILINGS_RATE_PER_HOUR, clock=clock
    )
