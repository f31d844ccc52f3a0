"""The local tier beyond one server: read replicas, Sentinel failover, Cluster (all real, Redis
and Valkey)."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests._servers.redis_ha import LEADER_ARGS, ClusterTopology, SentinelTopology, redis_cluster, redis_sentinel
from tests.conftest import dedicated
from tests.redis.test_local_cache import close_tiers, gets, live, settle, until

FAST = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


def _quiet(cache: RedisCache, key: str) -> Any:
    try:
        return cache.get(key)
    except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
        return "<error>"


@pytest.fixture(autouse=True)
def _tiers() -> Iterator[None]:
    yield
    close_tiers()


# -- replicas ---------------------------------------------------------------------------
@pytest.fixture
def leader_and_replica(flavour: Flavour) -> Iterator[tuple[RedisServer, RedisServer]]:
    for leader in dedicated(redis_server, LEADER_ARGS, flavour=flavour):
        for replica in dedicated(redis_server, ["--replicaof", "127.0.0.1", str(leader.port)], flavour=flavour):
            try:
                yield leader, replica
            finally:
                close_tiers()


def test_replicas_each_have_a_channel(leader_and_replica: tuple[RedisServer, RedisServer], cache_for: Any) -> None:
    leader, replica = leader_and_replica
    cache = cache_for([leader.url, replica.url], OPTIONS={"LOCAL_CACHE": True, **FAST})
    client = live(cache)
    assert {channel.address[1] for channel in client.local.channels()} == {leader.port, replica.port}
    raw_leader, raw_replica = redis.Redis.from_url(leader.raw_url), redis.Redis.from_url(replica.raw_url)
    cache.set("k", "v1")
    until(lambda: cache.get("k") == "v1", timeout=10, what="replication")
    settle(cache)
    assert cache.get("k") == "v1"
    raw_replica.config_resetstat()
    for _ in range(50):
        assert cache.get("k") == "v1"
    assert gets(raw_replica) == 0
    # Another client writes to the leader: the replica's channel reports it once applied there.
    raw_leader.set(cache.make_key("k"), pickle.dumps("v2"))
    until(lambda: cache.get("k") == "v2", timeout=5, what="the write seen through the replica")
    # The replica dies: its channel is lost, reads fall back to the leader and are kept there.
    replica.kill()
    until(lambda: cache.get("k") == "v2", timeout=5, what="the leader read")
    assert until(lambda: cache.get("k") == "v2" and cache.make_key("k") in client.local.store.entries,
                 timeout=5, what="a fill from the leader")
    raw_leader.set(cache.make_key("k"), pickle.dumps("v3"))
    until(lambda: cache.get("k") == "v3", timeout=5, what="the leader's report")
    assert asyncio.run(cache.aget("k")) == "v3"
    raw_leader.close()
    raw_replica.close()


# -- Sentinel -----------------------------------------------------------------------------
@pytest.fixture
def sentinel(flavour: Flavour) -> Iterator[SentinelTopology]:
    for topology in dedicated(redis_sentinel, flavour=flavour):
        try:
            yield topology
        finally:
            close_tiers()


def test_sentinel_failover_never_serves_the_old_leader_s_values(sentinel: SentinelTopology,
                                                                 cache_for: Any) -> None:
    cache = cache_for(sentinel.location, OPTIONS={"LOCAL_CACHE": {"lease": 0.5}, **FAST})
    writer = cache_for(sentinel.location, OPTIONS=FAST)  # no tier: another process's writes
    client = live(cache)
    cache.set("k", "before")
    settle(cache)
    assert cache.get("k") == "before" and cache.get("k") == "before"
    assert client.local.channels()[0].address[1] == sentinel.leader.port
    sentinel.leader.kill()
    # The failover: writes succeed again once the replica is promoted.
    until(lambda: _write(writer, "after"), timeout=30, what="a write after the failover")
    seen_new = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        value = _quiet(cache, "k")
        if value == "after":
            seen_new = True
        elif seen_new:
            raise AssertionError(f"read {value!r} after having read the new leader's value")
        if seen_new and client.local.channels()[0].live:
            break
    assert seen_new and client.local.channels()[0].address[1] == sentinel.replica.port
    writer.set("k", "again")
    until(lambda: cache.get("k") == "again", timeout=2, what="the new leader's report")


def _write(cache: RedisCache, value: Any) -> bool:
    try:
        cache.set("k", value)
        return True
    except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
        return False


# -- Cluster ------------------------------------------------------------------------------
@pytest.fixture
def cluster(flavour: Flavour) -> Iterator[ClusterTopology]:
    for topology in dedicated(redis_cluster, flavour=flavour):
        try:
            yield topology
        finally:
            close_tiers()


def test_cluster_has_a_channel_per_node(cluster: ClusterTopology, cache_for: Any) -> None:
    cache = cache_for(cluster.location, OPTIONS={"cluster": True, "LOCAL_CACHE": True})
    client = live(cache)
    assert len(client.local.channels()) == len(cluster.nodes)
    keys = [f"key-{i}" for i in range(30)]  # spread over every node
    cache.set_many({key: key for key in keys})
    settle(cache)
    for key in keys:
        assert cache.get(key) == key
    nodes = [redis.Redis(port=node.port) for node in cluster.nodes]
    for node in nodes:
        node.config_resetstat()
    for key in keys:
        assert cache.get(key) == key
    assert asyncio.run(_aget_all(cache, keys)) == keys
    calls = sum(int(v["calls"]) for n in nodes for k, v in n.info("commandstats").items()
                if k in ("cmdstat_get", "cmdstat_mget", "cmdstat_evalsha", "cmdstat_eval"))
    assert calls == 0
    raw = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    for key in keys[:10]:
        raw.set(cache.make_key(key), pickle.dumps(f"{key}!"))
    for key in keys[:10]:
        until(lambda key=key: cache.get(key) == f"{key}!", timeout=2, what=f"the write of {key}")
    assert cache.get_many(keys[:3]) == {key: f"{key}!" for key in keys[:3]}
    raw.close()
    for node in nodes:
        node.close()


async def _aget_all(cache: RedisCache, keys: list[str]) -> list[Any]:
    return [await cache.aget(key) for key in keys]
