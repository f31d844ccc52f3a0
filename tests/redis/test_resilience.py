"""Issue 6 on Redis: fail-soft, the circuit breaker, bounded time, against killed and
SIGSTOPped real redis-server processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends._shared.breaker import reset_breakers
from django_altcache.exceptions import CacheUnavailable
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests.conftest import dedicated
from tests.outage import EXPECTED, every_operation, p99, timed, until_hit

# Short client timeouts so a frozen server costs well under 100 ms per call.
FAST = {"socket_timeout": 0.05, "socket_connect_timeout": 0.05}
SOFT = {"IGNORE_EXCEPTIONS": True, **FAST}


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    # Breakers are per process and keyed by server: a previous test's open breaker on a
    # reused port must not leak into this one.
    reset_breakers()
    yield
    reset_breakers()


@contextlib.contextmanager
def own(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """A server just for this test, stopped even when the test fails midway."""
    with contextlib.closing(dedicated(factory, *args, **kwargs)) as servers:
        yield next(servers)


def test_fail_soft_through_a_kill_and_a_restart(own_redis: RedisServer, cache_for: Any, caplog: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS=SOFT)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    server.kill()

    assert every_operation(cache) == EXPECTED
    assert cache.breaker_states() == {"reads": "open", "writes": "open"}
    samples = [timed(lambda: cache.get("k", "dflt"))[1] for _ in range(300)]
    assert p99(samples) <= 0.005, f"open breaker p99 {p99(samples) * 1000:.2f} ms"

    server.start()
    assert until_hit(cache, 1.0) <= 1.0
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        caplog.clear()
        for i in range(200):
            cache.set(f"after{i}", i)
            assert cache.get(f"after{i}") == i
        assert cache.incr("after1") == 2
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}


def test_async_fail_soft_through_a_kill_and_a_restart(own_redis: RedisServer, cache_for: Any) -> None:
    async def scenario(server: RedisServer) -> None:
        cache = cache_for(server.url, OPTIONS=SOFT)
        await cache.aset("k", "v")
        await asyncio.to_thread(server.kill)
        assert await cache.aget("k", "dflt") == "dflt"
        assert await cache.aget_many(["k"]) == {}
        assert await cache.ahas_key("k") is False
        assert await cache.aadd("n", 1) is False
        assert await cache.aset_many({"x": 1}) == ["x"]
        with pytest.raises(CacheUnavailable):
            await cache.aincr("k")
        for _ in range(5):
            assert await cache.aget("k", "dflt") == "dflt"
        assert cache.breaker_states()["reads"] == "open"
        started = time.perf_counter()
        for _ in range(200):
            await cache.aget("k")
        assert (time.perf_counter() - started) / 200 <= 0.005
        await asyncio.to_thread(server.start)
        began = time.monotonic()
        while time.monotonic() - began < 1.0:
            await cache.aset("back", 1)
            if await cache.aget("back") == 1:
                break
            await asyncio.sleep(0.01)
        assert await cache.aget("back") == 1, "no async hit within 1 s of the restart"

    asyncio.run(scenario(own_redis))


def test_a_frozen_server_never_blocks_a_call_past_the_timeouts(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS=SOFT)
    cache.set("k", "v")
    server.freeze()
    try:
        worst = 0.0
        began = time.monotonic()
        calls = 0
        # Long enough for several cooldowns, so probes against the frozen server are timed too.
        while time.monotonic() - began < 1.6 and calls < 100_000:
            result, took = timed(lambda: cache.get("k", "dflt"))
            assert result == "dflt"
            worst = max(worst, took)
            calls += 1
            time.sleep(0.002)
        assert worst <= 0.1, f"a call took {worst * 1000:.0f} ms against a frozen server"
    finally:
        server.thaw()
    thawed = time.monotonic()
    for _ in range(100):
        if cache.get("k") == "v":
            break
        time.sleep(0.01)
    assert cache.get("k") == "v"
    assert time.monotonic() - thawed <= 1.0


def test_without_fail_soft_errors_surface_within_the_timeout(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS=FAST)
    cache.set("k", "v")
    server.freeze()
    try:
        started = time.perf_counter()
        with pytest.raises(redis.TimeoutError):
            cache.get("k")
        assert time.perf_counter() - started < 0.5
    finally:
        server.thaw()
    assert cache.get("k") == "v"  # no breaker by default: the next call just works
    server.kill()
    for _ in range(5):  # every call raises: no silent miss window
        with pytest.raises(redis.ConnectionError):
            cache.get("k")
    assert cache.breaker_states() == {}


def test_a_breaker_without_fail_soft_raises_at_once(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS={**FAST, "CIRCUIT_BREAKER": {"failures": 2, "cooldown": 0.3}})
    server.kill()
    for _ in range(2):
        with pytest.raises(redis.ConnectionError):
            cache.get("k")
    started = time.perf_counter()
    with pytest.raises(redis.ConnectionError, match="circuit breaker open"):
        cache.get("k")
    assert time.perf_counter() - started < 0.005
    server.start()
    time.sleep(0.35)
    cache.set("k", "back")  # the probe
    assert cache.get("k") == "back"


def test_ignored_errors_are_logged_without_a_flood(cache_for: Any, caplog: Any) -> None:
    options = {**SOFT, "CIRCUIT_BREAKER": False}  # every call reaches the dead port
    cache = cache_for("redis://127.0.0.1:1/0", OPTIONS=options)
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        for _ in range(1000):
            assert cache.get("k") is None
    records = [r for r in caplog.records if r.name == "django_altcache"]
    assert 1 <= len(records) <= 2, [r.getMessage() for r in records]
    assert "127.0.0.1:1" in records[0].getMessage()


def test_configuration_errors_are_not_swallowed(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    redis.Redis(port=server.port).config_set("requirepass", "right")
    cache = cache_for(server.url.replace("://", "://:wrong@"), OPTIONS=SOFT)
    with pytest.raises(redis.AuthenticationError):
        cache.get("k")
    assert "wrong" not in str(cache.servers_description())
    good = cache_for(server.url.replace("://", "://:right@"), OPTIONS=SOFT)
    good.set("s", "text")
    with pytest.raises(redis.ResponseError):  # a non-integer still raises through incr
        good.incr("s")


def test_reads_keep_coming_from_a_replica_while_the_leader_is_down(cache_for: Any, flavour: Flavour) -> None:
    with own(redis_server, flavour=flavour) as leader, \
            own(redis_server, ["--replicaof", "127.0.0.1", str(leader.port)], flavour=flavour) as replica:
        cache = cache_for([leader.url, replica.url], OPTIONS=SOFT)
        cache.set("k", "v")
        for _ in range(200):
            if cache.get("k") == "v":
                break
            time.sleep(0.05)
        leader.kill()
        for _ in range(5):
            assert cache.set("w", 1) is None  # writes fail softly...
        assert cache.breaker_states()["writes"] == "open"
        assert cache.get("k") == "v"  # ...reads still come from the replica
        assert cache.breaker_states()["reads"] == "closed"


def test_ping_bypasses_fail_soft(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS=SOFT)
    result = cache.ping()
    assert result.servers == [server.url] and 0 < result.latency < 1
    server.kill()
    with pytest.raises(redis.ConnectionError):
        cache.ping()


def test_cluster_with_a_dead_node_fails_soft_and_heals(cache_for: Any, flavour: Flavour) -> None:
    from tests._servers.redis_ha import redis_cluster

    with own(redis_cluster, flavour=flavour) as cluster:
        cache = cache_for(cluster.location, OPTIONS={**SOFT, "cluster": True})
        keys = [f"key-{i}" for i in range(30)]
        assert cache.set_many({key: key for key in keys}) == []
        victim = cluster.nodes[1]
        victim.kill()
        worst = 0.0
        for key in keys * 3:
            value, took = timed(lambda: cache.get(key, "dflt"))
            assert value in (key, "dflt")
            worst = max(worst, took)
        assert cache.get_many(keys).keys() <= set(keys)
        assert worst <= 0.5, f"a call took {worst * 1000:.0f} ms with a cluster node down"
        victim.start()
        began = time.monotonic()
        while time.monotonic() - began < 5:
            if cache.set_many({key: key for key in keys}) == [] and cache.get_many(keys) == {k: k for k in keys}:
                break
            time.sleep(0.05)
        assert cache.get_many(keys) == {k: k for k in keys}


def test_a_frozen_server_never_blocks_an_async_call_past_the_timeouts(own_redis: RedisServer,
                                                                       cache_for: Any) -> None:
    async def scenario() -> float:
        cache = cache_for(own_redis.url, OPTIONS=SOFT)
        await cache.aset("k", "v")
        own_redis.freeze()
        worst = 0.0
        try:
            began = time.monotonic()
            for _ in range(2000):  # bounded; about 1.2 s of calls, several cooldowns
                if time.monotonic() - began > 1.2:
                    break
                started = time.perf_counter()
                assert await cache.aget("k", "dflt") == "dflt"
                worst = max(worst, time.perf_counter() - started)
                await asyncio.sleep(0.002)
        finally:
            own_redis.thaw()
        thawed = time.monotonic()
        while time.monotonic() - thawed < 1.0 and await cache.aget("k") != "v":
            await asyncio.sleep(0.01)
        assert await cache.aget("k") == "v", "no async hit within 1 s of the thaw"
        return worst

    worst = asyncio.run(scenario())
    assert worst <= 0.1, f"an async call took {worst * 1000:.0f} ms against a frozen server"
