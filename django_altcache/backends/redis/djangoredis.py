"""django-redis's settings, understood by ``RedisCache``: its OPTIONS and its global settings.

A django-redis site switches by changing ``BACKEND`` only. Each OPTIONS key django-redis reads
is declared here once, as an ``Option`` of the Redis spec, so the system checks accept, translate
or refuse it by name; ``translate`` turns the accepted ones into the backend's own terms (redis-py
keywords, the pool and client classes, a Sentinel topology). django-redis's global settings
(``settings.DJANGO_REDIS_*``) are read by ``global_settings()``.

Where django-redis's meaning differs from ours, its option keeps django-redis's meaning
(docs/migration.md lists each one):

- ``SOCKET_TIMEOUT``/``SOCKET_CONNECT_TIMEOUT`` of ``0`` or ``None`` turn the timeout off (django-redis
  then passes nothing to redis-py, whose default is no timeout); absent, our finite defaults apply.
- ``DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True`` logs *every* error fail-soft ignored, with its
  traceback, on the logger ``DJANGO_REDIS_LOGGER`` (default ``django_redis.cache``); ``False``
  logs none. Our ``LOG_IGNORED_EXCEPTIONS`` option (one record per 10 s) wins when both are given.
- ``CLOSE_CONNECTION``/``DJANGO_REDIS_CLOSE_CONNECTION``: ``close()`` (Django calls it at the end of
  every request) drops the pool's idle connections. Without it ``close()`` keeps them, as Django's.
- ``DJANGO_REDIS_SCAN_ITERSIZE``: the SCAN ``COUNT`` of ``delete_pattern`` (django-redis), and here
  also of ``iter_keys`` and ``keys`` (django-redis: the server's default, 10).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from django_altcache.conf import CacheConfigError, Option, Parsed, Spec, split_location
from django_altcache.conf.families import Backend
from django_altcache.conf.findings import CONFLICT, ERROR, UNBOUNDED, VALUE, WARNING, Finding
from django_altcache.conf.location import scheme_of
from django_altcache.conf.values import boolean, importable, mapping

GROUP = "django-redis"

# django-redis's clients and connection factories, by every path they are importable from.
DEFAULT_CLIENT = "django_redis.client.DefaultClient"
SENTINEL_CLIENT = "django_redis.client.SentinelClient"
_CLIENTS = {
    DEFAULT_CLIENT: DEFAULT_CLIENT, "django_redis.client.default.DefaultClient": DEFAULT_CLIENT,
    SENTINEL_CLIENT: SENTINEL_CLIENT, "django_redis.client.sentinel.SentinelClient": SENTINEL_CLIENT,
}
_HERD = ("django_redis.client.HerdClient", "django_redis.client.herd.HerdClient")
_SHARD = ("django_redis.client.ShardClient", "django_redis.client.sharded.ShardClient")
DEFAULT_FACTORY = "django_redis.pool.ConnectionFactory"
SENTINEL_FACTORY = "django_redis.pool.SentinelConnectionFactory"
_FACTORIES = (DEFAULT_FACTORY, SENTINEL_FACTORY)
DEFAULT_LOGGER = "django_redis.cache"  # django-redis's default: the module's __name__
SENTINEL_POOL = "redis.sentinel.SentinelConnectionPool"


def _dotted(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return None


# -- value rules (messages never repeat the option's name: the caller adds the path) ----------
def client_class(value: Any) -> str:
    """django-redis's DefaultClient or SentinelClient (as their dotted path); the others refused."""
    path = _dotted(value)
    if path in _CLIENTS:
        return _CLIENTS[path]
    if path in _HERD:
        raise ValueError("django-redis's HerdClient is not available here: it stores every value wrapped in a "
                         "herd marker tuple, which this backend does not read. Remove it; for stampede "
                         "protection use OPTIONS['STAMPEDE'] (single-flight get_or_set)")
    if path in _SHARD:
        raise ValueError("django-redis's ShardClient (client-side sharding) is not available here. Remove it "
                         "and use Redis Cluster (OPTIONS={'cluster': True}, LOCATION listing its nodes); the "
                         "keys are placed differently, so the cache starts cold")
    raise ValueError(f"{value!r} is not one of the django-redis clients this backend stands in for "
                     f"({DEFAULT_CLIENT}, {SENTINEL_CLIENT}); a custom client's code does not run here. "
                     "Remove it, or subclass django_altcache.backends.redis.RedisCache")


