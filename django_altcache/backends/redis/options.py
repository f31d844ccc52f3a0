"""RedisCache's options and LOCATION, declared once: the backend parses them into a ``Topology``,
the system checks judge them, from the same declarations.

Topologies:
- servers: LOCATION is one URL or several (list, or a string split on ';'/','), the
  first is the leader (writes), the others read replicas (as Django).
- Sentinel: ``sentinel://[user:password@]host:port,host:port/service_name?db=0``
  (``redis+sentinel://`` and ``valkey+sentinel://`` are the same); the master is
  discovered through the sentinels and rediscovered after a failover.
- Valkey: ``valkey://`` and ``valkeys://`` are ``redis://`` and ``rediss://``.
- Cluster: ``OPTIONS={"cluster": True}``; LOCATION lists startup nodes.

Every option not declared here is a redis-py keyword, handed to its connection pool (as
Django does); the checks read what redis-py accepts from its signatures.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import django
from django.core.cache.backends.base import default_key_func

from django_altcache.conf import CacheConfigError, Option, Parsed, Spec, split_location
from django_altcache.conf.common import COMMON, RELATIONS, culling_elsewhere
from django_altcache.conf.families import Backend
from django_altcache.conf.local import REDIS_LOCAL_CACHE
from django_altcache.conf.findings import CONFLICT, ERROR, UNBOUNDED, WARNING, Finding
from django_altcache.conf.library import Accepted, import_class, init_keywords, library_options
from django_altcache.conf.location import scheme_of
from django_altcache.conf.values import (
    Rule,
    boolean,
    importable,
    int_like,
    mapping,
    positive_int_or_none,
    seconds,
    seconds_or_none,
)

from . import djangoredis

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
# Valkey's spellings of redis-py's schemes (Valkey speaks the same protocol): redis-py's
# from_url knows only its own, so they are rewritten before it sees them.
REDIS_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}

# -- our options (the rest are redis-py's) --------------------------------------------------
CLUSTER = Option("cluster", boolean, False, group="Redis",
                 doc="LOCATION lists Redis Cluster startup nodes (redis-py's RedisCluster).")
CLEAR_PREFIX_ONLY = Option("clear_prefix_only", boolean, False, group="Redis",
                           doc="clear() deletes only this cache's KEY_PREFIX (SCAN + DEL) instead of FLUSHDB.")
SERIALIZER = Option("serializer", importable, None, django=True, group="Redis",
                    doc="Django's: a serializer class, instance or dotted path (dumps/loads).")
POOL_CLASS = Option("pool_class", importable, None, django=True, group="Redis",
                    doc="Django's: the redis-py connection pool class (dotted path or class).")
PARSER_CLASS = Option("parser_class", importable, None, django=True, group="Redis",
                      doc="Django's: the redis-py parser class (dotted path or class).")
ASYNC_POOL_CLASS = Option("async_pool_class", importable, None, group="Redis",
                          doc="The redis.asyncio pool class (default: a blocking pool of 64 connections).")
ASYNC_OPTIONS: Option[dict[str, Any]] = Option("async_options", mapping, {}, group="Redis",
                       doc="redis.asyncio keywords that override OPTIONS for the async pools only.")
SENTINEL_KWARGS: Option[dict[str, Any]] = Option("sentinel_kwargs", mapping, {}, group="Redis",
                         doc="Keywords for the connections to the sentinels themselves (e.g. their password).")
REDIS_OPTIONS = (CLUSTER, CLEAR_PREFIX_ONLY, SERIALIZER, POOL_CLASS, PARSER_CLASS, ASYNC_POOL_CLASS,
                 ASYNC_OPTIONS, SENTINEL_KWARGS, REDIS_LOCAL_CACHE)

# Value rules for well-known redis-py keywords: only what redis-py certainly fails on.
REDIS_VALUES: dict[str, Rule] = {
    "socket_timeout": seconds_or_none,
    "socket_connect_timeout": seconds_or_none,
    "health_check_interval": seconds,
    "max_connections": positive_int_or_none,
    "db": int_like,  # sent as text in SELECT: "10" works (Django's own docs use it)
}
REDIS_TIMEOUTS = ("socket_connect_timeout", "socket_timeout")


def _must_be_false(value: Any) -> None:
    boolean(value)
    if value:
        raise ValueError("must stay False: cached values are pickled bytes, which a decoding "
                         "connection turns into str (or fails to)")


REDIS_VALUES["decode_responses"] = _must_be_false


# -- LOCATION --------------------------------------------------------------------------------
def is_sentinel(location: Any) -> bool:
    return isinstance(location, str) and scheme_of(location) in SENTINEL_SCHEMES


def servers_of(location: Any) -> list[str]:
    """``_servers`` as Django keeps it; a Sentinel URL is one item (its commas separate sentinels)."""
    if isinstance(location, str):
        return list(_servers_of_string(location))  # a copy: the caller may slice it
    return split_location(location)


@functools.lru_cache(maxsize=256)
def _servers_of_string(location: str) -> tuple[str, ...]:
    # Backends are built per thread and per ASGI task, from the same few LOCATION strings.
    if is_sentinel(location):
        return (location.strip(),)
    return tuple(split_location(location))


def _check_url(url: str) -> str:
    """``url`` as redis-py takes it (``valkey[s]://`` becomes ``redis[s]://``)."""
    scheme = scheme_of(url)
    if scheme not in SERVER_SCHEMES:
        raise CacheConfigError(f"{url!r} must start with redis://, rediss://, valkey://, valkeys:// or unix://",
                               ("LOCATION",))
    if scheme in REDIS_SCHEMES:
        return f"{REDIS_SCHEMES[scheme]}:{url.strip().split(':', 1)[1]}"
    return url


def _parse_sentinel(url: str, options: dict[str, Any]) -> tuple[list[tuple[str, int]], str]:
    """``sentinel://user:pw@h1:p1,h2:p2/service?db=N`` -> (sentinels, service); db and credentials into options."""
    parts = urlsplit(url.strip())
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":")
        try:
            sentinels.append((host or item, int(port) if host else 26379))
        except ValueError:
            raise CacheConfigError(f"bad sentinel address {item!r} in {url!r}", ("LOCATION",)) from None
    service = unquote(parts.path.strip("/"))
    if not sentinels or not service:
        raise CacheConfigError(f"a Sentinel LOCATION is 'sentinel://host:port[,host:port...]/service_name[?db=N]', "
                               f"got {url!r}", ("LOCATION",))
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "db" in query and "db" not in options:
        try:
            options["db"] = int(query["db"])
        except ValueError:
            raise CacheConfigError(f"db must be an integer in {url!r}", ("LOCATION",)) from None
    if userinfo:
        user, has_pw, password = userinfo.partition(":")
        if has_pw:
            options.setdefault("password", unquote(password))
            if user:
                options.setdefault("username", unquote(user))
        else:
            options.setdefault("password", unquote(user))
    return sentinels, service


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
    # The sync client class wrapping each pool, and its keywords (django-redis's REDIS_CLIENT_*).
    client_class: Any = None
    client_kwargs: dict[str, Any] = field(default_factory=dict)


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


