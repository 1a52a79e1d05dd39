"""Django's Redis cache, with one client object per connection pool.

Django's RedisCacheClient builds a new redis.Redis object for every cache call; each build
fills a table of ~150 response callbacks. On the sign POST (rate limits, counts) that was about
a tenth of the CPU. redis.Redis is safe to share between threads (it takes a connection from
its pool per command), so one per pool is enough.
"""

from django.core.cache.backends import redis as django_redis


class _RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _RedisCacheClient
