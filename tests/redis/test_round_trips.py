"""One command per operation, counted by the server itself (INFO commandstats).

Commands a Lua script runs are counted too; they are listed after the EVALSHA that
ran them (one round trip).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import RedisServer

from .conftest import command_counts


@pytest.fixture
def counted(own_redis: RedisServer, cache_for: Any) -> Iterator[tuple[RedisCache, Callable[[], dict[str, int]]]]:
    cache = cache_for(own_redis.url)
    admin = redis.Redis.from_url(own_redis.raw_url)
    cache.set("warm", 1)
    cache.incr("warm")  # loads the incr script, so EVALSHA hits from now on
    cache.set_many({"warm2": 1}, 30)

    def calls_of(op: Callable[[], Any]) -> dict[str, int]:
        admin.config_resetstat()
        op()
        return command_counts(admin)

    yield cache, calls_of
    admin.close()


DATA = {f"key{i}": {"value": i} for i in range(100)}


@pytest.mark.parametrize("name, op, expected", [
    ("incr", lambda c: c.incr("warm"), {"evalsha": 1, "exists": 1, "incrby": 1}),
    ("set_many with timeout", lambda c: c.set_many(DATA, 30), {"evalsha": 1, "set": 100}),
    ("set_many forever", lambda c: c.set_many(DATA, None), {"mset": 1}),
    ("set_many timeout=0", lambda c: c.set_many(DATA, 0), {"del": 1}),
    ("get_many", lambda c: c.get_many(list(DATA)), {"mget": 1}),
    ("delete_many", lambda c: c.delete_many(list(DATA)), {"del": 1}),
    ("add timeout=0", lambda c: c.add("fresh", 1, 0), {"exists": 1}),
    ("set timeout=0", lambda c: c.set("fresh", 1, 0), {"del": 1}),
    ("add", lambda c: c.add("fresh2", 1, 30), {"set": 1}),
    ("get", lambda c: c.get("warm"), {"get": 1}),
])
def test_one_round_trip(counted: Any, name: str, op: Callable[[RedisCache], Any], expected: dict[str, int]) -> None:
    cache, calls_of = counted
    assert calls_of(lambda: op(cache)) == expected


@pytest.mark.parametrize("name, op, expected", [
    ("aincr", lambda c: c.aincr("warm"), {"evalsha": 1, "exists": 1, "incrby": 1}),
    ("aset_many", lambda c: c.aset_many(DATA, 30), {"evalsha": 1, "set": 100}),
    ("aget_many", lambda c: c.aget_many(list(DATA)), {"mget": 1}),
    ("adelete_many", lambda c: c.adelete_many(list(DATA)), {"del": 1}),
    ("aadd timeout=0", lambda c: c.aadd("fresh", 1, 0), {"exists": 1}),
])
def test_one_round_trip_async(counted: Any, name: str, op: Callable[[RedisCache], Any],
                              expected: dict[str, int]) -> None:
    cache, calls_of = counted

    async def main() -> None:
        await cache.aget("warm")  # the loop's connection and the script cache warm up first
        await cache.aincr("warm")
        assert calls_of(lambda: None) == {}
        counts.update(await _timed(cache, op))

    counts: dict[str, int] = {}

    async def _timed(cache: RedisCache, op: Any) -> dict[str, int]:
        admin = redis.asyncio.Redis(connection_pool=None, **_address(cache))
        await admin.config_resetstat()
        await op(cache)
        stats = await admin.info("commandstats")
        await admin.aclose()
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
                if k not in ("cmdstat_info", "cmdstat_config|resetstat")}

    asyncio.run(main())
    assert counts == expected


def _address(cache: RedisCache) -> dict[str, Any]:
    kwargs = cache._cache._get_connection_pool(True).connection_kwargs
    return {"host": kwargs["host"], "port": kwargs["port"]}


def test_incr_keeps_the_expiry_and_the_type(counted: Any) -> None:
    cache, _ = counted
    cache.set("counter", 10, 100)
    assert cache.incr("counter", 5) == 15
    assert cache.decr("counter", 3) == 12
    ttl = cache.ttl("counter")
    assert ttl is not None and 0 < ttl <= 100
    assert cache.get("counter") == 12


def test_connections_stay_bounded_under_200_concurrent_tasks(own_redis: RedisServer, cache_for: Any) -> None:
    cache = cache_for(own_redis.url)
    cache.set("shared", "value")
    admin = redis.Redis.from_url(own_redis.raw_url)
    peak = 0

    async def main() -> list[Any]:
        nonlocal peak
        results = []
        for _ in range(3):
            results += await asyncio.gather(*(cache.aget("shared") for _ in range(200)))
            peak = max(peak, len(admin.client_list()))
        return results

    results = asyncio.run(main())
    assert results == ["value"] * 600
    # 64 async connections at most (DEFAULT_ASYNC_MAX_CONNECTIONS) + sync + admin.
    assert peak <= 64 + 3
    admin.close()
