"""RedisCache's local tier (OPTIONS["LOCAL_CACHE"]) against real servers, Redis and Valkey (each
test runs once per ``flavour``): what is served from memory, what invalidates it, and what
happens when the invalidation channel is lost."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from django_altcache.backends.redis import RedisCache
from django_altcache.backends.redis.client import RedisCacheClient
from django_altcache.conf import CacheConfigError
from django_altcache.conf.local import RedisLocalSettings
from django_altcache.local import redis as local_redis
from django_altcache.local.redis import CLIENT_NAME, TieredClient
from django_altcache.local.store import LocalStore
from django_altcache.local.tracking import CATCH_UP
from tests._servers.base import require_binary
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests.conftest import dedicated

LOCAL = {"LOCAL_CACHE": True}


def gets(client: redis.Redis) -> int:
    """GET/MGET commands the server executed since the last CONFIG RESETSTAT."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("get", "mget"))


def until(check: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.002)


def live(cache: RedisCache) -> TieredClient:
    """The tiered client, its channels open and live (bounded wait)."""
    client = cache._cache
    assert isinstance(client, TieredClient)
    cache.get("__warm__")  # opens the channel of the server read from
    assert client.local.wait_live(10), client.local.channels()
    return client


def close_tiers() -> None:
    for tier in local_redis.TIERS.values():
        tier.close()
    local_redis.TIERS.clear()


def settle(cache: RedisCache) -> None:
    """Our own writes' reports have arrived (else one may withdraw a fill that follows)."""
    assert cache._cache.local.synced(10)


@pytest.fixture
def server(flavour: Flavour) -> Iterator[RedisServer]:
    for server in dedicated(redis_server, flavour=flavour):
        try:
            yield server
        finally:
            close_tiers()  # before the server stops: a lost channel would log a warning