_topologies: dict[tuple[Any, int], tuple[Parsed, Topology]] = {}
_TOPOLOGY_MEMO_SIZE = 64


def topology_of(location: Any, parsed: Parsed) -> Topology:
    """Where the servers are and how to connect to them; raises CacheConfigError naming the setting.

    Memoized per (LOCATION, parsed OPTIONS): Django builds a backend instance per thread and
    per asyncio task, and this would otherwise cost more than a cache call each time. The
    topology is never changed after it is made.
    """
    key = (location if isinstance(location, str) else repr(location), id(parsed))
    found = _topologies.get(key)
    if found is not None and found[0] is parsed:
        return found[1]
    topology = _topology_of(location, parsed)
    if len(_topologies) >= _TOPOLOGY_MEMO_SIZE:
        _topologies.clear()
    _topologies[key] = (parsed, topology)
    return topology


def _topology_of(location: Any, parsed: Parsed) -> Topology:
    import redis
    import redis.asyncio

    options = dict(parsed.rest)  # redis-py's keywords
    # django-redis's spellings of the same (SOCKET_TIMEOUT, CONNECTION_POOL_KWARGS, SENTINELS...).
    extra = djangoredis.resolve(location, parsed, options, parsed[CLUSTER], is_sentinel(location))
    options.update(extra.keywords)
    kind, service = "servers", ""
    sentinels: list[tuple[str, int]] = []
    servers: list[str] = []
    if extra.sentinel is not None:
        kind, sentinels, service = "sentinel", extra.sentinel.sentinels, extra.sentinel.service
        options.update(extra.sentinel.options)  # what the URL says wins, as in redis-py's from_url
    elif is_sentinel(location):
        kind = "sentinel"
        sentinels, service = _parse_sentinel(location, options)
    else:
        servers = [_check_url(url) for url in split_location(location)]
        if not servers:
            raise CacheConfigError("must name at least one Redis server", ("LOCATION",))
        kind = "cluster" if parsed[CLUSTER] else "servers"

    common = {
        "socket_connect_timeout": DEFAULT_SOCKET_CONNECT_TIMEOUT,
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
        **_driver_info(),  # the cached dict is copied into this one, never mutated
        **(_no_maint_notifications() if kind != "cluster" else {}),
        **options,
    }
    parser = parsed[PARSER_CLASS] or extra.parser_class or redis.connection.DefaultParser
    sync_options = {"parser_class": parser, **common}
    if extra.sentinel_pool_class is not None:  # sync only: redis.asyncio has its own Sentinel pools
        sync_options["connection_pool_class"] = extra.sentinel_pool_class
    async_options = {**common, **parsed[ASYNC_OPTIONS]}
    async_pool_class = parsed[ASYNC_POOL_CLASS]
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
        pool_class=parsed[POOL_CLASS] or extra.pool_class or redis.ConnectionPool, pool_options=sync_options,
        async_pool_class=async_pool_class or redis.asyncio.ConnectionPool,
        async_pool_options=async_options,
        service_name=service, sentinels=sentinels,
        sentinel_kwargs=dict(extra.sentinel_kwargs if extra.sentinel_kwargs is not None else parsed[SENTINEL_KWARGS]),
        client_class=extra.client_class, client_kwargs=extra.client_kwargs,
    )


