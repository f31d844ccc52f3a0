"""django-redis's settings and extras against real servers: REVERSE_KEY_FUNCTION, CLOSE_CONNECTION,
fail-soft of the new operations and django-redis's logging of it, SENTINELS with a
redis://service_name LOCATION, and every new method having an async twin of the same signature.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import override_settings

from django_altcache.backends.redis import RedisCache
from django_altcache.backends.redis.extras import OPERATIONS as EXTRA_OPERATIONS
from django_altcache.backends.redis.extras import ExtrasMixin
from django_altcache.backends.redis.structures import OPERATIONS as STRUCTURE_OPERATIONS
from django_altcache.backends.redis.structures import StructuresMixin
from tests._servers.base import free_port
from tests._servers.redis_ha import SentinelTopology, redis_sentinel
from tests.conftest import dedicated


def pipe_key(key: str, prefix: str, version: Any) -> str:
    return f"{prefix}|{version}|{key}"


def pipe_reverse(key: str) -> str:
    return key.split("|", 2)[2]


def test_keys_come_back_as_written_with_a_custom_key_function(redis_url: str, prefix: str) -> None:
    params = {"KEY_PREFIX": prefix, "KEY_FUNCTION": pipe_key}
    reversed_ = RedisCache(redis_url, {**params, "REVERSE_KEY_FUNCTION": f"{__name__}.pipe_reverse"})
    reversed_.set_many({"a1": 1, "a2": 2, "b": 3})
    assert sorted(reversed_.keys("a*")) == ["a1", "a2"]
    assert sorted(reversed_.iter_keys("a*")) == ["a1", "a2"]
    assert asyncio.run(reversed_.akeys("b")) == ["b"]
    # Without REVERSE_KEY_FUNCTION: django-redis's default (after the second ':'), else the stored key.
    plain = RedisCache(redis_url, params)
    assert sorted(plain.keys("a*")) == [f"{prefix}|1|a1", f"{prefix}|1|a2"]
    assert plain.delete_pattern("a*") == 2 and plain.keys("*") == [f"{prefix}|1|b"]


def test_prefix_and_version_of_delete_pattern(cache_for: Any, redis_url: str, prefix: str) -> None:
    cache = cache_for(redis_url)
    other = cache_for(redis_url, KEY_PREFIX=prefix + "-o")
    cache.set("x1", 1, version=2)
    other.set("x1", 1)
    assert cache.delete_pattern("x*") == 0
    assert cache.delete_pattern("x*", version=2) == 1
    assert cache.delete_pattern("x*", prefix=prefix + "-o") == 1 and other.get("x1") is None


def _client_ids(client: redis.Redis) -> set[int]:
    return {int(entry["id"]) for entry in client.client_list()}


def test_close_keeps_connections_unless_close_connection(redis_url: str, prefix: str, raw: redis.Redis) -> None:
    keep = RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": {"db": 3}})
    keep.get("x")
    kept = keep._cache._leader.client_id()
    keep.close()
    assert kept in _client_ids(raw)
    drop = RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": {"db": 4, "CLOSE_CONNECTION": True}})
    drop.get("x")
    dropped = drop._cache._leader.client_id()
    drop.close()
    assert dropped not in _client_ids(raw)
    assert drop.get("x", "again") == "again"  # a new connection next time

    async def main() -> tuple[int, bool]:
        await drop.aget("x")
        connection_id = await drop._cache._aleader().client_id()
        await drop.aclose()
        return connection_id, (await drop.aget("y", 1)) == 1

    connection_id, works = asyncio.run(main())
    assert connection_id not in _client_ids(raw) and works
    with override_settings(DJANGO_REDIS_CLOSE_CONNECTION=True):
        assert RedisCache(redis_url, {"KEY_PREFIX": prefix})._close_connection is True


def test_the_new_operations_fail_soft(prefix: str, caplog: Any) -> None:
    dead = f"redis://127.0.0.1:{free_port()}"  # nothing listens: refused at once
    cache = RedisCache(dead, {"KEY_PREFIX": prefix, "OPTIONS": {"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": False}})
    assert cache.set("k", 1, nx=True) is False and cache.set("k", 1) is None
    assert cache.keys("*") == [] and cache.delete_pattern("*") == 0 and cache.ttl("k") == 0
    assert cache.expire("k", 5) is False and cache.persist("k") is False and cache.pttl("k") == 0
    assert cache.hgetall("h") == {} and cache.hget("h", "f") is None and cache.hset("h", "f", 1) == 0
    assert cache.smembers("s") == set() and cache.sadd("s", 1) == 0 and cache.smismember("s", 1, 2) == [False, False]
    assert cache.zrange("z", 0, -1) == [] and cache.zscore("z", "a") is None and cache.zpopmax("z", 2) == []
    assert cache.spop("s") is None and cache.spop("s", 2) == set() and cache.delete_many(["a"]) is None

    async def main() -> list[Any]:
        return [await cache.ahgetall("h"), await cache.asadd("s", 1), await cache.aset("k", 1, xx=True),
                await cache.akeys("*"), await cache.apttl("k")]

    assert asyncio.run(main()) == [{}, 0, False, [], 0]
    with pytest.raises(redis.ConnectionError):  # without fail-soft: redis-py's error, as django-redis
        RedisCache(dead, {"KEY_PREFIX": prefix}).hgetall("h")


def test_django_redis_global_logging_of_ignored_errors(prefix: str, caplog: Any) -> None:
    dead = f"redis://127.0.0.1:{free_port()}"
    settings = {"DJANGO_REDIS_IGNORE_EXCEPTIONS": True, "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS": True,
                "DJANGO_REDIS_LOGGER": "site.cache"}
    with override_settings(**settings), caplog.at_level(logging.ERROR, logger="site.cache"):
        cache = RedisCache(dead, {"KEY_PREFIX": prefix, "OPTIONS": {"CIRCUIT_BREAKER": False}})
        assert cache.get("k", "dflt") == "dflt" and cache.get("k", "dflt") == "dflt"
        assert cache.smembers("s") == set()
    records = [r for r in caplog.records if r.name == "site.cache"]
    assert len(records) == 3 and all(r.exc_info and "Exception ignored" in r.getMessage() for r in records)


def test_every_new_method_has_an_async_twin_of_the_same_signature() -> None:
    names = {name for cls in (ExtrasMixin, StructuresMixin) for name, value in vars(cls).items()
             if inspect.isfunction(value) and not name.startswith(("_", "a"))}
    names |= {"set", "incr", "decr", "delete_many"}
    assert {"hset", "sadd", "zadd", "keys", "pexpire_at", "lock", "close", "sscan_iter"} <= names
    for name in names:
        twin = getattr(RedisCache, f"a{name}", None)
        assert twin is not None, f"no async twin for {name}"
        assert inspect.signature(twin).parameters.keys() == \
            inspect.signature(getattr(RedisCache, name)).parameters.keys(), name
        if name in EXTRA_OPERATIONS or name in STRUCTURE_OPERATIONS:
            assert inspect.iscoroutinefunction(twin), name


# -- Sentinel, configured as django-redis configures it ---------------------------------------------
@pytest.fixture(scope="module")
def sentinel() -> Iterator[SentinelTopology]:
    yield from dedicated(redis_sentinel, 1)


def test_sentinels_option_with_a_service_name_location(sentinel: SentinelTopology, prefix: str) -> None:
    options = {"CLIENT_CLASS": "django_redis.client.SentinelClient",
               "SENTINELS": [("127.0.0.1", s.port) for s in sentinel.sentinels],
               "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
               "CONNECTION_POOL_KWARGS": {"max_connections": 8}}
    cache = RedisCache(f"redis://{sentinel.service}/2", {"KEY_PREFIX": prefix, "OPTIONS": options})
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1} and asyncio.run(cache.aget("k")) == {"v": 1}
    leader = redis.Redis(port=sentinel.leader.port, db=2)
    assert leader.exists(cache.make_key("k"))
    assert cache._cache._leader.connection_pool.max_connections == 8
    assert cache.sadd("s", 1, 2) == 2 and cache.smembers("s") == {1, 2}
