"""The asyncio twin of ``client.RedisCacheClient``: same commands, over redis.asyncio.

Mixed into the client class so ``cache._cache`` serves both; the sync methods never
touch an event loop and these never block one. Clients (and their pools) are per
event loop, taken from ``pools.ASYNC``; the last loop's clients are cached on
the instance so the hot path is one identity check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from . import pools, protocol
from .build import build_async, pool_key
from .options import Topology
from .protocol import DELETE_BATCH, INCR, SCAN_COUNT, SET_MANY, log_corrupt


class AsyncClientMixin:
    _topology: Topology
    _servers: list[str]
    _serializer: Any
    _cluster: bool
    _replicated: bool
    _errors: tuple[type[BaseException], ...]
    _noscript: type[BaseException]
    _default_routing: bool

    def _init_async(self) -> None:
        # (loop, {server index: client}) in ONE attribute, replaced whole: an instance
        # shared by threads running different loops never pairs a loop with another's clients.
        self._astate: tuple[asyncio.AbstractEventLoop | None, dict[int, Any]] = (None, {})

    # -- per-loop clients -----------------------------------------------------------
    def _aclient_at(self, index: int) -> Any:
        loop = asyncio.get_running_loop()
        state = self._astate
        if state[0] is not loop:
            state = self._astate = (loop, {})
        clients = state[1]
        client = clients.get(index)
        if client is None:
            topology = self._topology
            registry = pools.ASYNC.for_loop(loop)
            key = pool_key(topology, 0 if self._cluster else index, True)
            client = registry.get(key)
            if client is None:
                client = registry.setdefault(key, build_async(topology, index))
            clients[index] = client
        return client

    def _aleader(self) -> Any:
        state = self._astate
        if state[0] is asyncio.get_running_loop():
            client = state[1].get(0)
            if client is not None:
                return client
        return self._aclient_at(0)

    def get_async_client(self, key: Any = None, *, write: bool = False) -> Any:
        """The ``redis.asyncio.Redis`` for this event loop (the twin of ``get_client``)."""
        return self._aclient_at(self._get_connection_pool_index(write))  # type: ignore[attr-defined]

    async def _aread(self, *args: Any) -> Any:
        if not self._replicated:
            return await self._aleader().execute_command(*args)
        error: BaseException | None = None
        for index in self._read_order():  # type: ignore[attr-defined]
            try:
                return await self._aclient_at(index).execute_command(*args)
            except self._errors as exc:
                self._read_failed(index)  # type: ignore[attr-defined]
                error = exc
        assert error is not None
        raise error

    async def _ascript(self, client: Any, script: protocol.Script, numkeys: int, *args: Any) -> Any:
        try:
            return await client.execute_command("EVALSHA", script.sha, numkeys, *args)
        except self._noscript:
            return await client.execute_command("EVAL", script.source, numkeys, *args)

    async def _aloads(self, key: Any, data: bytes, default: Any) -> Any:
        try:
            return self._serializer.loads(data)
        except Exception as exc:  # noqa: BLE001 - unreadable value = miss
            log_corrupt(key, exc)
            try:
                await self._ascript(self._aleader(), protocol.DELETE_IF_EQUAL, 1, key, data)
            except self._errors:
                pass
            return default

    # -- cache operations -----------------------------------------------------------
    async def aadd(self, key: Any, value: Any, timeout: int | None) -> bool:
        client = self._aleader()
        if timeout == 0:
            return not await client.execute_command("EXISTS", key)
        value = self._serializer.dumps(value)
        if timeout is None:
            return bool(await client.execute_command("SET", key, value, "NX"))
        return bool(await client.execute_command("SET", key, value, "EX", timeout, "NX"))

    async def aget(self, key: Any, default: Any) -> Any:
        if self._replicated:
            data = await self._aread("GET", key)
        else:
            data = await self._aleader().execute_command("GET", key)
        if data is None:
            return default
        try:
            return self._serializer.loads(data)
        except Exception:  # noqa: BLE001
            return await self._aloads(key, data, default)

    async def aset(self, key: Any, value: Any, timeout: int | None) -> None:
        client = self._aleader()
        if timeout == 0:
            await client.execute_command("DEL", key)
        elif timeout is None:
            await client.execute_command("SET", key, self._serializer.dumps(value))
        else:
            await client.execute_command("SET", key, self._serializer.dumps(value), "EX", timeout)

    async def atouch(self, key: Any, timeout: int | None) -> bool:
        if timeout is None:
            return bool(await self._aleader().execute_command("PERSIST", key))
        return bool(await self._aleader().execute_command("EXPIRE", key, timeout))

    async def adelete(self, key: Any) -> bool:
        return bool(await self._aleader().execute_command("DEL", key))

    async def aget_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        # The twin of get_many, kept for the same reason; the backend calls aget_many_mapped.
        return await self.aget_many_mapped({key: key for key in keys})

    async def aget_many_mapped(self, key_map: dict[Any, Any]) -> dict[Any, Any]:
        if not key_map:
            return {}
        if self._cluster:
            values = await self._aleader().mget_nonatomic(list(key_map))
        elif self._replicated:
            values = await self._aread("MGET", *key_map)
        else:
            values = await self._aleader().execute_command("MGET", *key_map)
        corrupt: dict[Any, bytes] = {}
        # Decoding is the sync client's (no I/O); only the clean-up is awaited here.
        result = self._decode_many(key_map, values, corrupt)  # type: ignore[attr-defined]
        for made, data in corrupt.items():
            try:
                await self._ascript(self._aleader(), protocol.DELETE_IF_EQUAL, 1, made, data)
            except self._errors:
                pass
        return result

    async def ahas_key(self, key: Any) -> bool:
        return bool(await self._aread("EXISTS", key))

    async def aincr(self, key: Any, delta: int) -> Any:
        # As the sync incr: through get_async_client, so a subclass routing by key is honoured.
        client = self._aleader() if self._default_routing else self.get_async_client(key, write=True)
        value = await self._ascript(client, INCR, 1, key, delta)
        if value is None:
            raise protocol.missing_key(key)
        return value

    async def amove(self, old: Any, new: Any) -> bool:
        client = self._aleader()
        if not self._cluster:
            return await self._ascript(client, protocol.MOVE, 2, old, new) is not None
        value, ttl = await client.get(old), await client.pttl(old)
        if value is None:
            return False
        await client.set(new, value, px=ttl if ttl > 0 else None)
        if new != old:
            await client.delete(old)
        return True

    async def aset_many(self, data: dict[Any, Any], timeout: int | None) -> None:
        if not data:
            return
        if timeout == 0:
            await self.adelete_many(list(data))
            return
        client = self._aleader()
        dumps = self._serializer.dumps
        if timeout is None:
            mapping = {key: dumps(value) for key, value in data.items()}
            if self._cluster:
                await client.mset_nonatomic(mapping)
            else:
                await client.mset(mapping)
        elif self._cluster:
            pipe = client.pipeline(transaction=False)
            for key, value in data.items():
                pipe.set(key, dumps(value), ex=timeout)
            await pipe.execute()
        else:
            args = [*data, *[dumps(value) for value in data.values()], timeout]
            await self._ascript(client, SET_MANY, len(data), *args)

    async def adelete_many(self, keys: Iterable[Any]) -> int:
        keys = list(keys)
        if not keys:
            return 0
        if self._cluster:
            return int(await self._aleader().delete(*keys))
        return int(await self._aleader().execute_command("DEL", *keys))

    async def aclear(self, pattern: str | None = None) -> bool:
        if pattern is not None:
            await self.adelete_pattern(pattern)
            return True
        return bool(await self._aleader().flushdb())

    # -- extras ---------------------------------------------------------------------
    async def attl(self, key: Any) -> int | None:
        return protocol.ttl_reply(await self._aleader().execute_command("TTL", key))

    async def aexpire(self, key: Any, timeout: int | None) -> bool:
        if timeout is None:
            return await self.apersist(key)
        return bool(await self._aleader().execute_command("EXPIRE", key, timeout))

    async def apersist(self, key: Any) -> bool:
        return bool(await self._aleader().execute_command("PERSIST", key))

    def alock(self, key: Any, **kwargs: Any) -> Any:
        return self._aleader().lock(key, **kwargs)

    async def ascan_iter(self, pattern: str, count: int | None = None) -> AsyncIterator[Any]:
        async for key in self._aleader().scan_iter(match=pattern, count=count or SCAN_COUNT):
            yield key

    async def adelete_pattern(self, pattern: str, count: int | None = None) -> int:
        deleted = 0
        batch: list[Any] = []
        async for key in self.ascan_iter(pattern, count):
            batch.append(key)
            if len(batch) >= DELETE_BATCH:
                deleted += await self.adelete_many(batch)
                batch = []
        if batch:
            deleted += await self.adelete_many(batch)
        return deleted