# -- the checks' view of redis-py ----------------------------------------------------------------
def _kind(location: Any, options: Mapping[str, Any], ours: bool) -> str:
    if ours and (is_sentinel(location) or options.get("SENTINELS")):
        return "sentinel"
    if ours and options.get("cluster") is True:
        return "cluster"
    return "servers"


def _schemes(location: Any) -> list[str]:
    try:
        urls = split_location(location)
    except CacheConfigError:
        return []
    return [REDIS_SCHEMES.get(scheme_of(url), scheme_of(url)) for url in urls]


def redis_accepted(location: Any, options: Mapping[str, Any], ours: bool,
                   asynchronous: bool = False) -> tuple[Accepted, dict[str, str]]:
    """What redis-py accepts for this LOCATION and OPTIONS, and, for keywords it accepts
    only with another kind of LOCATION, where they would belong."""
    import redis
    import redis.asyncio
    import redis.asyncio.connection
    import redis.asyncio.sentinel
    import redis.cluster
    import redis.connection
    import redis.sentinel

    lib: Any = redis.asyncio if asynchronous else redis
    conn_module: Any = redis.asyncio.connection if asynchronous else redis.connection
    sentinel_module: Any = redis.asyncio.sentinel if asynchronous else redis.sentinel
    kind = _kind(location, options, ours)
    label = "redis.asyncio" if asynchronous else "redis-py"

    if kind == "cluster":
        import redis.asyncio.cluster

        cluster_class: Any = redis.asyncio.cluster.RedisCluster if asynchronous else redis.cluster.RedisCluster
        names, closed = init_keywords(cluster_class)
        accepted: dict[str, inspect.Parameter | None] = dict(names)
        if not closed:
            # Sync RedisCluster keeps only the keywords in this tuple, dropping others silently.
            for name in getattr(redis.cluster, "REDIS_ALLOWED_KEYS", ()):
                accepted.setdefault(name, None)
        return Accepted(accepted, closed, f"{label}'s RedisCluster"), {}

    pool_option = options.get("async_pool_class" if asynchronous else "pool_class")
    conn_option = options.get("connection_class")
    pool = import_class(pool_option) if pool_option is not None else None
    custom_conn = import_class(conn_option) if conn_option is not None else None
    if (pool_option is not None and pool is None) or (conn_option is not None and custom_conn is None):
        return Accepted({}, False, label, complete=False), {}  # cannot import it: cannot tell
    if kind == "sentinel":
        pool = pool or sentinel_module.SentinelConnectionPool
        ssl = options.get("ssl") is True and hasattr(sentinel_module, "SentinelManagedSSLConnection")
        conns = [sentinel_module.SentinelManagedSSLConnection if ssl else sentinel_module.SentinelManagedConnection]
    else:
        # Our async pools for plain servers are blocking ones (topology_of).
        pool = pool or (lib.BlockingConnectionPool if asynchronous and ours else lib.ConnectionPool)
        by_scheme = {"rediss": conn_module.SSLConnection, "unix": conn_module.UnixDomainSocketConnection}
        schemes = _schemes(location) or ["redis"]
        conns = [by_scheme.get(scheme, conn_module.Connection) for scheme in dict.fromkeys(schemes)]
    if custom_conn is not None:
        conns = [custom_conn]

    accepted = dict(init_keywords(pool)[0])
    # The pool hands its **kwargs to the connection class; every server's pool gets the
    # same options, so a keyword must suit the connection class of each LOCATION.
    per_class = [init_keywords(conn) for conn in conns]
    closed = all(conn_closed for _, conn_closed in per_class)
    common = set.intersection(*(set(names) for names, _ in per_class))
    for names, _ in per_class:
        for name in sorted(common):
            accepted.setdefault(name, names[name])
    if kind == "sentinel":
        # SentinelConnectionPool pops these from **kwargs, invisible to its signature.
        for name in ("ssl", "is_master", "check_connection"):
            accepted.setdefault(name, None)

    elsewhere: dict[str, str] = {}
    if custom_conn is None and kind == "servers":
        for cls, what in ((conn_module.SSLConnection, "rediss:// LOCATIONs"),
                          (conn_module.UnixDomainSocketConnection, "unix:// LOCATIONs"),
                          (conn_module.Connection, "redis:// LOCATIONs")):
            for name in init_keywords(cls)[0]:
                if name not in accepted:
                    elsewhere.setdefault(name, f"{label} takes it only for {what} ({cls.__name__})")
        if "ssl" not in accepted:
            elsewhere["ssl"] = "TLS is chosen by the LOCATION's scheme: write rediss:// instead"
    return Accepted(accepted, closed, label), elsewhere