def connection_factory(value: Any) -> str | None:
    """django-redis's ConnectionFactory or SentinelConnectionFactory; a custom factory is refused."""
    if value is None:
        return None
    path = _dotted(value)
    if path in _FACTORIES:
        return path
    raise ValueError(f"{value!r}: a custom django-redis connection factory does not run here (this backend "
                     "builds its own pools). Use CONNECTION_POOL_CLASS / CONNECTION_POOL_KWARGS for the pool, "
                     "REDIS_CLIENT_CLASS / REDIS_CLIENT_KWARGS for the client, or subclass "
                     "django_altcache.backends.redis.RedisCache")


def sentinels(value: Any) -> list[tuple[str, int]] | None:
    """A list of (host, port) pairs, as redis-py's Sentinel takes them."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of (host, port) pairs, got {value!r}")
    found: list[tuple[str, int]] = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str)
                or isinstance(item[1], bool) or not isinstance(item[1], int)):
            raise ValueError(f"expected a list of (host, port) pairs, got the item {item!r}")
        found.append((item[0], item[1]))
    if not found:
        raise ValueError("expected at least one (host, port) pair")
    return found


def optional_mapping(value: Any) -> dict[Any, Any] | None:
    return None if value is None else mapping(value)


def socket_seconds(value: Any) -> float | None:
    """django-redis's rule: a number (int or float); 0 and None turn the timeout off."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number of seconds (int or float), got {value!r}")
    if value < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return float(value) if value else None


def optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def pool_class(value: Any) -> Any:
    cls = importable(value)
    if cls is None:
        return None
    import redis

    if not (isinstance(cls, type) and issubclass(cls, redis.ConnectionPool)):
        raise TypeError(f"expected a redis-py ConnectionPool subclass, got {value!r}")
    return cls


def redis_client_class(value: Any) -> Any:
    cls = importable(value)
    if cls is None:
        return None
    import redis

    if not (isinstance(cls, type) and issubclass(cls, redis.Redis)):
        raise TypeError(f"expected redis.Redis or a subclass (it wraps this backend's pools), got {value!r}; "
                        "for Redis Cluster use OPTIONS={'cluster': True}")
    return cls


def empty_client_kwargs(value: Any) -> dict[Any, Any]:
    kwargs = mapping(value)
    if kwargs:
        raise ValueError("django-redis's clients take no keyword arguments: keywords for redis-py's client go in "
                         "REDIS_CLIENT_KWARGS, those for its connection pool in CONNECTION_POOL_KWARGS")
    return kwargs


def replica_read_only(value: Any) -> bool:
    if not boolean(value):
        raise ValueError("False is not available here: writes go to the first server only (django-redis retries "
                         "them on the others). For a leader that fails over, use Sentinel (SENTINELS)")
    return True


# -- the options -------------------------------------------------------------------------
CLIENT_CLASS = Option(
    "CLIENT_CLASS", client_class, DEFAULT_CLIENT, group=GROUP,
    doc="django-redis's client: DefaultClient (this backend itself) or SentinelClient (with SENTINELS). HerdClient "
        "and ShardClient are refused, naming what to use instead (STAMPEDE, Redis Cluster).")
CLIENT_KWARGS: Option[dict[Any, Any]] = Option(
    "CLIENT_KWARGS", empty_client_kwargs, {}, group=GROUP,
    doc="Accepted empty only: django-redis's clients take no keywords (see REDIS_CLIENT_KWARGS, "
        "CONNECTION_POOL_KWARGS).")
SENTINELS: Option[list[tuple[str, int]] | None] = Option(
    "SENTINELS", sentinels, None, group=GROUP,
    doc="django-redis's Sentinel: [(host, port), ...], with LOCATION 'redis://service_name/db'; the master "
        "is found through the sentinels (same as a sentinel:// LOCATION).")
