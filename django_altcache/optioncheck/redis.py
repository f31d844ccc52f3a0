"""The OPTIONS of the Redis backends: which keywords redis-py takes for a given LOCATION, and our own
redis options and the rules that tie them to each other and to the LOCATION."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.cache.backends.base import default_key_func

from ..options import RESILIENCE_OPTIONS, CacheConfigError, split_location
from .common import culling_elsewhere
from .families import Backend
from .findings import CONFLICT, ERROR, UNBOUNDED, UNKNOWN, WARNING, Finding
from .library import Accepted, import_class, init_keywords, library_options
from .values import (
    Validator,
    boolean,
    mapping,
    non_negative_int,
    positive_int_or_none,
    seconds,
    seconds_or_none,
)


def _must_be_false(value: Any) -> None:
    boolean(value)
    if value:
        raise ValueError("must stay False: cached values are pickled bytes, which a decoding "
                         "connection turns into str (or fails to)")


# Value rules for well-known redis-py keywords, on top of the types their annotations give.
REDIS_VALUES: dict[str, Validator] = {
    "socket_timeout": seconds_or_none,
    "socket_connect_timeout": seconds_or_none,
    "health_check_interval": seconds,
    "max_connections": positive_int_or_none,
    "db": non_negative_int,
    "decode_responses": _must_be_false,
}
REDIS_TIMEOUTS = ("socket_connect_timeout", "socket_timeout")
# Ours, read by RedisCache / connection.parse and never handed to redis-py as such.
OUR_REDIS: dict[str, Validator | None] = {
    "serializer": None, "pool_class": None, "parser_class": None, "async_pool_class": None,
    "async_options": mapping, "sentinel_kwargs": mapping, "cluster": boolean, "clear_prefix_only": boolean,
}
# Django's RedisCacheClient takes these by name; everything else goes to redis-py.
DJANGO_REDIS: dict[str, Validator | None] = {"serializer": None, "pool_class": None, "parser_class": None}
SENTINEL_SCHEMES = ("sentinel", "redis+sentinel", "valkey+sentinel")
# Valkey's spellings of redis-py's schemes (connection.parse rewrites them).
REDIS_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}


def _schemes(location: Any) -> list[str]:
    try:
        urls = split_location(location)
    except CacheConfigError:
        return []
    return [REDIS_SCHEMES.get(urlsplit(url).scheme, urlsplit(url).scheme) for url in urls]


def redis_topology(location: Any, options: Mapping[str, Any], ours: bool) -> str:
    if ours and isinstance(location, str) and urlsplit(location.strip()).scheme in SENTINEL_SCHEMES:
        return "sentinel"
    if ours and options.get("cluster") is True:
        return "cluster"
    return "servers"


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
    kind = redis_topology(location, options, ours)
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
        # Our async pools for plain servers are blocking ones (connection.parse).
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


def check_redis(params: Mapping[str, Any], rest: Mapping[str, Any], backend: Backend) -> list[Finding]:
    location = params.get("LOCATION")
    try:
        accepted, elsewhere = redis_accepted(location, rest, backend.ours)
        # Our async pools get the same top-level OPTIONS (connection.parse).
        async_accepted, async_elsewhere = (redis_accepted(location, rest, True, asynchronous=True) if backend.ours
                                           else (Accepted({}, False, "redis.asyncio", complete=False), {}))
    except ImportError:  # redis-py missing: the backend says so itself
        accepted, elsewhere = Accepted({}, False, "redis-py", complete=False), {}
        async_accepted, async_elsewhere = Accepted({}, False, "redis.asyncio", complete=False), {}
    async_checked = async_accepted.complete and async_accepted.closed
    ours_spec = OUR_REDIS if backend.ours else DJANGO_REDIS
    findings = culling_elsewhere(rest, backend)
    if not backend.ours:
        level = ERROR if backend.exact else WARNING
        for key in [key for key in rest if key in OUR_REDIS and key not in DJANGO_REDIS]:
            findings.append(Finding(level, UNKNOWN, (key,), "a django-altcache option, not one of Django's backend",
                                    "Django's backend passes it to redis-py, which rejects it (TypeError at the "
                                    "first cache call). Use BACKEND 'django_altcache.backends.redis.RedisCache'."))
        rest = {key: value for key, value in rest.items() if key not in OUR_REDIS or key in DJANGO_REDIS}
    else:
        elsewhere = {**{name: "only redis.asyncio takes it: put it in 'async_options'"
                        for name in async_accepted.names if name not in accepted.names}, **elsewhere}
        if async_checked and not accepted.closed:
            # A keyword sync RedisCluster drops silently still breaks the async one.
            accepted = Accepted(accepted.names, True, accepted.library, accepted.complete)
    findings += library_options(rest, backend, ours_spec, accepted, REDIS_VALUES, elsewhere,
                                extra_names=RESILIENCE_OPTIONS if backend.ours else ())
    if backend.ours and async_checked and accepted.complete:
        for key in rest:
            if key in accepted.names and key not in async_accepted.names and key not in ours_spec:
                findings.append(Finding(WARNING, CONFLICT, (key,),
                                        "redis-py takes it but redis.asyncio does not: the async API "
                                        "(aget, aset, ...) fails with TypeError",
                                        "Async pools get the same OPTIONS; drop it if the site uses the async API."))
    for key in REDIS_TIMEOUTS:
        if key in rest and rest[key] is None:
            findings.append(Finding(WARNING, UNBOUNDED, (key,),
                                    "None turns the timeout off: a stalled Redis server would block requests "
                                    "indefinitely",
                                    "Remove it to use the finite default, or set a number of seconds."))
    if not backend.ours:
        return findings

    kind = redis_topology(location, rest, True)
    async_options = rest.get("async_options")
    if isinstance(async_options, Mapping) and async_options:
        findings += library_options(async_options, backend, {}, async_accepted, REDIS_VALUES, async_elsewhere,
                                    prefix=("async_options",))
    if rest.get("cluster") is True and kind == "sentinel":
        findings.append(Finding(ERROR, CONFLICT, ("cluster",),
                                "a sentinel:// LOCATION is not a cluster: one of the two is wrong",
                                "Sentinel: remove 'cluster'. Cluster: list the startup nodes as redis:// URLs."))
    if kind == "cluster" and rest.get("db") not in (None, 0):
        findings.append(Finding(WARNING, CONFLICT, ("db",),
                                "has no effect with cluster=True: Redis Cluster has only database 0"))
    if rest.get("sentinel_kwargs") and kind != "sentinel":
        findings.append(Finding(WARNING, CONFLICT, ("sentinel_kwargs",),
                                "has no effect: LOCATION is not a sentinel:// URL"))
    if rest.get("async_pool_class") is not None and kind == "cluster":
        findings.append(Finding(WARNING, CONFLICT, ("async_pool_class",),
                                "has no effect with cluster=True: RedisCluster makes its own pools"))
    key_function = params.get("KEY_FUNCTION")
    if rest.get("clear_prefix_only") is True and key_function not in (None, default_key_func) and \
            key_function != "django.core.cache.backends.base.default_key_func":
        findings.append(Finding(ERROR, CONFLICT, ("clear_prefix_only",),
                                "needs the default KEY_FUNCTION: it deletes the keys matching "
                                "'<KEY_PREFIX>:*', and clear() raises with a custom one",
                                "Remove KEY_FUNCTION or clear_prefix_only."))
    return findings