def check_redis_keywords(rest: Mapping[str, Any], params: Mapping[str, Any], backend: Backend,
                         declared: Iterable[str]) -> list[Finding]:
    """The options handed to redis-py (sync and async pools): unknown names, bad values."""
    location = params.get("LOCATION")
    options = params.get("OPTIONS") or {}
    try:
        accepted, elsewhere = redis_accepted(location, options, backend.ours)
        # Our async pools get the same top-level OPTIONS (topology_of).
        async_accepted, async_elsewhere = (redis_accepted(location, options, True, asynchronous=True)
                                           if backend.ours else (Accepted({}, False, "redis.asyncio", complete=False), {}))
    except ImportError:  # redis-py missing: the backend says so itself
        accepted, elsewhere = Accepted({}, False, "redis-py", complete=False), {}
        async_accepted, async_elsewhere = Accepted({}, False, "redis.asyncio", complete=False), {}
    async_checked = async_accepted.complete and async_accepted.closed
    if backend.ours:
        elsewhere = {**{name: "only redis.asyncio takes it: put it in 'async_options'"
                        for name in async_accepted.names if name not in accepted.names}, **elsewhere}
        if async_checked and not accepted.closed:
            # A keyword sync RedisCluster drops silently still breaks the async one.
            accepted = Accepted(accepted.names, True, accepted.library, accepted.complete)
    findings = library_options(rest, backend, accepted, REDIS_VALUES, elsewhere, declared=declared)
    if backend.ours and async_checked and accepted.complete:
        for key in rest:
            if key in accepted.names and key not in async_accepted.names:
                findings.append(Finding(WARNING, CONFLICT, (key,),
                                        "redis-py takes it but redis.asyncio does not: the async API "
                                        "(aget, aset, ...) fails with TypeError",
                                        "Async pools get the same OPTIONS; drop it if the site uses the async API."))
    async_options = options.get("async_options")
    if backend.ours and isinstance(async_options, Mapping) and async_options:
        findings += library_options(async_options, backend, async_accepted, REDIS_VALUES, async_elsewhere,
                                    prefix=("async_options",))
    for key in REDIS_TIMEOUTS:
        if key in rest and rest[key] is None:
            findings.append(Finding(WARNING, UNBOUNDED, (key,),
                                    "None turns the timeout off: a stalled Redis server would block requests "
                                    "indefinitely",
                                    "Remove it to use the finite default, or set a number of seconds."))
    return findings


