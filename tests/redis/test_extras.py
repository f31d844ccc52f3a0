"""django-redis style extras, the prefix-only clear, and the sync/async twins agreeing."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from django_altcache.backends.redis.aclient import AsyncClientMixin
from django_altcache.backends.redis.client import RedisCacheClient


def test_ttl_expire_persist(cache: RedisCache) -> None:
    assert cache.ttl("missing") == 0
    cache.set("forever", 1, None)
    assert cache.ttl("forever") is None
    assert cache.expire("forever", 100) is True
    assert 0 < cache.ttl("forever") <= 100
    assert cache.persist("forever") is True
    assert cache.ttl("forever") is None
    assert cache.expire("forever", 0) is True
    assert cache.get("forever") is None
    assert cache.expire("missing", 10) is False


def test_lock_is_a_redis_lock_on_the_cache_key(cache: RedisCache, raw: redis.Redis) -> None:
    lock = cache.lock("job", timeout=5)
    assert lock.acquire(blocking=False)
    assert raw.exists(cache.make_key("job"))
    assert not cache.lock("job", timeout=5).acquire(blocking=False)
    lock.release()
    assert not raw.exists(cache.make_key("job"))


def test_iter_keys_and_delete_pattern_use_scan_in_batches(cache: RedisCache, raw: redis.Redis) -> None:
    cache.set_many({f"user:{i}": i for i in range(1200)} | {"other": 0, "user[x]": 1})
    assert sorted(cache.iter_keys("user:1?")) == [f"user:{i}" for i in range(10, 20)]
    assert sorted(cache.iter_keys("user[[]*")) == ["user[x]"]  # our prefix is glob-escaped
    raw.config_resetstat()
    assert cache.delete_pattern("user:*", itersize=300) == 1200
    stats = raw.info("commandstats")
    assert "cmdstat_keys" not in stats and stats["cmdstat_scan"]["calls"] >= 4
    assert stats["cmdstat_del"]["calls"] == 3  # 1200 keys in batches of 500
    assert cache.get("other") == 0 and cache.get("user[x]") == 1


def test_clear_prefix_only_keeps_other_caches(cache_for: Any, redis_url: str) -> None:
    mine = cache_for(redis_url, KEY_PREFIX="mine*", OPTIONS={"clear_prefix_only": True})
    other = cache_for(redis_url, KEY_PREFIX="mine-other")
    mine.set("a", 1)
    mine.set("b", 2, version=3)
    other.set("a", 1)
    assert mine.clear() is True
    assert mine.get("a") is None and mine.get("b", version=3) is None
    assert other.get("a") == 1
    other.set("c", 3)
    assert asyncio.run(mine.aclear()) is True and other.get("c") == 3


def test_async_extras(cache: RedisCache) -> None:
    async def main() -> list[Any]:
        await cache.aset("k", 1, None)
        out = [await cache.attl("k"), await cache.aexpire("k", 50), await cache.apersist("k")]
        async with cache.alock("lk", timeout=5):
            out.append(await cache.ahas_key("lk"))
        await cache.aset_many({"p:1": 1, "p:2": 2})
        out.append(sorted([k async for k in cache.aiter_keys("p:*")]))
        out.append(await cache.adelete_pattern("p:*"))
        return out

    assert asyncio.run(main()) == [None, True, True, True, ["p:1", "p:2"], 2]


def test_every_client_operation_has_an_async_twin() -> None:
    sync_ops = {name for name, value in vars(RedisCacheClient).items()
                if inspect.isfunction(value) and not name.startswith("_") and name != "get_client"}
    assert {"get", "set", "incr", "get_many", "delete_pattern", "lock", "scan_iter"} <= sync_ops
    for name in sync_ops:
        twin = vars(AsyncClientMixin).get(f"a{name}")
        assert twin is not None, f"no async twin for {name}"
        assert inspect.signature(twin).parameters.keys() == \
            inspect.signature(getattr(RedisCacheClient, name)).parameters.keys(), name


SCRIPT: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("set", ("a", {"x": 1}), {}), ("get", ("a",), {}), ("add", ("a", 2), {}), ("add", ("b", 2, 0), {}),
    ("get", ("b", "dflt"), {}), ("set", ("n", 5), {}), ("incr", ("n", 3), {}), ("decr", ("n",), {}),
    ("touch", ("n", None), {}), ("ttl", ("n",), {}), ("has_key", ("n",), {}), ("has_key", ("zz",), {}),
    ("set_many", ({"m1": 1, "m2": "two"}, 30), {}), ("get_many", (["m1", "m2", "m3"],), {}),
    ("delete", ("m1",), {}), ("delete", ("m1",), {}), ("delete_many", (["m2", "n"],), {}),
    ("get_or_set", ("g", "computed"), {}), ("incr_version", ("g",), {}), ("get", ("g",), {"version": 2}),
    ("expire", ("g", 20), {"version": 2}), ("persist", ("g",), {"version": 2}),
]


def test_sync_and_async_methods_agree(cache_for: Any, redis_url: str, prefix: str) -> None:
    sync_cache = cache_for(redis_url, KEY_PREFIX=prefix + "s")
    async_cache = cache_for(redis_url, KEY_PREFIX=prefix + "a")
    expected = [getattr(sync_cache, name)(*args, **kwargs) for name, args, kwargs in SCRIPT]

    async def main() -> list[Any]:
        return [await getattr(async_cache, f"a{name}")(*args, **kwargs) for name, args, kwargs in SCRIPT]

    assert asyncio.run(main()) == expected


def test_incr_on_missing_and_non_integer_async(cache: RedisCache) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await cache.aincr("missing")
        await cache.aset("text", "abc")
        with pytest.raises(redis.ResponseError):
            await cache.aincr("text")

    asyncio.run(main())


def test_incr_version_moves_the_value_and_keeps_its_ttl(cache: RedisCache) -> None:
    cache.set("v", {"a": 1}, 100)
    cache.set("forever", 7, None)
    assert cache.incr_version("v") == 2
    assert cache.get("v") is None and cache.get("v", version=2) == {"a": 1}
    assert 90 < cache.ttl("v", version=2) <= 100  # Django's re-set gives the default timeout
    assert cache.incr_version("forever", delta=3) == 4 and cache.ttl("forever", version=4) is None
    assert cache.incr_version("v", delta=0, version=2) == 2 and cache.get("v", version=2) == {"a": 1}
    with pytest.raises(ValueError, match="Key 'missing' not found"):
        cache.incr_version("missing")

    async def main() -> Any:
        await cache.aset("av", "x", 100)
        version = await cache.aincr_version("av")
        with pytest.raises(ValueError, match="Key 'nope' not found"):
            await cache.aincr_version("nope")
        return version, await cache.aget("av", version=2), await cache.attl("av", version=2)

    version, value, ttl = asyncio.run(main())
    assert (version, value) == (2, "x") and 90 < ttl <= 100
