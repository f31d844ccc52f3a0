"""``RedisCache``: Django's Redis backend with shared pools, native asyncio, atomic
incr, replica fallback, Sentinel and Cluster. See docs/compat.md ("RedisCache").

It subclasses Django's ``RedisCache`` so ``isinstance`` checks in user code hold;
every method is overridden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property

from django_altcache.conf import CacheConfigError, Parsed
from django_altcache.conf.resilience import (
    BREAKER_DEFAULT,
    CIRCUIT_BREAKER,
    IGNORE_EXCEPTIONS,
    LOG_IGNORED_EXCEPTIONS,
    BreakerSettings,
    Resilience,
    resilience_of,
)

from .._shared.keys import FastKeysMixin, is_clean, quiet_for_clean_keys
from ...stampede.mixin import StampedeMixin
from ..base import AltCache, PingResult, round_trip
from . import codec, djangoredis, extras, options, pools, structures
from .client import RedisCacheClient
from .extras import ExtrasMixin
from .protocol import glob_escape
from .structures import StructuresMixin


def _connection_error(message: str) -> BaseException:
    import redis

    return redis.ConnectionError(message)


@dataclass(frozen=True)
class _Settings:
    """What django-redis's global settings make of one parse of OPTIONS."""

    resilience: Resilience
    close_connection: bool
    scan_itersize: int | None
    log_every: str | None  # django-redis's logging of ignored errors: the logger's name


def _settings(parsed: Parsed) -> _Settings:
    """Made once per parse and per value of the global settings (backends are built per thread
    and per asyncio task; override_settings may change the globals in between)."""
    box = parsed.derive(_settings_box)
    given = djangoredis.global_settings()
    if box[0] is not given:
        box[1] = _settings_with(parsed, given)
        box[0] = given
    return box[1]  # type: ignore[no-any-return]


def _settings_box(parsed: Parsed) -> list[Any]:
    return [None, None]


def _settings_with(parsed: Parsed, given: djangoredis.Globals) -> _Settings:
    """The resilience options, with django-redis's global settings where OPTIONS do not say."""
    found = parsed.derive(resilience_of)
    if IGNORE_EXCEPTIONS not in parsed and given.ignore_exceptions is not None:
        ignore = given.ignore_exceptions
        breaker = parsed[CIRCUIT_BREAKER]
        found = Resilience(ignore, (BreakerSettings() if ignore else None) if breaker is BREAKER_DEFAULT else breaker,
                           found.log_interval, found.strict)
    log_every = None
    if LOG_IGNORED_EXCEPTIONS not in parsed and given.log_ignored_exceptions is not None:
        # django-redis's: every ignored error (interval 0), or none.
        found = Resilience(found.ignore_exceptions, found.breaker, 0.0 if given.log_ignored_exceptions else None,
                           found.strict)
        log_every = given.logger if given.log_ignored_exceptions else None
    close = (parsed[djangoredis.CLOSE_CONNECTION] if djangoredis.CLOSE_CONNECTION in parsed
             else bool(given.close_connection))
    return _Settings(found, close, given.scan_itersize, log_every)


class DjangoRedisLog:
    """django-redis's logging of ignored errors: each one, with its traceback, on DJANGO_REDIS_LOGGER.

    Called by the guard in place of its rate-limited log (inside the ``except`` that caught the error).
    """

    __slots__ = ("logger", "interval")

    def __init__(self, name: str) -> None:
        import logging

        self.logger = logging.getLogger(name)
        self.interval = 0.0

    def __call__(self, level: int, message: str, *args: Any, exc: BaseException | None = None) -> None:
        self.logger.error("Exception ignored: " + message, *args, exc_info=exc or True)


