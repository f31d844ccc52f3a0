"""Redis Cluster clients whose every call is bounded by the socket timeouts.

redis-py's ``RedisCluster`` (sync and asyncio) is built to ride out a failover inside one
call: it retries a failed command 10 times (3 for asyncio) with exponential backoff,
refreshing the topology between attempts, and after a ``CLUSTERDOWN`` reply it sleeps a
fixed 0.25 s and re-reads the topology before raising. With one node of three killed that
was measured at 3.7-7.3 s per call (the cluster declares itself down once the node
timeout passes, and every node then answers ``CLUSTERDOWN``). A cache must not wait: the
circuit breaker and the next call do the retrying. So, unless ``OPTIONS`` set ``retry``
(or ``cluster_error_retry_attempts``) themselves:

- ``retry`` is one attempt, no backoff: a failed command raises at once. The topology
  refresh redis-py asks for after a connection error is still run, by a later call, at
  most once per ``topology_refresh_min_interval`` (1 s); it asks the other nodes first.
- a ``CLUSTERDOWN`` reply is raised as it arrives (``ClusterDownError``): the node
  connections re-raise it as ``FastClusterDown``, a class redis-py's 0.25 s pause does
  not catch, and ``execute_command`` and pipelines (``mget_nonatomic``...) turn it back
  into redis-py's ``ClusterDownError``. The node connections get that behaviour from
  their pools (and the asyncio nodes) as redis-py creates them, whatever its version
  (8.1 builds a node's client without a ``connection_class`` keyword).

A call then costs at most the connect and read timeouts of the node it reaches, plus,
for the call that runs a due topology refresh, the refresh (a round trip to a node
that answers; one that does not costs its timeouts). docs/resilience.md states the bound.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, ClusterError, ResponseError

# The keywords by which OPTIONS take over redis-py's own retrying.
RETRY_OPTIONS = ("retry", "cluster_error_retry_attempts")


class FastClusterDown(ClusterError, ResponseError):
    """``CLUSTERDOWN`` as read from a node: not a ``ClusterDownError``, so redis-py's
    cluster loop raises it without its 0.25 s pause and re-initialization."""


def _fast(error: ClusterDownError) -> FastClusterDown:
    fast = FastClusterDown(*error.args)
    fast.__dict__.update(error.__dict__)
    return fast


def _restore(error: FastClusterDown) -> ClusterDownError:
    restored = ClusterDownError(*error.args)
    restored.__dict__.update(error.__dict__)
    return restored


_made: dict[tuple[str, type], type] = {}


def _subclass(kind: str, cls: type, namespace: dict[str, Any], name: str) -> type:
    """One subclass of ``cls`` per kind, made once."""
    made = _made.get((kind, cls))
    if made is None:
        made = _made.setdefault((kind, cls), type(name, (cls,), {**namespace, "__module__": __name__}))
    return made


def _fast_connection(cls: Any) -> type:
    """``cls`` (a sync Connection class) whose replies raise ``FastClusterDown`` for CLUSTERDOWN."""
    if getattr(cls, "_altcache_fast", False):
        return cls  # type: ignore[no-any-return]

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return cls.read_response(self, *args, **kwargs)
        except ClusterDownError as exc:
            raise _fast(exc) from None

    return _subclass("sync", cls, {"read_response": read_response, "_altcache_fast": True}, f"Bounded{cls.__name__}")


def _fast_async_connection(cls: Any) -> type:
    """The asyncio twin of ``_fast_connection``."""
    if getattr(cls, "_altcache_fast", False):
        return cls  # type: ignore[no-any-return]

    async def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await cls.read_response(self, *args, **kwargs)
        except ClusterDownError as exc:
            raise _fast(exc) from None

    return _subclass("async", cls, {"read_response": read_response, "_altcache_fast": True},
                     f"Bounded{cls.__name__}")


def _bind_pool(pool: Any) -> None:
    """A node's (sync) pool makes fast connections from now on; the ones it has become fast.
    A subclass that only overrides a method has its base's layout, so ``__class__`` may change."""
    pool.connection_class = _fast_connection(pool.connection_class)
    for attribute in ("_available_connections", "_in_use_connections", "_connections"):
        for connection in list(getattr(pool, attribute, None) or ()):
            connection.__class__ = _fast_connection(type(connection))


def _bind_async_node(node: Any) -> None:
    node.connection_class = _fast_async_connection(node.connection_class)
    for connection in list(getattr(node, "_connections", None) or ()):
        connection.__class__ = _fast_async_connection(type(connection))


def _one_attempt(options: dict[str, Any], retry_class: type) -> dict[str, Any]:
    if any(name in options for name in RETRY_OPTIONS):
        return options  # the user chose redis-py's retrying, and its cost
    return {**options, "retry": retry_class(NoBackoff(), 0)}


def _restoring_pipeline(cls: Any) -> type:
    """``cls`` (a cluster pipeline class) whose ``execute`` raises ``ClusterDownError`` again."""

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return cls.execute(self, *args, **kwargs)
        except FastClusterDown as exc:
            raise _restore(exc) from None

    async def aexecute(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await cls.execute(self, *args, **kwargs)
        except FastClusterDown as exc:
            raise _restore(exc) from None

    is_async = cls.__module__.startswith("redis.asyncio")
    return _subclass("pipeline", cls, {"execute": aexecute if is_async else execute}, cls.__name__)


class BoundedRedisCluster(redis.cluster.RedisCluster):  # type: ignore[misc]
    """``redis.cluster.RedisCluster`` with calls bounded by the timeouts (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from redis.retry import Retry

        super().__init__(*args, **_one_attempt(kwargs, Retry))
        manager = self.nodes_manager
        create = manager.create_redis_node

        def create_redis_node(*args: Any, **kwargs: Any) -> Any:
            client = create(*args, **kwargs)
            _bind_pool(client.connection_pool)
            return client

        setattr(manager, "create_redis_node", create_redis_node)  # every node redis-py creates from now on
        for node in list(manager.nodes_cache.values()) + list(getattr(manager, "startup_nodes", {}).values()):
            if node.redis_connection is not None:  # the ones the first topology read created
                _bind_pool(node.redis_connection.connection_pool)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except FastClusterDown as exc:
            raise _restore(exc) from None

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        pipe.__class__ = _restoring_pipeline(type(pipe))  # same layout: only execute() differs
        return pipe


class BoundedAsyncRedisCluster(redis.asyncio.cluster.RedisCluster):  # type: ignore[misc]
    """``redis.asyncio.cluster.RedisCluster`` with calls bounded by the timeouts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from redis.asyncio.retry import Retry

        super().__init__(*args, **_one_attempt(kwargs, Retry))
        # The asyncio client takes no connection_class: its nodes read it from these kwargs
        # (the topology is read at the first call, after this).
        for holder in (self.connection_kwargs, self.nodes_manager.connection_kwargs):
            holder["connection_class"] = _fast_async_connection(holder.get("connection_class")
                                                                or redis.asyncio.connection.Connection)
        for node in self.nodes_manager.startup_nodes.values():
            _bind_async_node(node)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except FastClusterDown as exc:
            raise _restore(exc) from None

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        pipe.__class__ = _restoring_pipeline(type(pipe))
        return pipe
