"""The process-wide registries of redis-py pools and clients, and what counts as an outage.

Django builds a connection pool per backend instance, and instances are per thread
and per asyncio task: under ASGI that is a pool (and its connections) per request.
Here a pool is created once per process for each distinct set of connection
parameters and shared by every instance and thread (redis-py pools are thread-safe
and reset themselves after a fork). Async pools cannot cross event loops, so they
are kept per loop and dropped when their loop is closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from django_altcache.conf.location import mask_secrets

def freeze(value: Any) -> Any:
    """A hashable stand-in for an option value, to key the pool registry.

    Unhashable values that are not plain containers (an SSL context...) are keyed by
    identity; the registry holds the value so the id is not reused.
    """
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    if type(value).__hash__ is object.__hash__ and not isinstance(value, type):
        # Objects without value equality (DriverInfo, Retry...) compare by attributes.
        state = getattr(value, "__dict__", None)
        if state is not None:
            return (type(value), freeze(state))
    return value


class _SyncRegistry:
    """Process-wide: one pool (or cluster client) per distinct connection parameters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Any, tuple[Any, Any]] = {}

    def get(self, key: Any, keepalive: Any, build: Any) -> Any:
        found = self._objects.get(key)
        if found is not None:
            return found[0]
        with self._lock:
            found = self._objects.get(key)
            if found is None:
                found = (build(), keepalive)
                self._objects[key] = found
            return found[0]

    def clear(self) -> None:
        with self._lock:
            objects, self._objects = self._objects, {}
        for obj, _ in objects.values():
            close = getattr(obj, "disconnect", None) or getattr(obj, "close", None)
            if close is not None:
                close()


class _LoopRegistry:
    """Async pools per event loop. A pool is bound to the loop its connections were
    made on, so a loop never sees another's pool; entries of closed loops are
    dropped (their sockets closed) whenever a new loop registers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[Any, Any]] = {}

    def for_loop(self, loop: asyncio.AbstractEventLoop) -> dict[Any, Any]:
        found = self._by_loop.get(loop)
        if found is not None:
            return found
        with self._lock:
            for old in [old for old in self._by_loop if old.is_closed()]:
                _abort_all(self._by_loop.pop(old))
            return self._by_loop.setdefault(loop, {})


def _abort_all(objects: dict[Any, Any]) -> None:
    """Close the sockets of pools whose loop is gone: nothing can be awaited any more,
    and asyncio's own close path schedules callbacks on the (closed) loop."""
    for obj in objects.values():
        pools = [getattr(obj, "connection_pool", obj)]
        nodes = getattr(getattr(obj, "nodes_manager", None), "nodes_cache", None) or {}
        pools += [getattr(node, "_free", None) for node in nodes.values()]
        for pool in pools:
            conns: list[Any] = list(pool or ()) if isinstance(pool, Iterable) else []
            for attr in ("_available_connections", "_in_use_connections"):
                conns += list(getattr(pool, attr, ()) or ())
            for conn in conns:
                _close_orphan(conn)


def _close_orphan(conn: Any) -> None:
    writer = getattr(conn, "_writer", None)
    if writer is None:
        return
    transport = writer.transport
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        sock.close()
        transport._sock = None
    try:
        transport._closing = True  # else StreamWriter.__del__ warns "loop is closed"
    except AttributeError:  # another loop's transport (uvloop's are C types): nothing to quiet
        pass
    conn._writer = conn._reader = None


SYNC = _SyncRegistry()
ASYNC = _LoopRegistry()


# -- what counts as an outage (the resilience layer's view of redis-py) -------------------
def outage_errors() -> tuple[type[BaseException], ...]:
    """redis-py errors that mean "the server cannot serve now", for fail-soft and the breaker.

    ReadOnlyError is a write reaching a leader that was just demoted (a failover in
    progress); ClusterError/SlotNotCoveredError a cluster without a node for the slot;
    RedisClusterUnreachableError (redis-py 8) a cluster none of whose nodes answers.
    """
    import redis.exceptions as errors

    # redis-py < 8.2 raises the broad RedisClusterException there ("Redis Cluster cannot be
    # connected"); is_outage() keeps only that message of it.
    unreachable = getattr(errors, "RedisClusterUnreachableError", errors.RedisClusterException)
    return (errors.ConnectionError, errors.TimeoutError, errors.ClusterError,
            errors.SlotNotCoveredError, errors.ReadOnlyError, errors.TryAgainError, unreachable)


def is_outage(exc: BaseException) -> bool:
    # Wrong credentials are ConnectionError subclasses in redis-py, but a configuration
    # error, not an outage: fail-soft must not turn them into a silent permanent miss.
    import redis.exceptions as errors

    if type(exc) is errors.RedisClusterException:  # redis-py < 8.2: also configuration errors
        return str(exc).startswith("Redis Cluster cannot be connected")
    return not isinstance(exc, (errors.AuthenticationError, errors.AuthorizationError,
                                errors.ExternalAuthProviderError))


def public_url(url: str) -> str:
    """``url`` without its password, for logs, breaker names and cachecheck."""
    return mask_secrets(url)
