"""Beyond one server: read replicas, Sentinel failover, Redis Cluster (all real)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests._servers.redis_ha import LEADER_ARGS, ClusterTopology, SentinelTopology, redis_cluster, redis_sentinel
from tests.conftest import dedicated


def eventually(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Retry ``check`` until it returns without a connection error; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, AssertionError):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s") from None
            time.sleep(0.1)


# -- replicas ---------------------------------------------------------------------------
@pytest.fixture
def leader_and_replica(flavour: Flavour) -> Iterator[tuple[RedisServer, RedisServer]]:
    for leader in dedicated(redis_server, LEADER_ARGS, flavour=flavour):
        for replica in dedicated(redis_server, ["--replicaof", "127.0.0.1", str(leader.port)], flavour=flavour):
            yield leader, replica


def test_reads_go_to_the_replica_and_fall_back_when_it_dies(
        leader_and_replica: tuple[RedisServer, RedisServer], cache_for: Any) -> None:
    leader, replica = leader_and_replica
    cache = cache_for([leader.url, replica.url])
    cache.set("k", "v")
    cache.set_many({"a": 1, "b": 2})
    eventually(lambda: _assert_equal(cache.get("k"), "v"), timeout=10, what="replication")
    assert cache._cache._get_connection_pool(write=False).connection_kwargs["port"] == replica.port
    replica.kill()
    for _ in range(3):  # every read falls back to the leader, none fails
        assert cache.get("k") == "v"
        assert cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
        assert cache.has_key("k")

    async def main() -> Any:
        return await cache.aget("k"), await cache.aget_many(["a"]), await cache.ahas_key("b")

    assert asyncio.run(main()) == ("v", {"a": 1}, True)


def test_a_string_location_lists_leader_then_replicas(leader_and_replica: Any, cache_for: Any) -> None:
    leader, replica = leader_and_replica
    cache = cache_for(f"{leader.url};{replica.url}")
    assert cache._cache._servers == [leader.url, replica.url]
    with pytest.raises(redis.ReadOnlyError):
        cache._cache.get_client(write=False).set("direct", 1)  # reads really go to the replica


def _assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected


# -- Sentinel -----------------------------------------------------------------------------
@pytest.fixture
def sentinel(flavour: Flavour) -> Iterator[SentinelTopology]:
    yield from dedicated(redis_sentinel, 3, flavour=flavour)


def test_sentinel_failover_without_restarting_the_process(sentinel: SentinelTopology, cache_for: Any) -> None:
    cache = cache_for(sentinel.location)
    cache.set("before", "kept", None)
    assert cache.get("before") == "kept"
    assert asyncio.run(cache.aget("before")) == "kept"
    eventually(lambda: _assert_equal(redis.Redis(port=sentinel.replica.port).get(cache.make_key("before")),
                                     cache._cache._serializer.dumps("kept")), timeout=10, what="replication")
    sentinel.leader.kill()
    eventually(lambda: _assert_equal(sentinel.master_port(), sentinel.replica.port),
               timeout=30, what="sentinel promoting the replica")

    def works() -> None:
        cache.set("after", 1)
        assert cache.incr("after") == 2
        assert cache.get("before") == "kept"

    eventually(works, timeout=10, what="the cache after the failover")

    async def works_async() -> Any:
        for _ in range(50):
            try:
                await cache.aset("async", 5)
                # 200 concurrent tasks wait for one of the bounded connections, none fails.
                assert set(await asyncio.gather(*(cache.aget("async") for _ in range(200)))) == {5}
                return await cache.aget("async"), await cache.aget("before")
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                await asyncio.sleep(0.1)
        return None

    assert asyncio.run(works_async()) == (5, "kept")


# -- Cluster ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(flavour: Flavour) -> Iterator[ClusterTopology]:
    yield from dedicated(redis_cluster, flavour=flavour)


def test_cluster_multi_key_operations_span_hash_slots(cluster: ClusterTopology, cache_for: Any) -> None:
    cache: RedisCache = cache_for(cluster.location, OPTIONS={"cluster": True})
    data = {f"key-{i}": {"n": i} for i in range(60)}
    slots = {redis.cluster.key_slot(cache.make_key(k).encode()) for k in data}
    nodes = {cache._cache.get_client().get_node_from_key(cache.make_key(k)).name for k in data}
    assert len(slots) > 30 and len(nodes) == 3
    cache.set_many(data, 60)
    assert cache.get_many(list(data)) == data
    cache.set_many({"forever-1": 1, "forever-2": 2})
    assert cache.get_many(["forever-1", "forever-2", "nope"]) == {"forever-1": 1, "forever-2": 2}
    cache.set("n", 1)
    assert cache.incr("n", 4) == 5
    assert cache.add("n", 9) is False
    cache.set("moving", "v", 100)
    old_slot = redis.cluster.key_slot(cache.make_key("moving").encode())
    new_version = next(v for v in range(2, 50)
                       if redis.cluster.key_slot(cache.make_key("moving", version=v).encode()) != old_slot)
    assert cache.incr_version("moving", delta=new_version - 1) == new_version  # across slots
    assert cache.get("moving", version=new_version) == "v" and 90 < cache.ttl("moving", version=new_version) <= 100
    assert sorted(cache.iter_keys("key-1*")) == sorted(k for k in data if k.startswith("key-1"))
    cache.delete_many([f"key-{i}" for i in range(30)])
    assert len(cache.get_many(list(data))) == 30
    assert cache.delete_pattern("key-*") == 30
    assert cache.get_many(list(data)) == {}

    async def main() -> Any:
        await cache.aset_many(data, 60)
        found = await cache.aget_many(list(data))
        await cache.aset("an", 1)
        incremented = await cache.aincr("an", 2)
        await cache.adelete_many(list(data))
        return found, incremented, await cache.aget_many(list(data))

    assert asyncio.run(main()) == (data, 3, {})
    assert cache.clear() is True
    assert cache.get("n") is None
