"""Fixtures: our RedisCache against real redis-server and valkey-server processes.

Every test that uses a server runs once per ``flavour`` (test ids end in ``[redis]``
or ``[valkey]``): ``redis_url`` is the shared server of that flavour (``valkey://``
for Valkey, so the backend's Valkey spelling is exercised throughout); tests that
start their own servers pass ``flavour=`` to the factories in tests/_servers.
``for_redis_py(url)`` is the same address as redis-py (or Django's backend) takes it.

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
from tests._servers.redis import FLAVOURS, Flavour, RedisServer, redis_server
from tests.conftest import dedicated, server_env

CacheFactory = Callable[..., RedisCache]
REDIS_PY_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}
SHARED = {"redis": ("ALTCACHE_REDIS_URL", "redis-server"), "valkey": ("ALTCACHE_VALKEY_URL", "valkey-server")}


@pytest.fixture(scope="session", params=list(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return FLAVOURS[request.param]


@pytest.fixture(scope="session")
def redis_url(flavour: Flavour) -> str:
    """The shared server of this flavour (overrides tests/conftest.py's Redis-only one)."""
    return server_env(*SHARED[flavour.name])


def for_redis_py(url: str) -> str:
    """``valkey[s]://`` as ``redis[s]://``: redis-py and Django's backend know only those."""
    scheme, sep, rest = url.partition("://")
    return f"{REDIS_PY_SCHEMES.get(scheme, scheme)}{sep}{rest}"


@pytest.fixture
def own_redis(flavour: Flavour) -> Iterator[RedisServer]:
    yield from dedicated(redis_server, flavour=flavour)


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
    client = redis.Redis.from_url(for_redis_py(redis_url))
    yield client
    client.close()


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT (INFO commandstats)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
            if name != "cmdstat_info" and name != "cmdstat_config|resetstat"}