class RedisCache(StampedeMixin, StructuresMixin, ExtrasMixin, AltCache, FastKeysMixin, DjangoRedisCache):
    spec = options.SPEC
    # Operations of our own the guard wraps (fail-soft, breakers, metrics), with their fallbacks.
    operations = {**extras.OPERATIONS, **structures.OPERATIONS}
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"get", "get_many", "has_key", "set", "add", "touch", "delete", "set_many",
                                 "delete_many", "clear", "incr", "incr_version"})

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        BaseCache.__init__(self, params)
        self._init_stampede(server, params)  # single-flight get_or_set (docs/stampede.md)
        parsed = self._parsed
        extra = _settings(parsed)
        self._servers = options.servers_of(server)
        self._topology = options.topology_of(server, parsed)
        if self._topology.kind == "sentinel":
            self._servers = self._servers[:1]  # django-redis's Sentinel LOCATION may list the service twice
        self._clear_prefix_only = parsed[options.CLEAR_PREFIX_ONLY]
        self._serializer = parsed[options.SERIALIZER]
        self._local = parsed[options.REDIS_LOCAL_CACHE]  # None: no local tier, nothing wrapped
        self._codec = self._init_codec(server, params)
        self._serializer = codec.serializer_for(self._serializer, self._codec)
        self._class = RedisCacheClient
        self._options = params.get("OPTIONS") or {}  # Django's attribute (read by code written for Django)
        if "REVERSE_KEY_FUNCTION" in params:
            self._reverse_key_func = djangoredis.reverse_key_function(params)
        self._scan_itersize = extra.scan_itersize
        self._close_connection = extra.close_connection
        self._init_fast_keys()
        self._init_guard(lambda: f"redis {','.join(self.servers_description())}", errors=pools.outage_errors,
                         is_outage=pools.is_outage, make_error=_connection_error)
        if self._guard is not None and extra.log_every is not None:
            self._guard.log = DjangoRedisLog(extra.log_every)  # type: ignore[assignment]

    @classmethod
    def resilience_of(cls, parsed: Parsed) -> Resilience:
        # django-redis's global settings (DJANGO_REDIS_IGNORE_EXCEPTIONS...) count too.
        return _settings(parsed).resilience

    @cached_property
    def _cache(self) -> RedisCacheClient:
        client = self._class(self._servers, self._topology, self._serializer)
        if self._local is None:
            return client
        from django_altcache.local.redis import wrap

        return wrap(client, self._local, self)  # type: ignore[return-value]  # the client's API, tiered

    def servers_description(self) -> list[str]:
        return [pools.public_url(url) for url in self._servers]

    def ping(self) -> PingResult:
        """A set/get/delete on the leader, then PING to every replica or cluster node."""
        result = round_trip(self, self.servers_description())
        client = self._cache
        if client._cluster:
            cluster = client._leader
            cluster.ping(target_nodes=cluster.ALL_NODES)
            result.servers = [f"{node.host}:{node.port}" for node in cluster.get_nodes()]
        for index in range(1, len(self._servers)):
            client._client_at(index).execute_command("PING")
        return result

    @quiet_for_clean_keys
    def validate_key(self, key: str) -> None:
        # Django's lazily compiled regex costs more than the check; clean keys skip it.
        if not is_clean(key):
            super().validate_key(key)

    # -- the BaseCache API ----------------------------------------------------------
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.add(key, value, self.get_backend_timeout(timeout))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.get(key, default)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None, *,
            nx: bool = False, xx: bool = False) -> bool | None:
        """Django's set (returns None); with ``nx`` (only if absent) or ``xx`` (only if present),
        django-redis's: returns whether the value was stored."""
        key = self.make_and_validate_key(key, version=version)
        if nx or xx:
            return self._set_if(key, value, timeout, nx, xx)
        self._cache.set(key, value, self.get_backend_timeout(timeout))
        return None

    def _set_if(self, key: str, value: Any, timeout: Any, nx: bool, xx: bool) -> bool:
        if nx and xx:
            raise ValueError("set(): nx and xx exclude each other")
        return extras.set_if(self._cache, key, value, self.get_backend_timeout(timeout), nx)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.touch(key, self.get_backend_timeout(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.delete(key)

    def _key_map(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        keys = list(keys)
        return dict(zip(self.make_and_validate_keys(keys, version), keys))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self._cache.get_many_mapped(self._key_map(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.has_key(key)

    def incr(self, key: Any, delta: int = 1, version: int | None = None, *, ignore_key_check: bool = False) -> Any:
        """Django's incr; ``ignore_key_check`` (django-redis's): a missing key is created as ``delta``, without expiry."""
        made = self.make_and_validate_key(key, version=version)
        if ignore_key_check:
            return self._cache._lexec("INCRBY", made, delta)
        try:
            return self._cache.incr(made, delta)
        except ValueError:
            raise ValueError(f"Key '{key}' not found.") from None

    def decr(self, key: Any, delta: int = 1, version: int | None = None, *, ignore_key_check: bool = False) -> Any:
        return self.incr(key, -delta, version, ignore_key_check=ignore_key_check)

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Django's result, in one atomic round trip that keeps the entry's TTL."""
        version = self.version if version is None else version
        old = self.make_and_validate_key(key, version=version)
        if not self._cache.move(old, self.make_and_validate_key(key, version=version + delta)):
            raise ValueError("Key '%s' not found" % key)
        return version + delta

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: int | None = None) -> list[Any]:
        if data:
            safe = dict(zip(self.make_and_validate_keys(data, version), data.values()))
            self._cache.set_many(safe, self.get_backend_timeout(timeout))
        return []

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> int:
        """Returns how many keys existed (django-redis's; Django's returns None)."""
        safe = self.make_and_validate_keys(keys, version)
        return self._cache.delete_many(safe) if safe else 0

    def clear(self) -> bool:
        return self._cache.clear(self._prefix_pattern() if self._clear_prefix_only else None)

    # -- native asyncio twins ---------------------------------------------------------
    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aadd(key, value, self.get_backend_timeout(timeout))

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aget(key, default)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None, *,
                   nx: bool = False, xx: bool = False) -> bool | None:
        key = self.make_and_validate_key(key, version=version)
        if nx or xx:
            if nx and xx:
                raise ValueError("aset(): nx and xx exclude each other")
            return await extras.aset_if(self._cache, key, value, self.get_backend_timeout(timeout), nx)
        await self._cache.aset(key, value, self.get_backend_timeout(timeout))
        return None

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.atouch(key, self.get_backend_timeout(timeout))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.adelete(key)

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return await self._cache.aget_many_mapped(self._key_map(keys, version))

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.ahas_key(key)

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None, *,
                    ignore_key_check: bool = False) -> Any:
        made = self.make_and_validate_key(key, version=version)
        if ignore_key_check:
            return await self._cache._aleader().execute_command("INCRBY", made, delta)
        try:
            return await self._cache.aincr(made, delta)
        except ValueError:
            raise ValueError(f"Key '{key}' not found.") from None

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None, *,
                    ignore_key_check: bool = False) -> Any:
        return await self.aincr(key, -delta, version, ignore_key_check=ignore_key_check)

    async def aincr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        version = self.version if version is None else version
        old = self.make_and_validate_key(key, version=version)
        if not await self._cache.amove(old, self.make_and_validate_key(key, version=version + delta)):
            raise ValueError("Key '%s' not found" % key)
        return version + delta

    async def aset_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                        version: int | None = None) -> list[Any]:
        if data:
            safe = dict(zip(self.make_and_validate_keys(data, version), data.values()))
            await self._cache.aset_many(safe, self.get_backend_timeout(timeout))
        return []

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> int:
        safe = self.make_and_validate_keys(keys, version)
        return await self._cache.adelete_many(safe) if safe else 0

    async def aclear(self) -> bool:
        return await self._cache.aclear(self._prefix_pattern() if self._clear_prefix_only else None)

    def server_stats(self) -> dict[str, Any]:
        """The leader's ``INFO`` (hits, misses, evictions, memory, keys), for ``cachestats``."""
        from django_altcache.metrics import server_stats

        return server_stats.redis(self._cache._leader)

    # -- key patterns -------------------------------------------------------------------
    def _prefix_pattern(self) -> str:
        """All keys this cache made, any version (needs Django's default KEY_FUNCTION)."""
        if self.key_func is not default_key_func:
            raise CacheConfigError("needs the default KEY_FUNCTION (it deletes the keys matching "
                                   "'<KEY_PREFIX>:*')", ("OPTIONS", "clear_prefix_only"))
        return f"{glob_escape(self.key_prefix)}:*"
