"""LOCATION/OPTIONS -> where the servers are, and the process-wide pool registry.

Django builds a connection pool per backend instance, and instances are per thread
and per asyncio task: under ASGI that is a pool (and its connections) per request.
Here a pool is created once per process for each distinct set of connection
parameters and shared by every instance and thread (redis-py pools are thread-safe
and reset themselves after a fork). Async pools cannot cross event loops, so they
are kept per loop and dropped when their loop is closed.

Topologies:
- servers: LOCATION is one URL or several (list, or a string split on ';'/','), the
  first is the leader (writes), the others read replicas (as Django).
- Sentinel: ``sentinel://[user:password@]host:port,host:port/service_name?db=0``
  (``redis+sentinel://`` and ``valkey+sentinel://`` are the same); the master is
  discovered through the sentinels and rediscovered after a failover.
- Valkey: ``valkey://`` and ``valkeys://`` are ``redis://`` and ``rediss://`` (Valkey
  speaks the same protocol); they are rewritten before redis-py sees them.
- Cluster: ``OPTIONS={"cluster": True}``; LOCATION lists startup nodes.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import django

from django_altcache.options import CacheConfigError, import_option, split_location

# A cache outage must never hang a request: redis-py's pool defaults connect and
# read without a timeout. Both are overridable in OPTIONS.
DEFAULT_SOCKET_CONNECT_TIMEOUT = 2.0
DEFAULT_SOCKET_TIMEOUT = 5.0
# Async tasks are not bounded by a thread count: 200 concurrent tasks would open
# 200 connections. Async pools block (up to the timeout) past this many instead.
DEFAULT_ASYNC_MAX_CONNECTIONS = 64
DEFAULT_ASYNC_POOL_TIMEOUT = 5.0

SENTINEL_SCHEMES = ("sentinel", "redis+sentinel", "valkey+sentinel")
SERVER_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
# Valkey's spellings of redis-py's schemes: redis-py's from_url knows only its own.
REDIS_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}


@dataclass
class Topology:
    kind: str  # "servers" | "sentinel" | "cluster"
    servers: list[str]
    pool_class: Any
    pool_options: dict[str, Any]
    async_pool_class: Any
    async_pool_options: dict[str, Any]
    service_name: str = ""
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=None)
def _driver_info() -> dict[str, Any]:
    # The same client name Django's backend sends (CLIENT SETINFO), so server-side
    # tooling and Django's own test see a Django client. Made once: the object keys
    # the pool registry by identity (it is unhashable).
    import redis

    version = django.get_version()
    if hasattr(redis, "DriverInfo"):
        return {"driver_info": redis.DriverInfo().add_upstream_driver("django", version)}
    return {"lib_name": f"redis-py(django_v{version})"}


@functools.lru_cache(maxsize=None)
def _no_maint_notifications() -> dict[str, Any]:
    # redis-py 8 skips its stale-connection check at pool checkout while
    # maintenance notifications are "auto" (the default), so after a server restart
    # every pooled asyncio connection fails once. They are a RESP3 feature of managed
    # Redis; turned off unless OPTIONS set them. Made once: it keys the registry.
    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # redis-py < 7
        return {}
    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


def _check_url(url: str, location: Any) -> str:
    """``url`` as redis-py takes it (``valkey[s]://`` becomes ``redis[s]://``)."""
    scheme = urlsplit(url).scheme  # lower-cased, as redis-py compares it
    if scheme not in SERVER_SCHEMES:
        raise CacheConfigError(
            f"CACHES[...]['LOCATION']: {url!r} must start with redis://, rediss://, valkey://, valkeys:// "
            f"or unix:// (LOCATION={location!r})"
        )
    if scheme in REDIS_SCHEMES:
        return f"{REDIS_SCHEMES[scheme]}:{url.split(':', 1)[1]}"
    return url


def _parse_sentinel(url: str, options: dict[str, Any], location: Any) -> tuple[str, list[tuple[str, int]], str]:
    """``sentinel://user:pw@h1:p1,h2:p2/service?db=N`` -> (redis url, sentinels, service)."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":")
        try:
            sentinels.append((host or item, int(port) if host else 26379))
        except ValueError:
            raise CacheConfigError(
                f"CACHES[...]['LOCATION']: bad sentinel address {item!r} in {location!r}"
            ) from None
    service = unquote(parts.path.strip("/"))
    if not sentinels or not service:
        raise CacheConfigError(
            "CACHES[...]['LOCATION']: a Sentinel LOCATION is "
            f"'sentinel://host:port[,host:port...]/service_name[?db=N]', got {location!r}"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "db" in query and "db" not in options:
        try:
            options["db"] = int(query["db"])
        except ValueError:
            raise CacheConfigError(f"CACHES[...]['LOCATION']: db must be an integer in {location!r}") from None
    if userinfo:
        user, has_pw, password = userinfo.partition(":")
        if has_pw:
            options.setdefault("password", unquote(password))
            if user:
                options.setdefault("username", unquote(user))
        else:
            options.setdefault("password", unquote(user))
    return url, sentinels, service


def parse(location: Any, raw_options: dict[str, Any]) -> Topology:
    """Turn a CACHES entry into a Topology; raise CacheConfigError naming the setting."""
    import redis
    import redis.asyncio

    options = dict(raw_options)
    cluster = bool(options.pop("cluster", False))
    options.pop("serializer", None)
    options.pop("clear_prefix_only", None)
    pool_class = import_option(options.pop("pool_class", None), "pool_class", location)
    parser_class = import_option(options.pop("parser_class", None), "parser_class", location)
    async_pool_class = import_option(options.pop("async_pool_class", None), "async_pool_class", location)
    async_overrides = options.pop("async_options", None) or {}
    sentinel_kwargs = options.pop("sentinel_kwargs", None) or {}
    if not isinstance(async_overrides, dict):
        raise CacheConfigError(f"CACHES[...]['OPTIONS']['async_options'] must be a dict (LOCATION={location!r})")

    kind, service = "servers", ""
    sentinels: list[tuple[str, int]] = []
    if isinstance(location, str) and urlsplit(location.strip()).scheme in SENTINEL_SCHEMES:
        kind = "sentinel"
        _, sentinels, service = _parse_sentinel(location.strip(), options, location)
        servers: list[str] = []
    else:
        servers = [_check_url(url, location) for url in split_location(location)]
        if not servers:
            raise CacheConfigError("CACHES[...]['LOCATION'] must name at least one Redis server")
        kind = "cluster" if cluster else "servers"

    common = {
        "socket_connect_timeout": DEFAULT_SOCKET_CONNECT_TIMEOUT,
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
        **_driver_info(),  # the cached dict is copied into this one, never mutated
        **(_no_maint_notifications() if kind != "cluster" else {}),
        **options,
    }
    sync_options = {"parser_class": parser_class or redis.connection.DefaultParser, **common}
    async_options = {**common, **async_overrides}
    if async_pool_class is None and kind == "servers":
        async_pool_class = redis.asyncio.BlockingConnectionPool
        async_options.setdefault("max_connections", DEFAULT_ASYNC_MAX_CONNECTIONS)
        async_options.setdefault("timeout", DEFAULT_ASYNC_POOL_TIMEOUT)
    if kind == "cluster":
        # RedisCluster manages its own per-node pools; these do not apply.
        sync_options.pop("parser_class", None)
        for opts in (sync_options, async_options):
            opts.pop("db", None)
    return Topology(
        kind=kind, servers=servers,
        pool_class=pool_class or redis.ConnectionPool, pool_options=sync_options,
        async_pool_class=async_pool_class or redis.asyncio.ConnectionPool,
        async_pool_options=async_options,
        service_name=service, sentinels=sentinels, sentinel_kwargs=dict(sentinel_kwargs),
    )


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

    def loops(self) -> int:
        return len(self._by_loop)


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
    transport._closing = True  # else StreamWriter.__del__ warns "loop is closed"
    conn._writer = conn._reader = None


SYNC = _SyncRegistry()
ASYNC = _LoopRegistry()


# -- what counts as an outage (the resilience layer's view of redis-py) -------------------
def outage_errors() -> tuple[type[BaseException], ...]:
    """redis-py errors that mean "the server cannot serve now", for fail-soft and the breaker.

    ReadOnlyError is a write reaching a leader that was just demoted (a failover in
    progress); ClusterError/SlotNotCoveredError a cluster without a node for the slot.
    """
    import redis.exceptions as errors

    return (errors.ConnectionError, errors.TimeoutError, errors.ClusterError,
            errors.SlotNotCoveredError, errors.ReadOnlyError, errors.TryAgainError)


def is_outage(exc: BaseException) -> bool:
    # Wrong credentials are ConnectionError subclasses in redis-py, but a configuration
    # error, not an outage: fail-soft must not turn them into a silent permanent miss.
    import redis.exceptions as errors

    return not isinstance(exc, (errors.AuthenticationError, errors.AuthorizationError,
                                errors.ExternalAuthProviderError))


def public_url(url: str) -> str:
    """``url`` without its password, for logs, breaker names and cachecheck."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    if not has_password and parts.scheme not in SENTINEL_SCHEMES:
        return url  # a user name alone is no secret
    # sentinel://secret@host/... is a password alone (see _parse_sentinel); mask it too.
    masked = f"{user}:***" if has_password else "***"
    return parts._replace(netloc=f"{masked}@{hosts}").geturl()
