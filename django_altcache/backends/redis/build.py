"""Building pools and clients for each topology (servers, Sentinel, Cluster), sync and async.

``options.topology_of`` decides what the servers are; this module turns that into redis-py
objects, and gives each a registry key so equal settings share one pool per process
(or per event loop, for asyncio). It also keeps the replicas that failed lately.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from .options import DEFAULT_ASYNC_MAX_CONNECTIONS, DEFAULT_ASYNC_POOL_TIMEOUT, Topology
from .pools import freeze

# A replica that failed is skipped for this long (per process), so reads do not pay
# a connect attempt to a dead server each time.
REPLICA_RETRY_AFTER = 0.5  # as the circuit breaker's default cooldown: back within 1 s
down_until: dict[str, float] = {}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def build_pool(topology: Topology, index: int) -> Any:
    import redis

    if topology.kind == "sentinel":
        from redis.sentinel import Sentinel

        sentinel = Sentinel(topology.sentinels, sentinel_kwargs=sentinel_kwargs(topology))
        return sentinel.master_for(topology.service_name, redis_class=redis.Redis,
                                   **topology.pool_options).connection_pool
    return topology.pool_class.from_url(topology.servers[index], **topology.pool_options)


def sentinel_kwargs(topology: Topology) -> dict[str, Any]:
    defaults: dict[str, Any] = {key: topology.pool_options[key] for key in ("socket_connect_timeout", "socket_timeout")
                if key in topology.pool_options}
    return {**defaults, **topology.sentinel_kwargs}


def build_cluster(topology: Topology, asynchronous: bool = False) -> Any:
    cluster_node: Any
    redis_cluster: Any
    if asynchronous:
        from redis.asyncio.cluster import ClusterNode as cluster_node, RedisCluster as redis_cluster
        options = topology.async_pool_options
    else:
        from redis.cluster import ClusterNode as cluster_node, RedisCluster as redis_cluster
        options = topology.pool_options
    first = urlsplit(topology.servers[0])
    auth = {}
    if first.password:
        auth["password"] = first.password
        if first.username:
            auth["username"] = first.username
    nodes = [cluster_node(*_host_port(url)) for url in topology.servers]
    return redis_cluster(startup_nodes=nodes, **{**auth, **options})


def pool_key(topology: Topology, index: int, asynchronous: bool) -> Any:
    if asynchronous:
        cls, options = topology.async_pool_class, topology.async_pool_options
    else:
        cls, options = topology.pool_class, topology.pool_options
    target: Any = topology.servers[index] if topology.servers else None
    if topology.kind == "sentinel":
        target = (tuple(topology.sentinels), topology.service_name, freeze(topology.sentinel_kwargs))
    elif topology.kind == "cluster":
        target = tuple(topology.servers)
    return (topology.kind, cls, target, freeze(options))


@functools.lru_cache(maxsize=None)
def _blocking_sentinel_pool() -> type:
    """redis.asyncio's Sentinel pool raises past max_connections; this one waits, as
    the pools of plain servers do (BlockingConnectionPool), so many tasks stay bounded."""
    from redis.asyncio import BlockingConnectionPool
    from redis.asyncio.sentinel import SentinelConnectionPool

    return type("BlockingSentinelConnectionPool", (SentinelConnectionPool, BlockingConnectionPool),
                {"__module__": __name__})


def build_async(topology: Topology, index: int) -> Any:
    import redis.asyncio

    if topology.kind == "cluster":
        return build_cluster(topology, asynchronous=True)
    if topology.kind == "sentinel":
        from redis.asyncio.sentinel import Sentinel

        sentinel = Sentinel(topology.sentinels, sentinel_kwargs=sentinel_kwargs(topology))
        options = dict(topology.async_pool_options)
        options.setdefault("max_connections", DEFAULT_ASYNC_MAX_CONNECTIONS)
        options.setdefault("timeout", DEFAULT_ASYNC_POOL_TIMEOUT)
        return sentinel.master_for(topology.service_name, redis_class=redis.asyncio.Redis,
                                   connection_pool_class=_blocking_sentinel_pool(), **options)
    pool = topology.async_pool_class.from_url(topology.servers[index], **topology.async_pool_options)
    return redis.asyncio.Redis(connection_pool=pool)
