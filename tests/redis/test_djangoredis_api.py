"""django-redis's API on RedisCache, in every topology (one server, leader + replica, Sentinel,
Cluster), each method and its async twin held to the same results on the same server.

One script of calls (``SCRIPT``) with the result django-redis gives for each; it runs once with
the sync methods and once with the ``a``-prefixed twins, under two key prefixes of the same
cache, and both must give exactly the expected list. With a replica, each step waits (``WAIT``)
until the replica has the writes, since reads go to it.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import redis_server
from tests._servers.redis_ha import LEADER_ARGS, redis_cluster, redis_sentinel
from tests.conftest import dedicated, server_env

ITERATORS = {"iter_keys", "sscan_iter"}
Step = tuple[str, tuple[Any, ...], dict[str, Any], Any, Callable[[Any], Any] | None]


def step(name: str, *args: Any, expect: Any = None, post: Callable[[Any], Any] | None = None,
         **kwargs: Any) -> Step:
    return (name, args, kwargs, expect, post)


def _near(low: float, high: float) -> Callable[[Any], bool]:
    return lambda value: value is not None and low < value <= high


def script() -> list[Step]:
    """The calls and django-redis's results (made per test: some steps carry the current time)."""
    return [
        # set(nx/xx), incr/decr(ignore_key_check), delete_many's count
        step("set", "k", 1, expect=None),
        step("set", "k", 2, nx=True, expect=False),
        step("set", "new", "v", nx=True, expect=True),
        step("set", "absent", "v", xx=True, expect=False),
        step("set", "k", 3, xx=True, expect=True),
        step("get", "k", expect=3),
        step("set", "k", 4, 0, xx=True, expect=True),  # an expired write deletes, as django-redis
        step("has_key", "k", expect=False),
        step("set", "k0", "x", 0, nx=True, expect=True),
        step("has_key", "k0", expect=False),
        step("incr", "ctr", ignore_key_check=True, expect=1),
        step("incr", "ctr", 5, expect=6),
        step("decr", "ctr", 2, ignore_key_check=True, expect=4),
        step("decr", "ctr", expect=3),
        step("ttl", "ctr", expect=None),  # created by INCRBY: no expiry
        step("set_many", {"a": 1, "b": 2, "c": 3}, expect=[]),
        step("delete_many", ["a", "b", "zz"], expect=2),
        step("delete_many", [], expect=0),
        # keys by pattern, as the caller wrote them
        step("keys", "c*", expect=["c", "ctr"], post=sorted),
        step("iter_keys", "c*", itersize=2, expect=["c", "ctr"], post=sorted),
        step("set", "pat:1", 1, version=7, expect=None),
        step("keys", "pat:*", version=7, expect=["pat:1"]),
        step("delete_pattern", "c*", expect=2),
        step("keys", "c*", expect=[]),
        # expiry
        step("ttl", "missing", expect=0),
        step("pttl", "missing", expect=0),
        step("set", "t", "v", 100, expect=None),
        step("ttl", "t", expect=True, post=_near(90, 100)),
        step("pttl", "t", expect=True, post=_near(90_000, 100_000)),
        step("expire", "t", 50, expect=True),
        step("ttl", "t", expect=True, post=_near(40, 50)),
        step("expire", "t", datetime.timedelta(seconds=60), expect=True),
        step("ttl", "t", expect=True, post=_near(50, 60)),
        step("pexpire", "t", 20_000, expect=True),
        step("pttl", "t", expect=True, post=_near(10_000, 20_000)),
        step("persist", "t", expect=True),
        step("ttl", "t", expect=None),
        step("persist", "t", expect=False),
        step("expire_at", "t", int(time.time()) + 500, expect=True),
        step("ttl", "t", expect=True, post=_near(400, 501)),
        step("expire_at", "t", datetime.datetime.now() + datetime.timedelta(seconds=300), expect=True),
        step("ttl", "t", expect=True, post=_near(200, 301)),
        step("pexpire_at", "t", int(time.time() * 1000) + 400_000, expect=True),
        step("pttl", "t", expect=True, post=_near(300_000, 400_001)),
        step("touch", "t", 30, expect=True),
        step("ttl", "t", expect=True, post=_near(20, 30)),
        step("expire", "missing", 10, expect=False),
        step("pexpire", "missing", 10, expect=False),
        step("expire_at", "missing", int(time.time()) + 10, expect=False),
        step("expire", "t", None, expect=True),  # None: never expire
        step("ttl", "t", expect=None),
        step("expire", "t", 0, expect=True),  # 0: expire now
        step("has_key", "t", expect=False),
        # hashes
        step("hset", "h", "f1", "v1", expect=1),
        step("hset", "h", mapping={"f2": 2, "f3": [1, "x"]}, expect=2),
        step("hset", "h", "f1", {"new": True}, expect=0),
        step("hget", "h", "f1", expect={"new": True}),
        step("hget", "h", "f2", expect=2),
        step("hget", "h", "nope", expect=None),
        step("hgetall", "h", expect={"f1": {"new": True}, "f2": 2, "f3": [1, "x"]}),
        step("hlen", "h", expect=3),
        step("hkeys", "h", expect=["f1", "f2", "f3"], post=sorted),
        step("hexists", "h", "f1", expect=True),
        step("hdel", "h", "f1", expect=1),
        step("hdel", "h", "f1", expect=0),
        step("hexists", "h", "f1", expect=False),
        step("hgetall", "missing", expect={}),
        step("hset", "h", "f", "v2", version=2, expect=1),
        step("hget", "h", "f", version=2, expect="v2"),
        step("hget", "h", "f", expect=None),
        # sets
        step("sadd", "s1", 1, "a", (1, 2), expect=3),
        step("sadd", "s1", "a", expect=0),
        step("scard", "s1", expect=3),
        step("smembers", "s1", expect={1, "a", (1, 2)}),
        step("sismember", "s1", "a", expect=True),
        step("sismember", "s1", "b", expect=False),
        step("smismember", "s1", "a", "b", 1, expect=[True, False, True]),
        step("srem", "s1", "a", "zz", expect=1),
        step("sadd", "s2", 1, "b", expect=2),
        step("sdiff", "s1", "s2", expect={(1, 2)}),
        step("sinter", "s1", "s2", expect={1}),
        step("sunion", "s1", "s2", expect={1, (1, 2), "b"}),
        step("sdiffstore", "d", "s1", "s2", expect=1),
        step("smembers", "d", expect={(1, 2)}),
        step("sinterstore", "d", "s1", "s2", expect=1),
        step("smembers", "d", expect={1}),
        step("sunionstore", "d", "s1", "s2", expect=3),
        step("smembers", "d", expect={1, (1, 2), "b"}),
        step("smove", "s1", "s2", (1, 2), expect=True),
        step("smove", "s1", "s2", (1, 2), expect=False),
        step("smembers", "s2", expect={1, "b", (1, 2)}),
        step("sscan", "s2", expect={1, "b", (1, 2)}),
        step("sscan_iter", "s2", count=1, expect=sorted([1, "b", (1, 2)], key=repr),
             post=lambda found: sorted(found, key=repr)),
        step("srandmember", "s2", expect=True, post=lambda found: found in (1, "b", (1, 2))),
        step("srandmember", "s2", 2, expect=True, post=lambda found: len(found) == 2 and set(found) <= {1, "b", (1, 2)}),
        step("srandmember", "missing", expect=None),
        step("sadd", "one", "x", expect=1),
        step("spop", "one", expect="x"),
        step("spop", "one", expect=None),
        step("sadd", "two", "y", expect=1),
        step("spop", "two", 1, expect={"y"}),
        # the same slot on a Cluster ({tag}): the commands run natively there
        step("sadd", "{g}a", 1, 2, 3, expect=3),
        step("sadd", "{g}b", 2, 3, 4, expect=3),
        step("sinter", "{g}a", "{g}b", expect={2, 3}),
        step("sdiffstore", "{g}d", "{g}a", "{g}b", expect=1),
        step("smembers", "{g}d", expect={1}),
        step("smove", "{g}a", "{g}b", 1, expect=True),
        step("sunion", "{g}a", "{g}b", expect={1, 2, 3, 4}),
        step("sadd", "vs", "m", version=3, expect=1),
        step("sdiffstore", "vd", "vs", version_dest=4, version_keys=3, expect=1),
        step("smembers", "vd", version=4, expect={"m"}),
        # sorted sets
        step("zadd", "z", {"a": 1, "b": 2, 3: 3}, expect=3),
        step("zadd", "z", {"a": 10}, nx=True, expect=0),
        step("zcard", "z", expect=3),
        step("zcount", "z", 1, 2, expect=2),
        step("zscore", "z", "b", expect=2.0),
        step("zscore", "z", "zz", expect=None),
        step("zincrby", "z", 5, "a", expect=6.0),
        step("zrank", "z", "b", expect=0),
        step("zrank", "z", "zz", expect=None),
        step("zrange", "z", 0, -1, expect=["b", 3, "a"]),
        step("zrange", "z", 0, -1, withscores=True, expect=[("b", 2.0), (3, 3.0), ("a", 6.0)]),
        step("zrange", "z", 0, 0, desc=True, expect=["a"]),
        step("zrevrange", "z", 0, 1, expect=["a", 3]),
        step("zrevrange", "z", 0, 0, withscores=True, score_cast_func=int, expect=[("a", 6)]),
        step("zrangebyscore", "z", 2, 3, expect=["b", 3]),
        step("zrangebyscore", "z", "-inf", "+inf", start=1, num=1, withscores=True, expect=[(3, 3.0)]),
        step("zrevrangebyscore", "z", "+inf", 3, expect=["a", 3]),
        step("zrem", "z", "b", "zz", expect=1),
        step("zremrangebyscore", "z", 0, 3, expect=1),
        step("zpopmax", "z", expect=("a", 6.0)),
        step("zpopmax", "z", expect=None),
        step("zpopmin", "z", 2, expect=[]),
        step("zadd", "z2", {"x": 1, "y": 2, "w": 3}, expect=3),
        step("zpopmin", "z2", 2, expect=[("x", 1.0), ("y", 2.0)]),
        step("zpopmin", "z2", expect=("w", 3.0)),
    ]


