"""``RedisCache``: Django's Redis backend with shared pools, native asyncio, atomic
incr, replica fallback, Sentinel and Cluster. See docs/compat.md ("RedisCache").

It subclasses Django's ``RedisCache`` so ``isinstance`` checks in user code hold;
every method is overridden.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property

from django_altcache.conf import CacheConfigError

from .._shared.keys import FastKeysMixin, is_clean, quiet_for_clean_keys
from ..base import AltCache, PingResult, round_trip
from . import options, pools
from .client import RedisCacheClient
from .protocol import glob_escape


def _connection_error(message: str) -> BaseException:
    import redis

    return redis.ConnectionError(message)


class RedisCache(AltCache, FastKeysMixin, DjangoRedisCache):
    spec = options.SPEC

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        BaseCache.__init__(self, params)
        parsed = self._parsed
        self._servers = options.servers_of(server)
        self._topology = options.topology_of(server, parsed)
        self._clear_prefix_only = parsed[options.CLEAR_PREFIX_ONLY]
        self._serializer = parsed[options.SERIALIZER]
        self._local = parsed[options.REDIS_LOCAL_CACHE]  # None: no local tier, nothing wrapped
        self._class = RedisCacheClient
        self._options = params.get("OPTIONS") or {}  # Django's attribute (read by code written for Django)
        self._init_fast_keys()
        self._init_guard(f"redis {','.join(self.servers_description())}", errors=pools.outage_errors(),
                         is_outage=pools.is_outage, make_error=_connection_error)

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

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        self._cache.set(key, value, self.get_backend_timeout(timeout))

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

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        made = self.make_and_validate_key(key, version=version)
        try:
            return self._cache.incr(made, delta)
        except ValueError:
            raise ValueError(f"Key '{key}' not found.") from None

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

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        safe = self.make_and_validate_keys(keys, version)
        if safe:
            self._cache.delete_many(safe)

    def clear(self) -> bool:
        return self._cache.clear(self._prefix_pattern() if self._clear_prefix_only else None)

    # -- native asyncio twins ---------------------------------------------------------
    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aadd(key, value, self.get_backend_timeout(timeout))

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aget(key, default)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        await self._cache.aset(key, value, self.get_backend_timeout(timeout))

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

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        made = self.make_and_validate_key(key, version=version)
        try:
            return await self._cache.aincr(made, delta)
        except ValueError:
            raise ValueError(f"Key '{key}' not found.") from None

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

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        safe = self.make_and_validate_keys(keys, version)
        if safe:
            await self._cache.adelete_many(safe)

    async def aclear(self) -> bool:
        return await self._cache.aclear(self._prefix_pattern() if self._clear_prefix_only else None)

    # -- extras, named as django-redis names them ---------------------------------------
    def ttl(self, key: Any, version: int | None = None) -> int | None:
        """Seconds left; None when the key never expires; 0 when it does not exist."""
        return self._cache.ttl(self.make_and_validate_key(key, version=version))

    def expire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        return self._cache.expire(self.make_and_validate_key(key, version=version),
                                  self.get_backend_timeout(timeout))

    def persist(self, key: Any, version: int | None = None) -> bool:
        return self._cache.persist(self.make_and_validate_key(key, version=version))

    def lock(self, key: Any, version: int | None = None, **kwargs: Any) -> Any:
        """A ``redis.lock.Lock`` (kwargs: timeout, sleep, blocking, blocking_timeout, thread_local)."""
        return self._cache.lock(self.make_and_validate_key(key, version=version), **kwargs)

    def iter_keys(self, search: str, itersize: int | None = None, version: int | None = None) -> Iterator[Any]:
        """Keys of this cache matching the glob ``search`` (SCAN, never KEYS), unprefixed."""
        for raw in self._cache.scan_iter(self._pattern(search, version), itersize):
            yield self._reverse_key(raw)

    def delete_pattern(self, pattern: str, version: int | None = None, itersize: int | None = None) -> int:
        return self._cache.delete_pattern(self._pattern(pattern, version), itersize)

    async def attl(self, key: Any, version: int | None = None) -> int | None:
        return await self._cache.attl(self.make_and_validate_key(key, version=version))

    async def aexpire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        return await self._cache.aexpire(self.make_and_validate_key(key, version=version),
                                         self.get_backend_timeout(timeout))

    async def apersist(self, key: Any, version: int | None = None) -> bool:
        return await self._cache.apersist(self.make_and_validate_key(key, version=version))

    def alock(self, key: Any, version: int | None = None, **kwargs: Any) -> Any:
        """A ``redis.asyncio.lock.Lock`` for this event loop (use with ``async with``)."""
        return self._cache.alock(self.make_and_validate_key(key, version=version), **kwargs)

    async def aiter_keys(self, search: str, itersize: int | None = None,
                         version: int | None = None) -> AsyncIterator[Any]:
        async for raw in self._cache.ascan_iter(self._pattern(search, version), itersize):
            yield self._reverse_key(raw)

    async def adelete_pattern(self, pattern: str, version: int | None = None, itersize: int | None = None) -> int:
        return await self._cache.adelete_pattern(self._pattern(pattern, version), itersize)

    # -- key patterns -------------------------------------------------------------------
    def _pattern(self, search: str, version: int | None) -> str:
        version = self.version if version is None else version
        if self.key_func is default_key_func:
            return f"{glob_escape(self.key_prefix)}:{version}:{search}"
        return self.key_func(search, self.key_prefix, version)

    def _prefix_pattern(self) -> str:
        """All keys this cache made, any version (needs Django's default KEY_FUNCTION)."""
        if self.key_func is not default_key_func:
            raise CacheConfigError("needs the default KEY_FUNCTION (it deletes the keys matching "
                                   "'<KEY_PREFIX>:*')", ("OPTIONS", "clear_prefix_only"))
        return f"{glob_escape(self.key_prefix)}:*"

    def _reverse_key(self, raw: Any) -> Any:
        key = raw.decode() if isinstance(raw, bytes) else raw
        if self.key_func is default_key_func:
            return key.split(":", 2)[2]
        return key