def check_topology(options: Mapping[str, Any], params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """Options that contradict each other or the LOCATION (ours only)."""
    if not backend.ours:
        return []
    location = params.get("LOCATION")
    findings: list[Finding] = []
    kind = _kind(location, options, True)
    if options.get("cluster") is True and is_sentinel(location):
        findings.append(Finding(ERROR, CONFLICT, ("cluster",),
                                "a sentinel:// LOCATION is not a cluster: one of the two is wrong",
                                "Sentinel: remove 'cluster'. Cluster: list the startup nodes as redis:// URLs."))
    if kind == "cluster" and options.get("db") not in (None, 0, "0"):
        findings.append(Finding(WARNING, CONFLICT, ("db",),
                                "has no effect with cluster=True: Redis Cluster has only database 0"))
    if options.get("sentinel_kwargs") and kind != "sentinel":
        findings.append(Finding(WARNING, CONFLICT, ("sentinel_kwargs",),
                                "has no effect: LOCATION is not a sentinel:// URL"))
    if options.get("async_pool_class") is not None and kind == "cluster":
        findings.append(Finding(WARNING, CONFLICT, ("async_pool_class",),
                                "has no effect with cluster=True: RedisCluster makes its own pools"))
    key_function = params.get("KEY_FUNCTION")
    if options.get("clear_prefix_only") is True and key_function not in (None, default_key_func) and \
            key_function != "django.core.cache.backends.base.default_key_func":
        findings.append(Finding(ERROR, CONFLICT, ("clear_prefix_only",),
                                "needs the default KEY_FUNCTION: it deletes the keys matching "
                                "'<KEY_PREFIX>:*', and clear() raises with a custom one",
                                "Remove KEY_FUNCTION or clear_prefix_only."))
    return findings


SPEC = Spec("redis", [*REDIS_OPTIONS, *djangoredis.OPTIONS, *COMMON], passthrough=True,
            undeclared=check_redis_keywords,
            relations=(*RELATIONS, culling_elsewhere, check_topology, *djangoredis.RELATIONS))