def run_sync(cache: RedisCache, script: list[Step], settle: Callable[[], None]) -> list[Any]:
    results = []
    for name, args, kwargs, _, post in script:
        result = getattr(cache, name)(*args, **kwargs)
        if name in ITERATORS:
            result = list(result)
        settle()
        results.append(post(result) if post else result)
    return results


async def run_async(cache: RedisCache, script: list[Step], settle: Callable[[], None]) -> list[Any]:
    results = []
    for name, args, kwargs, _, post in script:
        if name in ITERATORS:
            result: Any = [item async for item in getattr(cache, f"a{name}")(*args, **kwargs)]
        else:
            result = await getattr(cache, f"a{name}")(*args, **kwargs)
        await asyncio.to_thread(settle)
        results.append(post(result) if post else result)
    return results


# -- topologies (started once per module) -------------------------------------------------------
@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[str, str]]:
    for leader in dedicated(redis_server, LEADER_ARGS):
        for replica in dedicated(redis_server, ["--replicaof", "127.0.0.1", str(leader.port)]):
            yield leader.url, replica.url


@pytest.fixture(scope="module")
def sentinel_location() -> Iterator[str]:
    for topology in dedicated(redis_sentinel, 1):
        yield topology.location


@pytest.fixture(scope="module")
def cluster_nodes() -> Iterator[list[str]]:
    for topology in dedicated(redis_cluster):
        yield topology.location