SENTINEL_KWARGS_DR: Option[dict[Any, Any] | None] = Option(
    "SENTINEL_KWARGS", optional_mapping, None, group=GROUP,
    doc="django-redis's spelling of sentinel_kwargs: keywords for the connections to the sentinels.")
CONNECTION_FACTORY: Option[str | None] = Option(
    "CONNECTION_FACTORY", connection_factory, None, group=GROUP,
    doc="django-redis's ConnectionFactory or SentinelConnectionFactory (with SENTINELS); a custom factory is "
        "refused. Default: settings.DJANGO_REDIS_CONNECTION_FACTORY.")
CONNECTION_POOL_CLASS = Option(
    "CONNECTION_POOL_CLASS", pool_class, None, group=GROUP,
    doc="django-redis's spelling of pool_class (with SENTINELS: a SentinelConnectionPool subclass).")
CONNECTION_POOL_KWARGS: Option[dict[Any, Any]] = Option(
    "CONNECTION_POOL_KWARGS", mapping, {}, group=GROUP,
    doc="redis-py connection pool keywords, as if written directly in OPTIONS (checked the same way).")
REDIS_CLIENT_CLASS = Option(
    "REDIS_CLIENT_CLASS", redis_client_class, None, group=GROUP,
    doc="The redis.Redis subclass wrapping the sync pools (the async API uses redis.asyncio.Redis).")
REDIS_CLIENT_KWARGS: Option[dict[Any, Any]] = Option(
    "REDIS_CLIENT_KWARGS", mapping, {}, group=GROUP,
    doc="Keywords for REDIS_CLIENT_CLASS (besides connection_pool).")
PARSER_CLASS_DR = Option(
    "PARSER_CLASS", importable, None, group=GROUP,
    doc="django-redis's spelling of parser_class.")
SOCKET_TIMEOUT = Option(
    "SOCKET_TIMEOUT", socket_seconds, None, bound=True, group=GROUP,
    doc="django-redis's spelling of socket_timeout; 0 or None turn the timeout off, as in django-redis.")
SOCKET_CONNECT_TIMEOUT = Option(
    "SOCKET_CONNECT_TIMEOUT", socket_seconds, None, bound=True, group=GROUP,
    doc="django-redis's spelling of socket_connect_timeout; 0 or None turn the timeout off, as in django-redis.")
PASSWORD = Option(
    "PASSWORD", optional_text, None, group=GROUP,
    doc="django-redis's spelling of password (used when the LOCATION URL has none).")
USERNAME = Option(
    "USERNAME", optional_text, None, group=GROUP,
    doc="django-redis's spelling of username (used when the LOCATION URL has none).")
REPLICA_READ_ONLY = Option(
    "REPLICA_READ_ONLY", replica_read_only, True, group=GROUP,
    doc="django-redis's; only True (its default): writes go to the first server of LOCATION.")
CLOSE_CONNECTION = Option(
    "CLOSE_CONNECTION", boolean, False, group=GROUP,
    doc="close() (run by Django after every request) drops the idle pooled connections. Default: "
        "settings.DJANGO_REDIS_CLOSE_CONNECTION, else False (connections kept, as Django's backend).")

OPTIONS = (CLIENT_CLASS, CLIENT_KWARGS, SENTINELS, SENTINEL_KWARGS_DR, CONNECTION_FACTORY, CONNECTION_POOL_CLASS,
           CONNECTION_POOL_KWARGS, REDIS_CLIENT_CLASS, REDIS_CLIENT_KWARGS, PARSER_CLASS_DR, SOCKET_TIMEOUT,
           SOCKET_CONNECT_TIMEOUT, PASSWORD, USERNAME, REPLICA_READ_ONLY, CLOSE_CONNECTION)

NAMES = frozenset(option.name for option in OPTIONS)

# django-redis's upper-case spelling -> the redis-py keyword (or our option) it stands for.
SPELLINGS = {"SOCKET_TIMEOUT": "socket_timeout", "SOCKET_CONNECT_TIMEOUT": "socket_connect_timeout",
             "PASSWORD": "password", "USERNAME": "username"}
TWINS = {"CONNECTION_POOL_CLASS": "pool_class", "PARSER_CLASS": "parser_class",
         "SENTINEL_KWARGS": "sentinel_kwargs"}


