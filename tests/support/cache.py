from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def clear_test_cache():
    """Empty this run's cache. On Redis, only keys under this run's prefix: cache.clear() would
    flush the whole database, with other runs' keys and queued Celery tasks in it."""
    if not isinstance(caches["default"], RedisCache):  # no Redis, or a test swapped in another cache
        cache.clear()
        return
    redis_cache = caches["default"]
    if not redis_cache.key_prefix:
        redis_cache.clear()
        return
    client = redis_cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{redis_cache.key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
