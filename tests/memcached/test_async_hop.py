"""Memcached async twins: one thread hop per tick, and the tick's reads as one multi-get.

Plus the pymemcache client's hot path: no hash ring for one server, Django's placement for
several (remembered per key), the lock-free pool, and a breaker that only keeps books after
a failure.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.cache.backends.base import InvalidCacheKey

from django_altcache.backends._shared import hop as hop_module
from django_altcache.backends.memcached import PyMemcacheCache
from django_altcache.backends.memcached.hashclient import PLACEMENT_MEMO, QuickPool


def spy_hops(mp):
    hops = []
    original = hop_module._run_calls
    mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
    return hops


def test_gathered_reads_are_one_hop_and_one_multi_get(cache):
    cache.set_many({f"k{i}": i for i in range(50)})
    multi_gets = []
    driver = cache._driver
    original = driver.get_many

    async def main():
        return await asyncio.gather(*[cache.aget(f"k{i}") for i in range(60)],
                                    cache.ahas_key("k1"), cache.ahas_key("nope"), cache.aget("nope", "dflt"))

    with pytest.MonkeyPatch.context() as mp:
        hops = spy_hops(mp)
        mp.setattr(driver, "get_many", lambda client, keys: multi_gets.append(len(keys)) or original(client, keys))
        answers = asyncio.run(main())
    assert answers == [*range(50), *[None] * 10, True, False, "dflt"]
    assert hops == [63]
    assert multi_gets == [61]  # the distinct keys, in one round trip


def test_a_bad_key_fails_only_its_own_read(cache):
    cache.set("good", 1)

    async def main():
        return await asyncio.gather(cache.aget("good"), cache.aget("bad key"), cache.aget("good"),
                                    return_exceptions=True)

    good, bad, again = asyncio.run(main())
    assert good == again == 1
    assert isinstance(bad, InvalidCacheKey)


def test_writes_between_reads_keep_their_order(cache):
    cache.set("k", "old")

    async def main():
        first = cache.aget("k")
        write = cache.aset("k", "new")
        second = cache.aget("k")
        return await asyncio.gather(first, write, second)

    assert asyncio.run(main()) == ["old", None, "new"]


def test_a_dead_server_fails_only_its_own_keys(three_memcached):
    # pymemcache (pylibmc pools do not share multi-gets: libmemcached leaves a failed
    # server's keys out of its answer instead of failing, and its retry window decides
    # call by call whether a read raises). STRICT_ERRORS: every failed call raises; by
    # default, as Django's backend, calls inside pymemcache's retry window read as misses, so
    # which keys raise would depend on the order of the calls.
    servers = [s.location for s in three_memcached]
    cache = PyMemcacheCache(servers, {"OPTIONS": {"STRICT_ERRORS": True}})
    keys = [f"k{i}" for i in range(30)]
    cache.set_many({k: k for k in keys})
    three_memcached[0].kill()
    alone = {}
    for k in keys:
        try:
            alone[k] = ("ok", cache.get(k))
        except Exception as exc:  # noqa: BLE001
            alone[k] = ("error", type(exc))

    async def main():
        return await asyncio.gather(*[cache.aget(k) for k in keys], return_exceptions=True)

    gathered = dict(zip(keys, asyncio.run(main())))
    for k in keys:
        kind, value = alone[k]
        if kind == "ok":
            assert gathered[k] == value
        else:
            assert isinstance(gathered[k], value)
    assert any(kind == "error" for kind, _ in alone.values()) and any(kind == "ok" for kind, _ in alone.values())


def test_one_server_skips_the_hash_ring(memcached_location):
    cache = PyMemcacheCache(memcached_location, {})
    client = cache._cache
    assert client._only is next(iter(client.clients.values()))
    hashed = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(client.hasher, "get_node", lambda key: hashed.append(key))
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.get_many(["k"]) == {"k": 1}
    assert hashed == []


def test_several_servers_remember_djangos_placement(three_memcached):
    from pymemcache.client.hash import HashClient

    servers = [s.location for s in three_memcached]
    cache = PyMemcacheCache(servers, {})
    reference = HashClient(servers)
    for i in range(200):
        key = cache.make_and_validate_key(f"key{i}")
        assert cache._cache._get_client(key).server == reference._get_client(key).server
    assert len(cache._cache._placement) == 200 <= PLACEMENT_MEMO


def test_the_pool_reuses_connections_and_grows_under_contention(memcached_location):
    cache = PyMemcacheCache(memcached_location, {})
    pool = cache._cache._only
    assert isinstance(pool, QuickPool)
    for _ in range(20):
        cache.set("k", 1)
        cache.get("k")
    assert len(pool.idle) == 1  # uncontended: one connection, taken and put back
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait(5)
        for _ in range(50):
            assert cache.get("k") == 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 1 <= len(pool.idle) <= 8


def test_max_pool_size_bounds_the_idle_connections(memcached_location):
    cache = PyMemcacheCache(memcached_location, {"OPTIONS": {"max_pool_size": 2}})
    pool = cache._cache._only
    clients = [pool._create_client() for _ in range(4)]
    for client in clients:
        pool.idle.append(client) if len(pool.idle) < pool.max_idle else client.close()
    assert len(pool.idle) == 2
    assert cache.get("anything") is None
    assert len(pool.idle) == 2


def test_a_closed_breaker_keeps_no_books_until_a_failure(three_memcached):
    servers = [s.location for s in three_memcached]
    cache = PyMemcacheCache(servers, {"OPTIONS": {"CIRCUIT_BREAKER": {"failures": 2, "cooldown": 30}}})
    client = cache._cache
    calls = []
    for breaker in client.breakers.values():
        breaker.success = lambda *a, _calls=calls: _calls.append("success")  # type: ignore[method-assign]
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert calls == []
    key = cache.make_and_validate_key("k")
    server = client._get_client(key).server
    three_memcached[[s.location for s in three_memcached].index(f"{server[0]}:{server[1]}")].kill()
    for _ in range(2):
        with pytest.raises(Exception):
            cache.get("k")
    assert client.breakers[server].is_open
    with pytest.raises(ConnectionError):  # answered at once by the open breaker
        cache.get("k")