# -- global settings ---------------------------------------------------------------------
@dataclass(frozen=True)
class Globals:
    """django-redis's ``settings.DJANGO_REDIS_*``; None = not set."""

    ignore_exceptions: bool | None = None
    log_ignored_exceptions: bool | None = None
    logger: str = DEFAULT_LOGGER
    scan_itersize: int | None = None
    connection_factory: str | None = None
    close_connection: bool | None = None


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def _logger_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a logger name, got {value!r}")
    return value


GLOBAL_RULES: dict[str, tuple[str, Any]] = {
    "DJANGO_REDIS_IGNORE_EXCEPTIONS": ("ignore_exceptions", boolean),
    "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS": ("log_ignored_exceptions", boolean),
    "DJANGO_REDIS_LOGGER": ("logger", _logger_name),
    "DJANGO_REDIS_SCAN_ITERSIZE": ("scan_itersize", _positive_int),
    "DJANGO_REDIS_CONNECTION_FACTORY": ("connection_factory", connection_factory),
    "DJANGO_REDIS_CLOSE_CONNECTION": ("close_connection", boolean),
}

_globals: Globals | None = None
_globals_lock = threading.Lock()


def read_globals() -> Globals:
    """The global settings, converted; raises ``CacheConfigError`` naming the one at fault."""
    from django.conf import settings

    values: dict[str, Any] = {}
    for name, (attr, rule) in GLOBAL_RULES.items():
        try:
            raw = getattr(settings, name)
        except AttributeError:
            continue
        except Exception:  # noqa: BLE001 - settings not configured: a cache built by hand
            return Globals()
        try:
            values[attr] = rule(raw)
        except (TypeError, ValueError) as exc:
            raise CacheConfigError(f"settings.{name}: {exc}") from None
    return Globals(**values)


def global_settings() -> Globals:
    """``read_globals()``, memoized: caches are built per thread and per asyncio task, and a
    missing Django setting costs an exception each time it is looked up. Reset by
    ``setting_changed`` (override_settings)."""
    found = _globals
    if found is None:
        with _globals_lock:
            found = read_globals()
            globals()["_globals"] = found
    return found


def _forget_globals(setting: str = "", **kwargs: Any) -> None:
    if setting in GLOBAL_RULES:
        globals()["_globals"] = None
        from . import options

        options._topologies.clear()  # made with the old DJANGO_REDIS_CONNECTION_FACTORY
        Spec.forget_all()  # a parse's variant class depends on DJANGO_REDIS_IGNORE_EXCEPTIONS


setting_changed.connect(_forget_globals, dispatch_uid="django_altcache.djangoredis.globals")


# -- translation into the backend's terms --------------------------------------------------
@dataclass
class SentinelTarget:
    sentinels: list[tuple[str, int]]
    service: str
    options: dict[str, Any] = field(default_factory=dict)  # db, password, username, ssl from the URL


@dataclass
class Translation:
    """What django-redis's OPTIONS mean here; empty when none is used."""

    keywords: dict[str, Any] = field(default_factory=dict)  # redis-py keywords for the pools
    pool_class: Any = None
    parser_class: Any = None
    client_class: Any = None
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    sentinel: SentinelTarget | None = None
    sentinel_kwargs: dict[str, Any] | None = None
    sentinel_pool_class: Any = None  # a SentinelConnectionPool subclass other than redis-py's own


def _error(detail: str, *path: Any) -> CacheConfigError:
    return CacheConfigError(detail, path)


