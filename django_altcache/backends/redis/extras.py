"""django-redis's extras on ``RedisCache``, each with its async twin: keys by pattern, expiry,
locks, ``close``, ``set(nx=/xx=)`` and ``incr(ignore_key_check=)``, ``cache.client.get_client()``.

Signatures and results are django-redis's (docs/migration.md has the table). Keys are made and
validated as every other operation's; patterns as django-redis makes them (``KEY_FUNCTION`` of
the glob-escaped prefix and version), and keys found by pattern come back as the caller wrote
them: everything after ``prefix:version:``, or ``REVERSE_KEY_FUNCTION`` of the stored key.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, default_key_func

from .._shared.guard import READ, WRITE, Op, constant
from . import protocol
from .djangoredis import default_reverse_key
from .protocol import SCAN_COUNT, glob_escape

if TYPE_CHECKING:  # the mixin sees RedisCache's API; at run time it adds no base
    from django.core.cache.backends.base import BaseCache

    from .client import RedisCacheClient

    class _Base(BaseCache):
        _cache: RedisCacheClient
else:
    _Base = object


def _set_fallback(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Django's set answers None; with nx/xx it answers whether it stored (django-redis).
    return False if kwargs.get("nx") or kwargs.get("xx") else None


# What each operation answers under fail-soft (IGNORE_EXCEPTIONS) while Redis cannot be
# reached: a read misses, a write reports that nothing changed. (delete_many keeps the guard's
# None, as django-redis answers it.)
OPERATIONS: dict[str, Op] = {
    "set": Op(WRITE, _set_fallback),
    "keys": Op(READ, constant([])),
    "delete_pattern": Op(WRITE, constant(0)),
    "ttl": Op(READ, constant(0)),
    "pttl": Op(READ, constant(0)),
    "expire": Op(WRITE, constant(False)),
    "pexpire": Op(WRITE, constant(False)),
    "expire_at": Op(WRITE, constant(False)),
    "pexpire_at": Op(WRITE, constant(False)),
    "persist": Op(WRITE, constant(False)),
}


def _seconds(timeout: Any) -> Any:
    return int(timeout.total_seconds()) if isinstance(timeout, datetime.timedelta) else timeout


def _milliseconds(timeout: Any) -> Any:
    if isinstance(timeout, datetime.timedelta):
        return int(timeout.total_seconds() * 1000)
    return None if timeout is None else max(0, int(timeout))


# -- client-level commands (made keys, backend timeouts), sync and async -------------------------
def _set_args(client: RedisCacheClient, key: str, value: Any, timeout: int | None, nx: bool) -> list[Any]:
    args = ["SET", key, client._serializer.dumps(value)]
    if timeout is not None:
        args += ["EX", timeout]
    args.append("NX" if nx else "XX")
    return args


def set_if(client: RedisCacheClient, key: str, value: Any, timeout: int | None, nx: bool) -> bool:
    """SET NX or XX; True when stored. Timeout 0 (already expired), as django-redis: with nx,
    True when the key is absent; with xx, the key is deleted and True when it existed."""
    if timeout == 0:
        if nx:
            return not client._lexec("EXISTS", key)
        return bool(client._lexec("DEL", key))
    return bool(client._lexec(*_set_args(client, key, value, timeout, nx)))


async def aset_if(client: RedisCacheClient, key: str, value: Any, timeout: int | None, nx: bool) -> bool:
    leader = client._aleader()
    if timeout == 0:
        if nx:
            return not await leader.execute_command("EXISTS", key)
        return bool(await leader.execute_command("DEL", key))
    return bool(await leader.execute_command(*_set_args(client, key, value, timeout, nx)))


class ExtrasMixin(_Base):
    """Mixed into ``RedisCache`` (which sets ``_reverse_key_func``, ``_scan_itersize``, ``_close_connection``)."""

    _reverse_key_func: Any = None
    _scan_itersize: int | None = None
    _close_connection: bool = False

    # -- keys by pattern -----------------------------------------------------------------
    def keys(self, search: str, version: int | None = None) -> list[Any]:
        """The keys of this cache matching the glob ``search``, as the caller wrote them.

        django-redis sends KEYS, which blocks the server while it walks every key; this walks
        them with SCAN (the same answer, each key once).
        """
        return list(dict.fromkeys(self.iter_keys(search, version=version)))

    def iter_keys(self, search: str, itersize: int | None = None, version: int | None = None) -> Iterator[Any]:
        """Keys of this cache matching the glob ``search`` (SCAN, never KEYS), as the caller wrote them."""
        for raw in self._cache.scan_iter(self._pattern(search, version), itersize or self._scan_itersize):
            yield self._reverse_key(raw)

    def delete_pattern(self, pattern: str, version: int | None = None, prefix: str | None = None,
                       itersize: int | None = None) -> int:
        """Delete the keys matching the glob ``pattern``; returns how many (SCAN, then DEL in batches)."""
        return self._cache.delete_pattern(self._pattern(pattern, version, prefix), itersize or self._scan_itersize)

    async def akeys(self, search: str, version: int | None = None) -> list[Any]:
        return list(dict.fromkeys([key async for key in self.aiter_keys(search, version=version)]))

    async def aiter_keys(self, search: str, itersize: int | None = None,
                         version: int | None = None) -> AsyncIterator[Any]:
        async for raw in self._cache.ascan_iter(self._pattern(search, version), itersize or self._scan_itersize):
            yield self._reverse_key(raw)

    async def adelete_pattern(self, pattern: str, version: int | None = None, prefix: str | None = None,
                              itersize: int | None = None) -> int:
        return await self._cache.adelete_pattern(self._pattern(pattern, version, prefix),
                                                 itersize or self._scan_itersize)

    def _pattern(self, search: str, version: int | None, prefix: str | None = None) -> str:
        """django-redis's ``make_pattern``: KEY_FUNCTION of the search with prefix and version escaped."""
        version = self.version if version is None else version
        prefix = glob_escape(self.key_prefix if prefix is None else prefix)
        if self.key_func is default_key_func:
            return f"{prefix}:{glob_escape(str(version))}:{search}"
        return str(self.key_func(search, prefix, glob_escape(str(version))))

    def _reverse_key(self, raw: Any) -> Any:
        """The key as the caller wrote it: REVERSE_KEY_FUNCTION, else what follows 'prefix:version:'."""
        key = raw.decode() if isinstance(raw, bytes) else raw
        if self._reverse_key_func is not None:
            return self._reverse_key_func(key)
        try:
            return default_reverse_key(key)
        except IndexError:  # a custom KEY_FUNCTION without two ':' (a check warns about it)
            return key

    # -- expiry ----------------------------------------------------------------------------
    def ttl(self, key: Any, version: int | None = None) -> int | None:
        """Seconds left; None when the key never expires; 0 when it does not exist."""
        return protocol.ttl_reply(self._cache._lexec("TTL", self.make_and_validate_key(key, version=version)))

    def pttl(self, key: Any, version: int | None = None) -> int | None:
        """Milliseconds left; None when the key never expires; 0 when it does not exist."""
        return protocol.ttl_reply(self._cache._lexec("PTTL", self.make_and_validate_key(key, version=version)))

    def expire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        """A new timeout in seconds (or a timedelta; None: never expire; <= 0: expire now)."""
        return self._cache.expire(self.make_and_validate_key(key, version=version),
                                  self.get_backend_timeout(_seconds(timeout)))

    def pexpire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        """A new timeout in milliseconds (or a timedelta; None: never expire)."""
        made = self.make_and_validate_key(key, version=version)
        ms = self._default_ms() if timeout is DEFAULT_TIMEOUT else _milliseconds(timeout)
        if ms is None:
            return self._cache.persist(made)
        return bool(self._cache._lexec("PEXPIRE", made, ms))

    def expire_at(self, key: Any, when: Any, version: int | None = None) -> bool:
        """Expire at ``when``: a datetime or a Unix time in seconds."""
        return bool(self._cache._leader.expireat(self.make_and_validate_key(key, version=version), when))

    def pexpire_at(self, key: Any, when: Any, version: int | None = None) -> bool:
        """Expire at ``when``: a datetime or a Unix time in milliseconds."""
        return bool(self._cache._leader.pexpireat(self.make_and_validate_key(key, version=version), when))

    def persist(self, key: Any, version: int | None = None) -> bool:
        """Remove the key's timeout; True when it had one."""
        return self._cache.persist(self.make_and_validate_key(key, version=version))

    async def attl(self, key: Any, version: int | None = None) -> int | None:
        made = self.make_and_validate_key(key, version=version)
        return protocol.ttl_reply(await self._cache._aleader().execute_command("TTL", made))

    async def apttl(self, key: Any, version: int | None = None) -> int | None:
        made = self.make_and_validate_key(key, version=version)
        return protocol.ttl_reply(await self._cache._aleader().execute_command("PTTL", made))

    async def aexpire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        return await self._cache.aexpire(self.make_and_validate_key(key, version=version),
                                         self.get_backend_timeout(_seconds(timeout)))

    async def apexpire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        made = self.make_and_validate_key(key, version=version)
        ms = self._default_ms() if timeout is DEFAULT_TIMEOUT else _milliseconds(timeout)
        if ms is None:
            return await self._cache.apersist(made)
        return bool(await self._cache._aleader().execute_command("PEXPIRE", made, ms))

    async def aexpire_at(self, key: Any, when: Any, version: int | None = None) -> bool:
        return bool(await self._cache._aleader().expireat(self.make_and_validate_key(key, version=version), when))

    async def apexpire_at(self, key: Any, when: Any, version: int | None = None) -> bool:
        return bool(await self._cache._aleader().pexpireat(self.make_and_validate_key(key, version=version), when))

    async def apersist(self, key: Any, version: int | None = None) -> bool:
        return await self._cache.apersist(self.make_and_validate_key(key, version=version))

    def _default_ms(self) -> int | None:
        # django-redis hands the default timeout (seconds) to PEXPIRE as milliseconds; here it
        # means what it means everywhere else.
        return None if self.default_timeout is None else max(0, int(self.default_timeout * 1000))

    # -- locks -------------------------------------------------------------------------------
    def lock(self, key: Any, version: int | None = None, timeout: float | None = None, sleep: float = 0.1,
             blocking: bool = True, blocking_timeout: float | None = None, thread_local: bool = True,
             **kwargs: Any) -> Any:
        """A ``redis.lock.Lock`` on the key (redis-py's arguments; more, e.g. lock_class, in kwargs)."""
        return self._cache.lock(self.make_and_validate_key(key, version=version), timeout=timeout, sleep=sleep,
                                blocking=blocking, blocking_timeout=blocking_timeout, thread_local=thread_local,
                                **kwargs)

    def alock(self, key: Any, version: int | None = None, timeout: float | None = None, sleep: float = 0.1,
              blocking: bool = True, blocking_timeout: float | None = None, thread_local: bool = True,
              **kwargs: Any) -> Any:
        """A ``redis.asyncio.lock.Lock`` for this event loop (``async with cache.alock(...)``)."""
        return self._cache.alock(self.make_and_validate_key(key, version=version), timeout=timeout, sleep=sleep,
                                 blocking=blocking, blocking_timeout=blocking_timeout, thread_local=thread_local,
                                 **kwargs)

    # -- close -------------------------------------------------------------------------------
    def close(self, **kwargs: Any) -> None:
        """Django calls it after every request. Connections are kept (shared by the process), as
        Django's backend keeps them; with CLOSE_CONNECTION (django-redis's), the idle ones are closed."""
        if not self._close_connection or "_cache" not in self.__dict__:
            return
        client = self._cache
        if client._cluster:
            for node in client._leader.get_nodes():
                connection = node.redis_connection
                if connection is not None:
                    connection.connection_pool.disconnect(inuse_connections=False)
            return
        for pool in list(client._pools.values()):
            pool.disconnect(inuse_connections=False)

    async def aclose(self, **kwargs: Any) -> None:
        """``close`` for this event loop's connections (the sync pools too)."""
        self.close(**kwargs)
        if not self._close_connection or "_cache" not in self.__dict__:
            return
        loop, clients = self._cache._astate
        if loop is not asyncio.get_running_loop():
            return
        for client in list(clients.values()):
            pool = getattr(client, "connection_pool", None)
            if pool is not None:
                await pool.disconnect(inuse_connections=False)
                continue
            for node in client.get_nodes():  # redis.asyncio's RedisCluster: each node's idle connections
                for connection in list(getattr(node, "_free", ())):
                    await connection.disconnect()

    # -- django-redis's raw client access ----------------------------------------------------
    @property
    def client(self) -> DjangoRedisClient:
        """``cache.client.get_client(write=True)``, as django-redis code reaches the raw client."""
        return DjangoRedisClient(self)


class DjangoRedisClient:
    """The part of django-redis's ``cache.client`` that code outside the cache uses."""

    __slots__ = ("_cache",)

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def get_client(self, write: bool = True, tried: Any = None) -> Any:
        """The raw redis-py client: ``redis.Redis`` (the leader, or a replica for ``write=False``),
        or ``redis.cluster.RedisCluster`` on a cluster."""
        return self._cache._cache.get_client(write=write)

    def get_async_client(self, write: bool = True) -> Any:
        """The ``redis.asyncio`` client of the running event loop."""
        return self._cache._cache.get_async_client(write=write)


__all__ = ["OPERATIONS", "SCAN_COUNT", "DjangoRedisClient", "ExtrasMixin", "aset_if", "set_if"]
