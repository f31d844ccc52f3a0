"""RedisCache outages that are not the contract's (tests/contract/test_outage.py runs the kill,
freeze, restart, breaker, log and fail-soft-off scenarios on every configuration): some of a
configuration's servers down (the leader of a replica set, one cluster node), credentials,
and ping()."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_altcache.backends._shared.breaker import reset_breakers
from django_altcache.backends.redis.clusters import FastClusterDown
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests._servers.redis_ha import ClusterTopology, _cluster_ok, redis_cluster
from tests.conftest import dedicated
from tests.contract.helpers import HEAL, SLACK, outcome, timed, until
from tests.contract.targets import TIMEOUT

FAST = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
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
        until(lambda: (cache.set("k", "v"), cache.get("k") == "v")[1], 30, "replication")
        leader.kill()
        for _ in range(5):
            assert cache.set("w", 1) is None  # writes fail softly...
        assert cache.breaker_states()["writes"] == "open"
        until(lambda: cache.get("k") == "v", 5, "a read from the replica")  # ...reads still come from it
        assert cache.breaker_states()["reads"] == "closed"


def test_ping_bypasses_fail_soft(own_redis: RedisServer, cache_for: Any) -> None:
    server = own_redis
    cache = cache_for(server.url, OPTIONS=SOFT)
    result = cache.ping()
    assert result.servers == [server.url] and 0 < result.latency < 5
    server.kill()
    with pytest.raises(redis.ConnectionError):
        cache.ping()


# -- one cluster node of three down ------------------------------------------------------------
KEYS = [f"key-{i}" for i in range(30)]
# One call against a cluster: its node, then (at most once per second) a topology refresh
# that asks the three nodes (django_altcache/backends/redis/clusters.py, docs/resilience.md).
CLUSTER_BOUND = 4 * TIMEOUT
# Past the nodes' cluster-node-timeout (2 s, tests/_servers/redis_ha.py) the live nodes agree the
# cluster is down and answer CLUSTERDOWN: the calls cover both phases, until the live nodes say
# so (``declared_down``) and a little after.
AFTER_DOWN = 0.5
LONGEST = 30.0


def declared_down(cluster: ClusterTopology, victim: Any) -> bool:
    from tests._servers.redis_ha import _info

    return any("cluster_state:fail" in _info("127.0.0.1", node.port, b"CLUSTER INFO\r\n")
               for node in cluster.nodes if node is not victim)


class Phases:
    """Until the cluster has been declared down for AFTER_DOWN seconds (bounded by LONGEST)."""

    def __init__(self, cluster: ClusterTopology, victim: Any) -> None:
        self.cluster, self.victim = cluster, victim
        self.began = time.monotonic()
        self.down_at: float | None = None
        self.checked = 0.0

    def going(self) -> bool:
        now = time.monotonic()
        if self.down_at is None and now - self.checked > 0.1:
            self.checked = now
            if declared_down(self.cluster, self.victim):
                self.down_at = now
        if now - self.began > LONGEST:
            raise AssertionError(f"the cluster was not declared down within {LONGEST} s")
        return self.down_at is None or now - self.down_at < AFTER_DOWN


@pytest.fixture
def cluster(flavour: Flavour) -> Iterator[ClusterTopology]:
    with own(redis_cluster, flavour=flavour) as topology:
        yield topology


def cluster_cache(cache_for: Any, cluster: ClusterTopology) -> Any:
    cache = cache_for(cluster.location, OPTIONS={**SOFT, "cluster": True})
    until(lambda: cache.set_many({key: key for key in KEYS}) == [] and len(cache.get_many(KEYS)) == len(KEYS),
          30, "the cluster storing every key")
    return cache


def heals(cache: Any, cluster: ClusterTopology) -> None:
    """Once the cluster reports ok again (its own recovery), every key works within HEAL."""
    for node in cluster.nodes:
        until(lambda n=node: _cluster_ok(n, len(cluster.nodes)), 60, f"cluster state ok on {node.port}")
    back = time.monotonic()
    until(lambda: cache.set_many({key: key for key in KEYS}) == [] and cache.get_many(KEYS) == {k: k for k in KEYS},
          HEAL, "every key readable again")
    assert time.monotonic() - back <= HEAL


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_cluster_with_a_node_down_stays_within_the_timeouts_and_heals(cluster: ClusterTopology, cache_for: Any,
                                                                      outage: str) -> None:
    """Was 3.7-7.3 s per call with a node killed (redis-py retried with backoff and paused 0.25 s
    on CLUSTERDOWN inside the call); now each call is bounded by the timeouts, and the breaker,
    once open, answers at once."""
    cache = cluster_cache(cache_for, cluster)
    victim = cluster.nodes[1]
    getattr(victim, outage)()
    try:
        samples: list[float] = []
        while_open: list[float] = []  # calls made while the reads breaker was open
        phases = Phases(cluster, victim)
        while phases.going() and len(samples) < 50_000:
            for key in KEYS[:6]:
                was_open = cache.breaker_states()["reads"] == "open"
                value, took = timed(lambda: cache.get(key, "dflt"))
                assert value in (key, "dflt")
                samples.append(took)
                if was_open:
                    while_open.append(took)
            time.sleep(0.002)
        assert cache.get_many(KEYS).keys() <= set(KEYS)
        elapsed = time.monotonic() - phases.began
    finally:
        if outage == "freeze":
            victim.thaw()
        else:
            victim.start()
    worst = max(samples)
    print(f"[cluster, a node {outage}] worst of {len(samples)} calls {worst * 1e3:.0f} ms, "
          f"{len(while_open)} while the breaker was open")
    assert worst <= CLUSTER_BOUND + SLACK, f"a call took {worst * 1e3:.0f} ms with a cluster node {outage}"
    assert_breaker_answers_at_once(while_open, elapsed)
    heals(cache, cluster)


def assert_breaker_answers_at_once(while_open: list[float], elapsed: float) -> None:
    """While the breaker was open only its probes (one per cooldown) waited on the network.

    The breaker is the cache's, counting consecutive failures: while only one node of three
    fails, the others' replies keep it closed (each call for the failing node's keys costs that
    node's timeouts); it opens once the cluster is declared down and every call fails."""
    assert while_open, "the breaker never opened, even with the cluster down"
    waited = [took for took in while_open if took >= 0.8 * TIMEOUT]
    assert len(waited) <= elapsed / 0.5 + 2, f"{len(waited)} calls waited while the breaker was open"


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_async_cluster_with_a_node_down_stays_within_the_timeouts_and_heals(cluster: ClusterTopology,
                                                                            cache_for: Any, outage: str) -> None:
    cache = cluster_cache(cache_for, cluster)
    victim = cluster.nodes[2]

    async def scenario() -> tuple[list[float], list[float], float]:
        assert await cache.aget_many(KEYS) == {k: k for k in KEYS}
        getattr(victim, outage)()
        samples: list[float] = []
        while_open: list[float] = []
        phases = Phases(cluster, victim)
        while phases.going() and len(samples) < 50_000:
            for key in KEYS[:6]:
                was_open = cache.breaker_states()["reads"] == "open"
                started = time.perf_counter()
                assert await cache.aget(key, "dflt") in (key, "dflt")
                samples.append(time.perf_counter() - started)
                if was_open:
                    while_open.append(samples[-1])
            await asyncio.sleep(0.002)
        assert (await cache.aget_many(KEYS)).keys() <= set(KEYS)
        return samples, while_open, time.monotonic() - phases.began

    try:
        samples, while_open, elapsed = asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        if outage == "freeze":
            victim.thaw()
        else:
            victim.start()
    worst = max(samples)
    assert worst <= CLUSTER_BOUND + SLACK, f"an async call took {worst * 1e3:.0f} ms with a cluster node {outage}"
    assert_breaker_answers_at_once(while_open, elapsed)
    heals(cache, cluster)