def _sentinel_target(location: Any, found: list[tuple[str, int]]) -> SentinelTarget:
    """``redis://[[user]:password@]service_name[/db][?is_master=1]``, one URL or several naming one service."""
    from redis.connection import to_bool

    urls = split_location(location)
    if not urls:
        raise _error("with SENTINELS, LOCATION is 'redis://service_name/db' (the master's service name)",
                     "LOCATION")
    services: set[str] = set()
    master: dict[str, Any] | None = None
    for url in urls:
        scheme = scheme_of(url)
        if scheme not in ("redis", "rediss"):
            raise _error(f"with SENTINELS, LOCATION is 'redis://service_name/db', got {url!r}", "LOCATION")
        parts = urlsplit(url)
        service = parts.hostname or ""
        if not service:
            raise _error(f"with SENTINELS, the host of {url!r} is the master's service name, and it is missing",
                         "LOCATION")
        services.add(service)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        is_master = to_bool(query.pop("is_master", "1"))
        options: dict[str, Any] = {}
        db_text = parts.path.strip("/") or query.pop("db", "")
        query.pop("db", None)
        if db_text:
            try:
                options["db"] = int(db_text)
            except ValueError:
                raise _error(f"the database of {url!r} must be an integer", "LOCATION") from None
        if query:
            raise _error(f"{url!r}: with SENTINELS, only 'db' and 'is_master' are read from the URL's query; put "
                         f"{', '.join(map(repr, query))} in OPTIONS", "LOCATION")
        if parts.password:
            options["password"] = unquote(parts.password)
        if parts.username:
            options["username"] = unquote(parts.username)
        if scheme == "rediss":
            options["ssl"] = True
        if is_master is not False and master is None:
            master = options
    if len(services) > 1:
        raise _error(f"with SENTINELS, every URL names the same service; got {', '.join(sorted(services))}",
                     "LOCATION")
    if master is None:
        raise _error("a cache of Sentinel replicas only (is_master=0) is not available here: reads and writes go "
                     "to the master; drop '?is_master=0'", "LOCATION")
    return SentinelTarget(found, services.pop(), master)