TOPOLOGIES = ["single", "replicas", "sentinel", "cluster"]


@pytest.fixture(params=TOPOLOGIES)
def topology(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def built(topology: str, request: Any, prefix: str) -> tuple[Callable[..., RedisCache], Callable[[], None]]:
    """(make a cache of this topology, wait for replicas)."""
    settle: Callable[[], None] = lambda: None  # noqa: E731
    options: dict[str, Any] = {}
    if topology == "single":
        # Redis here: the API runs on Valkey through the rest of tests/redis.
        location: Any = server_env("ALTCACHE_REDIS_URL", "redis-server")
    elif topology == "replicas":
        leader, replica = request.getfixturevalue("replicas")
        location = [leader, replica]
        raw = redis.Redis.from_url(leader)
        request.addfinalizer(raw.close)
        settle = lambda: raw.execute_command("WAIT", 1, 5000) and None  # noqa: E731
    elif topology == "sentinel":
        location = request.getfixturevalue("sentinel_location")
    else:
        location = request.getfixturevalue("cluster_nodes")
        options = {"cluster": True}

    def make(**params: Any) -> RedisCache:
        params.setdefault("KEY_PREFIX", prefix)
        params["OPTIONS"] = {**options, **params.get("OPTIONS", {})}
        return RedisCache(location, params)

    return make, settle


def test_the_whole_api_sync_and_async_give_django_redis_results(built: Any, prefix: str) -> None:
    make, settle = built
    sync_cache, async_cache = make(KEY_PREFIX=prefix + "s"), make(KEY_PREFIX=prefix + "a")
    steps = script()
    expected = [(item[0], item[3]) for item in steps]
    sync_results = run_sync(sync_cache, steps, settle)
    assert [(item[0], got) for item, got in zip(steps, sync_results)] == expected
    steps = script()
    async_results = asyncio.run(run_async(async_cache, steps, settle))
    assert [(item[0], got) for item, got in zip(steps, async_results)] == expected
    client = sync_cache._cache
    if client._replicated:  # structure reads went to the replica
        stats = redis.Redis.from_url(client._servers[1]).info("commandstats")
        assert {"cmdstat_smembers", "cmdstat_hgetall", "cmdstat_zrange"} <= stats.keys()
    if client._cluster:  # the sets of the script span slots: combined here, as the server refuses
        made = [sync_cache.make_key(key) for key in ("s1", "s2")]
        assert sync_cache._spans_slots(made)
        with pytest.raises(redis.exceptions.RedisClusterException):
            client._leader.sdiff(*made)
        assert not sync_cache._spans_slots([sync_cache.make_key(key) for key in ("{g}a", "{g}b")])


def test_locks_sync_and_async(built: Any) -> None:
    make, _ = built
    cache = make()
    lock = cache.lock("job", timeout=5, blocking_timeout=0.1)
    assert lock.acquire()
    assert not cache.lock("job", timeout=5).acquire(blocking=False)
    assert cache.ttl("job") is not None and 0 < cache.ttl("job") <= 5
    lock.release()
    with cache.lock("job", timeout=5, thread_local=False):
        assert cache.has_key("job")
    assert not cache.has_key("job")

    async def main() -> list[bool]:
        out = []
        async with cache.alock("ajob", timeout=5, sleep=0.01):
            out.append(await cache.ahas_key("ajob"))
            out.append(await cache.alock("ajob", timeout=5).acquire(blocking=False))
        out.append(await cache.ahas_key("ajob"))
        return out

    assert asyncio.run(main()) == [True, False, False]


def test_get_redis_connection_and_cache_client(built: Any, topology: str, settings: Any) -> None:
    from django.core.cache import caches

    from django_altcache import get_redis_connection

    make, _ = built
    cache = make()
    alias = f"djr-{uuid.uuid4().hex[:6]}"
    entry = {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": cache._servers
             if topology != "cluster" else cache._topology.servers, "KEY_PREFIX": cache.key_prefix,
             "OPTIONS": {"cluster": True} if topology == "cluster" else {}}
    if topology == "sentinel":
        entry["LOCATION"] = cache._servers[0]
    settings.CACHES = {**settings.CACHES, alias: entry}
    connection = get_redis_connection(alias)
    expected = redis.cluster.RedisCluster if topology == "cluster" else redis.Redis
    assert isinstance(connection, expected)
    caches[alias].set("raw", 5)
    assert connection.get(caches[alias].make_key("raw")) == b"5"
    assert caches[alias].client.get_client() is connection
    if topology == "replicas":
        reader = get_redis_connection(alias, write=False)
        assert reader.connection_pool.connection_kwargs["port"] != connection.connection_pool.connection_kwargs["port"]


def test_get_redis_connection_refuses_other_backends(settings: Any) -> None:
    from django_altcache import get_redis_connection

    settings.CACHES = {**settings.CACHES, "mem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with pytest.raises(NotImplementedError, match="does not support"):
        get_redis_connection("mem")


def test_close_with_close_connection_on_every_topology(built: Any) -> None:
    make, _ = built
    cache = make(OPTIONS={"CLOSE_CONNECTION": True})
    cache.set("k", 1)
    cache.close()
    assert cache.get("k") == 1  # connections are made again

    async def main() -> Any:
        await cache.aset("a", 2)
        await cache.aclose()
        return await cache.aget("a")

    assert asyncio.run(main()) == 2
    cache.close()