def test_cluster_errors_without_fail_soft_are_redis_pys_own(cluster: ClusterTopology, cache_for: Any) -> None:
    """No pause and no retry inside the call, but the exception classes are redis-py's: a node's
    CLUSTERDOWN reply is raised as ``ClusterDownError``, from single-key and multi-key calls."""
    cache = cache_for(cluster.location, OPTIONS={**FAST, "cluster": True})
    until(lambda: cache.set_many({key: key for key in KEYS}) == [], 30, "the cluster storing every key")
    cluster.nodes[0].kill()
    try:
        # The others declare the cluster down once the node timeout (2 s) passes.
        def down() -> bool:
            for key in KEYS:  # a key of a live node
                try:
                    cache.get(key)
                except redis.exceptions.ClusterDownError:
                    return True
                except redis.RedisError:
                    pass
            return False

        until(down, 30, "CLUSTERDOWN")
        for call in (lambda: cache.get_many(KEYS),
                     lambda: cache.set_many({k: 1 for k in KEYS}, 30), lambda: cache.delete_many(KEYS)):
            _, error, took = outcome(call)
            # The dead node's slots: a connection error; the others': CLUSTERDOWN.
            assert isinstance(error, (redis.exceptions.ClusterDownError, redis.ConnectionError)), repr(error)
            assert not isinstance(error, FastClusterDown)
            assert took <= CLUSTER_BOUND + SLACK
    finally:
        cluster.nodes[0].start()