def _sentinel_wanted(parsed: Parsed, factory: str | None, factory_path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The setting asking for django-redis's Sentinel mode, if any (each needs SENTINELS)."""
    if CLIENT_CLASS in parsed and parsed[CLIENT_CLASS] == SENTINEL_CLIENT:
        return ("OPTIONS", "CLIENT_CLASS")
    if factory == SENTINEL_FACTORY:
        return factory_path
    return None


def translate(location: Any, parsed: Parsed, rest: Mapping[str, Any], cluster: bool,
              sentinel_location: bool, globals_: Globals | None = None) -> Translation:
    """django-redis's options in this backend's terms; raises ``CacheConfigError`` naming the one at fault.

    ``rest``: the redis-py keywords written directly in OPTIONS (a name given twice is refused).
    """
    result = Translation()
    globals_ = globals_ or Globals()
    if parsed.given.isdisjoint(NAMES) and globals_.connection_factory is None:
        return result  # the common case, on every instance built (per thread, per asyncio task)
    keywords = result.keywords
    sources: dict[str, tuple[Any, ...]] = {key: ("OPTIONS", key) for key in rest}

    def put(key: str, value: Any, path: tuple[Any, ...]) -> None:
        if key in sources:
            raise _error(f"{key!r} is also given by {_path_text(sources[key])}: keep one", *path)
        sources[key] = path
        keywords[key] = value

    # CONNECTION_POOL_KWARGS first: django-redis lets them override its own spellings, here a
    # keyword given twice is refused, whichever the two places.
    for key, value in parsed[CONNECTION_POOL_KWARGS].items():
        put(str(key), value, ("OPTIONS", "CONNECTION_POOL_KWARGS", key))
    for option in (SOCKET_TIMEOUT, SOCKET_CONNECT_TIMEOUT, PASSWORD, USERNAME):
        if option in parsed:
            value = parsed[option]
            if value is None and option in (PASSWORD, USERNAME):
                continue  # django-redis passes only a non-empty one
            put(SPELLINGS[option.name], value, ("OPTIONS", option.name))
    for upper, lower in TWINS.items():
        if upper in parsed.given and lower in parsed.given:
            raise _error(f"is also given as {lower!r}: keep one", "OPTIONS", upper)
    result.parser_class = parsed[PARSER_CLASS_DR]
    if REDIS_CLIENT_CLASS in parsed or REDIS_CLIENT_KWARGS in parsed:
        if cluster:
            name = "REDIS_CLIENT_CLASS" if REDIS_CLIENT_CLASS in parsed else "REDIS_CLIENT_KWARGS"
            raise _error("has no place with cluster=True: this backend builds redis-py's RedisCluster itself",
                         "OPTIONS", name)
        result.client_class = parsed[REDIS_CLIENT_CLASS]
        result.client_kwargs = {str(k): v for k, v in parsed[REDIS_CLIENT_KWARGS].items()}
        if "connection_pool" in result.client_kwargs:
            raise _error("'connection_pool' is this backend's to give", "OPTIONS", "REDIS_CLIENT_KWARGS")

    factory = parsed[CONNECTION_FACTORY] if CONNECTION_FACTORY in parsed else globals_.connection_factory
    factory_path: tuple[str, ...] = (("OPTIONS", "CONNECTION_FACTORY") if CONNECTION_FACTORY in parsed
                                     else ("settings.DJANGO_REDIS_CONNECTION_FACTORY",))
    wanted = _sentinel_wanted(parsed, factory, factory_path)
    found = parsed[SENTINELS]
    if found is not None:
        if cluster:
            raise _error("a Sentinel setup is not a cluster: remove one of SENTINELS and cluster", "OPTIONS",
                         "SENTINELS")
        if sentinel_location:
            raise _error("the sentinel:// LOCATION already names the sentinels: remove SENTINELS, or write "
                         "LOCATION as 'redis://service_name/db'", "OPTIONS", "SENTINELS")
        result.sentinel = _sentinel_target(location, found)
    elif wanted is not None and not sentinel_location:
        what = "django-redis's Sentinel client" if wanted[-1] == "CLIENT_CLASS" else "the Sentinel factory"
        if wanted[0].startswith("settings."):
            raise _error(f"{wanted[0]} = {SENTINEL_FACTORY!r} needs OPTIONS['SENTINELS'] (a list of (host, port)) "
                         "in every Redis cache; set it per cache with OPTIONS['CONNECTION_FACTORY'] instead")
        raise _error(f"{what} needs SENTINELS (a list of (host, port)) and LOCATION 'redis://service_name/db'",
                     *wanted)
    sentinel_mode = found is not None or sentinel_location
    if SENTINEL_KWARGS_DR in parsed:
        if not sentinel_mode:
            raise _error("has no effect without SENTINELS (or a sentinel:// LOCATION)", "OPTIONS", "SENTINEL_KWARGS")
        result.sentinel_kwargs = parsed[SENTINEL_KWARGS_DR]
    cls = parsed[CONNECTION_POOL_CLASS]
    if cls is not None:
        from redis.sentinel import SentinelConnectionPool

        if sentinel_mode:
            if not issubclass(cls, SentinelConnectionPool):
                raise _error("with Sentinel, the pool is a redis.sentinel.SentinelConnectionPool (or a subclass)",
                             "OPTIONS", "CONNECTION_POOL_CLASS")
            if cls is not SentinelConnectionPool:
                result.sentinel_pool_class = cls
        elif issubclass(cls, SentinelConnectionPool):
            raise _error("a Sentinel pool needs SENTINELS (a list of (host, port)) and LOCATION "
                         "'redis://service_name/db'", "OPTIONS", "CONNECTION_POOL_CLASS")
        elif cluster:
            raise _error("has no effect with cluster=True: RedisCluster makes its own pools", "OPTIONS",
                         "CONNECTION_POOL_CLASS")
        else:
            result.pool_class = cls
    return result


def _path_text(path: tuple[Any, ...]) -> str:
    """``OPTIONS['CONNECTION_POOL_KWARGS']['x']``: where a keyword was given."""
    return str(path[0]) + "".join(f"[{key!r}]" for key in path[1:])


def resolve(location: Any, parsed: Parsed, rest: Mapping[str, Any], cluster: bool,
            sentinel_location: bool) -> Translation:
    """``translate`` with the global settings (read here: the backend's one entry point)."""
    return translate(location, parsed, rest, cluster, sentinel_location, global_settings())


# -- REVERSE_KEY_FUNCTION (a key of the CACHES entry, as KEY_FUNCTION) -----------------------
def reverse_key_function(params: Mapping[str, Any]) -> Any:
    value = params.get("REVERSE_KEY_FUNCTION")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise CacheConfigError(f"cannot import {value!r} ({exc})", ("REVERSE_KEY_FUNCTION",)) from None
    if not callable(value):
        raise CacheConfigError(f"expected a function or its dotted path, got {value!r}", ("REVERSE_KEY_FUNCTION",))
    return value


def default_reverse_key(key: str) -> str:
    """django-redis's ``default_reverse_key``: what follows 'prefix:version:'."""
    return key.split(":", 2)[2]


# -- the system checks' side ------------------------------------------------------------------
def _finding(exc: CacheConfigError, kind: str = CONFLICT) -> Finding:
    path = exc.path
    if path and path[0] == "OPTIONS":
        return Finding(ERROR, kind, path[1:], exc.detail)
    if path:
        return Finding(ERROR, kind, path[1:], exc.detail, where=str(path[0]))
    return Finding(ERROR, kind, (), exc.detail, where="OPTIONS")


def check_django_redis(options: Mapping[str, Any], params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """django-redis's options with each other, the LOCATION and the redis-py keywords (ours only)."""
    if not backend.ours:
        return []
    from .options import SPEC, check_redis_keywords, is_sentinel

    findings: list[Finding] = []
    for option in (SOCKET_TIMEOUT, SOCKET_CONNECT_TIMEOUT):
        if options.get(option.name) == 0 and not isinstance(options.get(option.name), bool):
            findings.append(Finding(WARNING, UNBOUNDED, (option.name,),
                                    "0 turns the timeout off, as in django-redis: a stalled Redis server would "
                                    "block requests indefinitely",
                                    "Remove it to use the finite default, or set a number of seconds."))
    try:
        parsed = SPEC.parse(options)
    except CacheConfigError:
        parsed = None  # a bad value: reported by its own option
    location = params.get("LOCATION")
    if parsed is not None:
        try:
            translate(location, parsed, parsed.rest, options.get("cluster") is True, is_sentinel(location),
                      _globals_or_none())
        except CacheConfigError as exc:
            findings.append(_finding(exc))
    pool_kwargs = options.get("CONNECTION_POOL_KWARGS")
    if isinstance(pool_kwargs, Mapping) and pool_kwargs:
        # Judged as the same keywords written directly in OPTIONS are (sync and async pools).
        alone = {**params, "OPTIONS": {key: value for key, value in options.items() if key != "async_options"}}
        findings += [replace(finding, path=("CONNECTION_POOL_KWARGS", *finding.path),
                             message=finding.message.replace("unknown option", "unknown key", 1))
                     for finding in check_redis_keywords(pool_kwargs, alone, backend, ())]
    client_kwargs = options.get("REDIS_CLIENT_KWARGS")
    if isinstance(client_kwargs, Mapping) and client_kwargs:
        try:
            findings += _library_findings(client_kwargs, backend, _client_accepted(options), ("REDIS_CLIENT_KWARGS",))
        except ImportError:
            pass
    findings += _check_reverse_key(params)
    return findings


def _globals_or_none() -> Globals | None:
    try:
        return global_settings()
    except CacheConfigError:
        return None  # reported when the cache is built (E001), naming the setting


def _client_accepted(options: Mapping[str, Any]) -> Any:
    from django_altcache.conf.library import Accepted, import_class, init_keywords

    cls = options.get("REDIS_CLIENT_CLASS")
    target = import_class(cls) if cls is not None else None
    if target is None:
        import redis

        target = redis.Redis
    names, closed = init_keywords(target)
    return Accepted(dict(names), closed, f"{target.__module__}.{target.__qualname__}")


def _library_findings(given: Mapping[str, Any], backend: Backend, accepted: Any, prefix: tuple[str, ...]) -> list[Finding]:
    from django_altcache.conf.library import library_options

    from .options import REDIS_VALUES

    return library_options(given, backend, accepted, REDIS_VALUES, {}, prefix=prefix)


def _check_reverse_key(params: Mapping[str, Any]) -> list[Finding]:
    try:
        reverse_key_function(params)
    except CacheConfigError as exc:
        return [Finding(ERROR, VALUE, (), exc.detail, where="REVERSE_KEY_FUNCTION")]
    return []


RELATIONS = (check_django_redis,)

__all__ = ["OPTIONS", "RELATIONS", "Globals", "Translation", "global_settings", "resolve", "reverse_key_function",
           "translate"]
