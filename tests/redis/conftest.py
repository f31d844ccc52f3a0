"""Fixtures: our RedisCache against real redis-server processes.

``cache_for(location, **params)`` builds the backend as Django's CacheHandler does
(``Backend(location, params)``). Tests that kill servers use ``own_redis``; the rest
share the server runtests.py started and isolate themselves with a unique KEY_PREFIX.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import RedisServer, redis_server
from tests.conftest import dedicated

CacheFactory = Callable[..., RedisCache]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    yield from dedicated(redis_server)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cache_for(prefix: str) -> CacheFactory:
    def build(location: Any, **params: Any) -> RedisCache:
        params.setdefault("KEY_PREFIX", prefix)
        return RedisCache(location, params)

    return build


@pytest.fixture
def cache(cache_for: CacheFactory, redis_url: str) -> RedisCache:
    return cache_for(redis_url)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT (INFO commandstats)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
            if name != "cmdstat_info" and name != "cmdstat_config|resetstat"}