@pytest.fixture
def raw_own(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.raw_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _close_tiers() -> Iterator[None]:
    yield
    close_tiers()


# -- configuration ----------------------------------------------------------------------------
def test_off_by_default_nothing_wrapped(cache_for: Any, redis_url: str) -> None:
    cache = cache_for(redis_url)
    assert type(cache._cache) is RedisCacheClient
    assert type(cache_for(redis_url, OPTIONS={"LOCAL_CACHE": False})._cache) is RedisCacheClient


def test_option_values(cache_for: Any, redis_url: str) -> None:
    assert cache_for(redis_url, OPTIONS=LOCAL)._local == RedisLocalSettings()
    cache = cache_for(redis_url, OPTIONS={"LOCAL_CACHE": {"max_entries": 5, "max_bytes": 10_000, "ttl": 2,
                                                          "prefixes": ["a:", "b:"], "lease": 0.5}})
    assert cache._local == RedisLocalSettings(5, 10_000, 2.0, ("a:", "b:"), 0.5)
    for bad, where in [({"max_entries": 0}, "['max_entries']"), ({"ttl": -1}, "['ttl']"),
                       ({"prefixes": "a:"}, "['prefixes']"), ({"lease": None}, "['lease']"),
                       ({"size": 3}, "['size']"), ("yes", "")]:
        with pytest.raises(CacheConfigError) as caught:
            cache_for(redis_url, OPTIONS={"LOCAL_CACHE": bad})
        assert f"['OPTIONS']['LOCAL_CACHE']{where}" in str(caught.value)


# -- hits -------------------------------------------------------------------------------------
def test_hits_do_not_reach_the_server(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set("k", {"a": 1})
    cache.set("n", 7)
    settle(cache)
    assert cache.get("k") == {"a": 1} and cache.get("n") == 7  # filled
    raw_own.config_resetstat()
    for _ in range(200):
        assert cache.get("k") == {"a": 1}
        assert cache.get("n") == 7
        assert cache.get_many(["k", "n"]) == {"k": {"a": 1}, "n": 7}
        assert cache.has_key("k")
    assert gets(raw_own) == 0
    assert int(raw_own.info("commandstats").get("cmdstat_exists", {}).get("calls", 0)) == 0


def test_values_are_copied_out(cache_for: Any, server: RedisServer) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set("d", {"list": [1, 2]})
    first = cache.get("d")
    first["list"].append(3)
    first["new"] = True
    assert cache.get("d") == {"list": [1, 2]}  # a local hit, unchanged
    assert cache.get("d") is not cache.get("d")
    many = cache.get_many(["d"])
    many["d"]["list"].clear()
    assert cache.get_many(["d"]) == {"d": {"list": [1, 2]}}

    async def mutate() -> Any:
        value = await cache.aget("d")
        value["list"].append(9)
        return await cache.aget("d")

    assert asyncio.run(mutate()) == {"list": [1, 2]}


def test_absent_keys_are_kept_too(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    assert cache.get("nope", "default") == "default"
    raw_own.config_resetstat()
    assert cache.get("nope", "default") == "default"
    assert not cache.has_key("nope")
    assert gets(raw_own) == 0
    raw_own.set(cache.make_key("nope"), b"5")  # another client creates it
    assert until(lambda: cache.get("nope") == 5, timeout=2, what="the creation seen")


def test_sync_async_and_every_instance_share_one_store(cache_for: Any, server: RedisServer,
                                                       raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set("s", "shared")
    settle(cache)
    assert cache.get("s") == "shared"
    other = cache_for(server.url, OPTIONS=LOCAL)  # Django makes one instance per thread / task
    assert other._cache.local is cache._cache.local
    raw_own.config_resetstat()

    async def main() -> Any:
        return await other.aget("s"), await other.aget_many(["s"]), await other.ahas_key("s")

    assert asyncio.run(main()) == ("shared", {"s": "shared"}, True)
    assert other.get("s") == "shared"
    assert gets(raw_own) == 0
    # and an async fill serves sync hits
    other.set("t", "from async")
    settle(other)
    assert asyncio.run(other.aget("t")) == "from async"
    raw_own.config_resetstat()
    assert cache.get("t") == "from async"
    assert gets(raw_own) == 0


def test_get_many_mixes_local_and_server(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set_many({"a": 1, "b": [2], "c": "three"})
    settle(cache)
    assert cache.get("a") == 1
    raw_own.config_resetstat()
    assert cache.get_many(["a", "b", "c", "missing"]) == {"a": 1, "b": [2], "c": "three"}
    assert gets(raw_own) == 1  # one MGET for b, c, missing
    assert cache.get_many(["a", "b", "c", "missing"]) == {"a": 1, "b": [2], "c": "three"}
    assert gets(raw_own) == 1
    assert asyncio.run(cache.aget_many(["c", "b", "zz"])) == {"b": [2], "c": "three"}
    assert gets(raw_own) == 2  # zz only


def test_bounds(cache_for: Any, server: RedisServer) -> None:
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": {"max_entries": 10}})
    live(cache)
    cache.set_many({f"k{i}": i for i in range(50)})
    settle(cache)
    store = cache._cache.local.store
    # live()'s warm-up miss is kept too when the channel went live before its fill (a busy
    # machine): 50 fills into a store holding ``held`` entries evict 40 + held.
    held, evicted = len(store), store.evictions
    for i in range(50):
        assert cache.get(f"k{i}") == i
    assert len(store) == 10 and store.evictions - evicted == 40 + held, (held, evicted, store.evictions)
    assert set(store.entries) == {cache.make_key(f"k{i}") for i in range(40, 50)}  # the oldest fills went
    big = cache_for(server.url, KEY_PREFIX="big", OPTIONS={"LOCAL_CACHE": {"max_bytes": 20_000}})
    live(big)
    big.set_many({f"b{i}": "x" * 3000 for i in range(20)})
    for i in range(20):
        assert big.get(f"b{i}") == "x" * 3000
    assert big._cache.local.store.bytes <= 20_000
    assert len(big._cache.local.store) <= 6
    big.set("huge", "y" * 30_000)
    assert big.get("huge") == "y" * 30_000  # larger than the whole store: served, never kept
    assert big.make_key("huge") not in big._cache.local.store.entries


def test_only_the_prefixes_listed_are_kept(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": {"prefixes": ["hot:"]}})
    live(cache)
    cache.set_many({"hot:1": 1, "cold:1": 2})
    settle(cache)
    assert cache.get("hot:1") == 1 and cache.get("cold:1") == 2
    raw_own.config_resetstat()
    assert cache.get("hot:1") == 1 and cache.get("cold:1") == 2
    assert gets(raw_own) == 1  # cold:1 only
    tracking = [c for c in raw_own.client_list() if c.get("name") == CLIENT_NAME]
    assert len(tracking) == 1 and "t" in tracking[0]["flags"]  # tracking on (BCAST, one prefix)


def test_ttl_caps_the_time_a_value_stays_local(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": {"ttl": 0.2}})
    live(cache)
    cache.set("k", "v")
    settle(cache)
    assert cache.get("k") == "v"
    raw_own.config_resetstat()
    assert cache.get("k") == "v" and gets(raw_own) == 0
    time.sleep(0.25)
    assert cache.get("k") == "v" and gets(raw_own) == 1


# -- what invalidates -------------------------------------------------------------------------
def test_writes_by_any_client_invalidate(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    django_cache = DjangoRedisCache(server.raw_url, {"KEY_PREFIX": cache.key_prefix})
    other_process = cache_for(server.url)  # our backend, no tier (as another process would write)
    cli = require_binary("redis-cli")
    writers: list[tuple[str, Callable[[int], None]]] = [
        ("redis-py", lambda v: raw_own.set(cache.make_key("k"), pickle.dumps(f"v{v}"))),
        ("Django's RedisCache", lambda v: django_cache.set("k", f"v{v}")),
        ("ours", lambda v: other_process.set("k", f"v{v}")),
        ("redis-cli", lambda v: subprocess.run([cli, "-p", str(server.port), "SET", cache.make_key("k"), str(v)],
                                               check=True, capture_output=True, timeout=10)),
    ]
    for number, (name, write) in enumerate(writers):
        assert cache.get("k") is not None or number == 0
        write(number)
        expected = number if name == "redis-cli" else f"v{number}"  # redis-cli writes a bare int
        until(lambda: cache.get("k") == expected, timeout=2, what=f"a write by {name}")


def test_own_writes_are_read_at_once(cache_for: Any, server: RedisServer) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)

    def fill(key: str, value: Any) -> None:
        cache.set(key, value)
        assert cache.get(key) == value and cache.get(key) == value

    fill("n", 1)
    assert cache.incr("n") == 2 and cache.get("n") == 2
    assert cache.decr("n", 5) == -3 and cache.get("n") == -3
    cache.set("n", 10)
    assert cache.get("n") == 10
    assert cache.delete("n") and cache.get("n") is None
    assert cache.add("n", 1) and cache.get("n") == 1
    cache.set_many({"n": 5, "m": 6})
    assert cache.get_many(["n", "m"]) == {"n": 5, "m": 6}
    cache.delete_many(["n", "m"])
    assert cache.get_many(["n", "m"]) == {}
    fill("v", "one")
    assert cache.incr_version("v") == 2
    assert cache.get("v") is None and cache.get("v", version=2) == "one"
    fill("t", "x")
    assert cache.touch("t", 0) or True
    assert cache.get("t") is None
    fill("e", "x")
    assert cache.expire("e", 0) and cache.get("e") is None
    fill("p", "x")
    cache.delete_pattern("p")
    assert cache.get("p") is None
    fill("c", "x")
    cache.clear()
    assert cache.get("c") is None


def test_own_async_writes_are_read_at_once(cache_for: Any, server: RedisServer) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)

    async def main() -> None:
        await cache.aset("n", 1)
        assert await cache.aget("n") == 1 and await cache.aget("n") == 1
        assert await cache.aincr("n") == 2 and await cache.aget("n") == 2
        assert await cache.adelete("n") and await cache.aget("n") is None
        assert await cache.aadd("n", 3) and await cache.aget("n") == 3
        await cache.aset_many({"n": 4})
        assert await cache.aget_many(["n"]) == {"n": 4}
        await cache.adelete_many(["n"])
        assert await cache.aget("n") is None
        await cache.aset("v", "one")
        assert await cache.aget("v") == "one"
        assert await cache.aincr_version("v") == 2
        assert await cache.aget("v") is None and await cache.aget("v", version=2) == "one"
        await cache.aset("t", "x")
        assert await cache.aget("t") == "x"
        await cache.atouch("t", 0)
        assert await cache.aget("t") is None
        await cache.aset("c", "x")
        assert await cache.aget("c") == "x"
        await cache.aclear()
        assert await cache.aget("c") is None

    asyncio.run(main())


def test_expiry_by_ttl(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set("short", "v", timeout=1)
    assert cache.get("short") == "v"
    raw_own.set(cache.make_key("other"), pickle.dumps("w"), px=300)  # another client's expiry
    assert cache.get("other") == "w"
    started = time.monotonic()
    until(lambda: cache.get("other") is None, timeout=3, what="the 300 ms expiry")
    until(lambda: cache.get("short") is None, timeout=3, what="the 1 s expiry")
    assert time.monotonic() - started < 2.5
    # touch shortens the expiry of a key held locally: the local copy follows
    cache.set("touched", "v", timeout=100)
    assert cache.get("touched") == "v"
    assert cache.touch("touched", 1)
    until(lambda: cache.get("touched") is None, timeout=3, what="the touched expiry")


def test_flushdb_by_another_client(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
    raw_own.flushdb()
    until(lambda: cache.get_many(["a", "b"]) == {}, timeout=2, what="FLUSHDB seen")


def test_corrupt_values_are_a_miss_and_not_kept(cache_for: Any, server: RedisServer, raw_own: redis.Redis,
                                                caplog: pytest.LogCaptureFixture) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)
    raw_own.set(cache.make_key("bad"), b"\x80\x05garbage")
    assert cache.get("bad", "dflt") == "dflt"
    assert "cannot decode" in caplog.text
    assert raw_own.get(cache.make_key("bad")) is None  # dropped, as without the tier
    raw_own.set(cache.make_key("bad2"), b"\x80\x05garbage")
    assert cache.get_many(["bad2"]) == {}
    assert not cache._cache.local.store.entries.get(cache.make_key("bad2"))


# -- losing the channel ------------------------------------------------------------------------
def tracking_ids(client: redis.Redis) -> list[int]:
    return [int(c["id"]) for c in client.client_list() if c.get("name") == CLIENT_NAME]


def test_client_kill_flushes_before_any_further_hit_and_reconnects(cache_for: Any, server: RedisServer,
                                                                   raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    client = live(cache)
    channel = client.local.channels()[0]
    cache.set("k", "old")
    assert cache.get("k") == "old"
    for round_no in range(3):
        [ident] = tracking_ids(raw_own)
        raw_own.client_kill_filter(_id=ident)
        # Nobody listens for this write: once the promised bound has passed (CATCH_UP: a thread
        # serving hits looks at the channel at least that often), the copy must be gone.
        raw_own.set(cache.make_key("k"), pickle.dumps(f"new{round_no}"))
        written = time.monotonic()
        while time.monotonic() < written + CATCH_UP:
            pass
        assert cache.get("k") == f"new{round_no}"
        assert client.local.wait_live(10)
        assert cache.get("k") == f"new{round_no}"
        assert cache.get("k") == f"new{round_no}"
    assert channel.connects == 4 and channel.losses == 3


def test_server_restart_flushes(cache_for: Any, server: RedisServer) -> None:
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": True, "socket_timeout": 0.5,
                                           "socket_connect_timeout": 0.5})
    client = live(cache)
    cache.set("k", "before")
    assert cache.get("k") == "before"
    server.kill()
    until(lambda: not client.local.channels()[0].live, timeout=2, what="the channel lost")
    with pytest.raises(redis.ConnectionError):
        cache.get("k")  # never the local copy: the server is gone
    server.start()
    restarted = redis.Redis.from_url(server.raw_url)
    restarted.set(cache.make_key("k"), pickle.dumps("after"))  # the data did not survive; a new value
    assert until(lambda: _quiet(lambda: cache.get("k")) == "after", timeout=10, what="the restarted server")
    assert client.local.wait_live(10)
    assert cache.get("k") == "after"
    restarted.close()


def _quiet(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def test_a_frozen_server_stops_local_hits_within_the_lease(cache_for: Any, server: RedisServer) -> None:
    lease = 0.3
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": {"lease": lease}, "socket_timeout": 0.2,
                                           "socket_connect_timeout": 0.2})
    client = live(cache)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    server.freeze()
    frozen_at = time.monotonic()
    try:
        # Hits go on at most one lease after the last answered heartbeat (sent before the
        # freeze); every read after that goes to the frozen server and times out.
        last_hit = None
        while time.monotonic() - frozen_at < lease + 1.0:
            try:
                cache.get("k")
                last_hit = time.monotonic()
            except redis.TimeoutError:
                pass
        assert last_hit is None or last_hit - frozen_at <= lease + 0.05, \
            f"a local hit {last_hit - frozen_at:.3f} s into the freeze"
        with pytest.raises((redis.TimeoutError, redis.ConnectionError)):
            cache.get("k")
    finally:
        server.thaw()
    assert until(lambda: _quiet(lambda: cache.get("k")) == "v", timeout=10, what="the thawed server")
    assert client.local.wait_live(10)
    assert client.local.store.flushes >= 1  # the lapse flushed what was held


def test_redis_without_tracking_reads_through(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    """A server refusing CLIENT TRACKING (renamed by an operator, a proxy...): never a local hit."""
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": {"lease": 0.2}})
    raw_own.acl_setuser("default", enabled=True, nopass=True, commands=["+@all", "-client|tracking"])
    try:
        cache.set("k", "v")
        for _ in range(5):
            assert cache.get("k") == "v"
        assert not cache._cache.local.channels()[0].live
        assert len(cache._cache.local.store) == 0
    finally:
        raw_own.acl_setuser("default", enabled=True, nopass=True, commands=["+@all"])


def test_fill_racing_a_write_never_stores_the_old_value() -> None:
    """The token protocol (store.py), step by step: a fill that began before an invalidation
    cannot store what it read."""
    store = LocalStore(100, 1 << 20)
    token = store.begin("k")
    store.invalidate("k")  # the write's invalidation arrives while the fetch is in flight
    assert not store.finish("k", token, "old", None, 3, time.monotonic() + 10, object())
    assert "k" not in store.entries
    first, second = store.begin("k"), store.begin("k")  # two fills: the later token wins
    assert not store.finish("k", first, "a", None, 1, time.monotonic() + 10, object())
    assert store.finish("k", second, "b", None, 1, time.monotonic() + 10, object())
    token = store.begin("j")
    store.flush()
    assert not store.finish("j", token, "x", None, 1, time.monotonic() + 10, object())


# -- processes ----------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_tier(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    cache = cache_for(server.url, OPTIONS=LOCAL)
    parent_tier = live(cache).local
    cache.set("k", "parent")
    assert cache.get("k") == "parent"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's tier is forgotten, never served from
        code = 1
        try:
            raw = redis.Redis.from_url(server.raw_url)
            raw.set(cache.make_key("k"), pickle.dumps("child"))
            ok = cache.get("k") == "child"
            tier = cache._cache.local
            ok = ok and tier is not parent_tier and tier.wait_live(10) and cache.get("k") == "child"
            code = 0 if ok else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    try:
        status = os.read(read, 1)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert status == b"\x00"
    until(lambda: cache.get("k") == "child", timeout=2, what="the child's write seen by the parent")


# -- with the other layers ---------------------------------------------------------------------
def test_with_a_codec(cache_for: Any, server: RedisServer, raw_own: redis.Redis) -> None:
    """The tier keeps what the codec decoded (a JSON value here) and copies it out the same way."""
    cache = cache_for(server.url, OPTIONS={"LOCAL_CACHE": True, "SERIALIZER": "json", "COMPRESSOR": "zlib",
                                           "COMPRESS_MIN_LENGTH": 10})
    live(cache)
    cache.set("doc", {"list": [1, 2], "text": "x" * 100})
    settle(cache)
    assert cache.get("doc") == {"list": [1, 2], "text": "x" * 100}
    raw_own.config_resetstat()
    value = cache.get("doc")
    value["list"].append(3)
    assert cache.get("doc") == {"list": [1, 2], "text": "x" * 100}
    assert gets(raw_own) == 0
    other = cache_for(server.url, OPTIONS={"SERIALIZER": "json", "COMPRESSOR": "zlib", "COMPRESS_MIN_LENGTH": 10})
    other.set("doc", {"list": []})
    until(lambda: cache.get("doc") == {"list": []}, timeout=2, what="another writer's value")


def test_a_local_hit_is_a_hit_for_the_metrics(server: RedisServer, prefix: str, raw_own: redis.Redis) -> None:
    from django.core.cache import caches
    from django.test import override_settings

    from django_altcache.metrics.recorder import _recorders

    alias = f"local-metrics-{prefix}"
    entry = {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": server.url,
             "KEY_PREFIX": prefix, "OPTIONS": {"LOCAL_CACHE": True, "METRICS": True}}
    with override_settings(CACHES={alias: entry}):
        cache = caches[alias]
        live(cache)
        cache.set("k", "v")
        settle(cache)
        assert cache.get("k") == "v"
        raw_own.config_resetstat()
        for _ in range(10):
            assert cache.get("k") == "v"
        assert cache.get("absent") is None and cache.get("absent") is None
        assert gets(raw_own) == 1  # the first read of the absent key only
        get = {(s.op, s.api): s for s in _recorders[alias].snapshot().used()}[("get", "sync")]
        assert get.hits >= 11 and get.misses >= 2
    _recorders.pop(alias, None)


def test_django_redis_api_writes(cache_for: Any, server: RedisServer) -> None:
    """The extras main added (django-redis's set(nx/xx), incr(ignore_key_check), pexpire,
    expire_at) drop the local copy: read at once, or within the catch-up bound for the
    ones that go to the leader's client directly."""
    cache = cache_for(server.url, OPTIONS=LOCAL)
    live(cache)

    def held(key: str, value: Any) -> None:
        cache.set(key, value)
        settle(cache)
        assert cache.get(key) == value and cache.get(key) == value

    held("a", 1)
    assert cache.set("a", 2, xx=True) and cache.get("a") == 2
    assert not cache.set("a", 3, nx=True) and cache.get("a") == 2
    held("n", 5)
    assert cache.incr("n", 2, ignore_key_check=True) == 7 and cache.get("n") == 7
    held("p", "x")
    assert cache.pexpire("p", 0) is not None and cache.get("p") is None
    held("e", "x")
    assert cache.expire_at("e", int(time.time()) - 10)
    done = time.monotonic()
    while time.monotonic() < done + CATCH_UP:
        pass
    assert cache.get("e") is None
