"""The coherent local tier of ``RedisCache``: ``TieredClient`` wraps the cache's client.

``RedisCache._cache`` is a ``TieredClient`` when ``OPTIONS["LOCAL_CACHE"]`` is set, else the plain
``RedisCacheClient`` (nothing wrapped, nothing paid). The wrapper:

- serves ``get``/``get_many``/``has_key`` (and their async twins) from the process's
  ``LocalStore`` while the entry is fresh and the channel of the server it came from is live;
- on a miss, fetches ``GET`` and ``PTTL`` in one round trip on a connection of the same pools the
  client uses, and keeps the value (or the fact that the key is absent) until the server reports a
  write, the key's own expiry, or the ``ttl`` cap; only if the connection reached the server the
  channel listens to (after a Sentinel failover the two may differ for a moment);
- invalidates the keys of every write it passes on once the write returns, so the process
  reads its own writes at once (the server's message for that write comes a little later).

Everything else (``lock``, ``ttl``, ``scan_iter``, the client's internals read by ``RedisCache``)
is the wrapped client's, through ``__getattr__``; ``_lexec`` (the leader's execute_command, used by
the django-redis extras) drops the copy of the key it names. A write through ``_leader`` or
``_aleader()`` directly is still coherent (the server reports it, and a thread serving hits
applies reports at least every millisecond), but its own process may read the old value until
then: new write paths should call ``invalidate``.

One ``RedisTier`` (store + channels) per configuration and process, shared by every instance,
thread, event loop, and the sync and async paths; a forked child builds its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django_altcache.backends._shared.registry import ProcessRegistry
from django_altcache.backends.redis.protocol import RedisSerializer, Script
from django_altcache.conf.local import RedisLocalSettings

from .fetch import ABSENT, GET_PTTL, afetch, deadline, fetch
from .redis_tier import CLIENT_NAME, TIERS, RedisTier, server_prefixes, tier_for
from .store import MISSING, pack
from .tracking import Channel

__all__ = ["CLIENT_NAME", "TIERS", "RedisTier", "TieredClient", "wrap"]

_monotonic = time.monotonic
_READS = frozenset({"GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN"})
# Instances are made per thread (and per task under ASGI): finding the tier again from the
# same OPTIONS dict (parsed once per dict, see conf/spec.py) costs a dict lookup, not the pool keys.
_BY_CACHE: ProcessRegistry[tuple[Any, RedisTier]] = ProcessRegistry()


def wrap(client: Any, settings: RedisLocalSettings, cache: Any) -> TieredClient:
    parsed = cache._parsed
    key = (id(parsed), tuple(client._servers), cache.key_prefix, cache.version, cache.key_func,
           type(cache).make_key, type(client._serializer))
    found = _BY_CACHE.get(key, lambda: (parsed, _tier(client, settings, cache)),
                          stale=lambda value: value[0] is not parsed or value[1].defunct)
    return TieredClient(client, found[1])


def _tier(client: Any, settings: RedisLocalSettings, cache: Any) -> RedisTier:
    tier = tier_for(client, settings, server_prefixes(cache, settings.prefixes))
    tier.start()
    return tier


class TieredClient:
    """The client of one ``RedisCache`` instance with the local tier in front (see the module doc)."""

    def __init__(self, inner: Any, tier: RedisTier) -> None:
        self._inner = inner
        self._bind(tier)
        self._serializer = inner._serializer
        # The server's bytes are Django's pickle: a hit unpickles them, no second pickling.
        self._raw_is_pickle = type(self._serializer) is RedisSerializer
        self._errors = inner._errors
        self._cluster = inner._cluster
        self._replicated = inner._replicated

    def _bind(self, tier: RedisTier) -> None:
        self._tier = tier
        self._store = tier.store
        self._entries = tier.store.entries
        self._prefixes = tier.prefixes
        self._cap = tier.cap

    def _rebind(self) -> None:
        """The tier was left behind by a fork (or closed): take this process's."""
        tier = self._tier
        self._bind(tier_for(self._inner, tier.settings, tier.prefixes))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _lexec(self, *args: Any) -> Any:
        """The leader's execute_command, as the backend's extras call it (SET NX/XX, INCRBY,
        PEXPIRE...): a command naming a key drops this process's copy once it returns."""
        try:
            return self._inner._lexec(*args)
        finally:
            if len(args) > 1 and args[0] not in _READS:
                self._store.invalidate(args[1])

    @property
    def local(self) -> RedisTier:
        return self._tier

    def invalidate(self, keys: Iterable[str]) -> None:
        self._store.invalidate_many(keys)

    # -- reads: hits ---------------------------------------------------------------------
    # A hit: the entry is fresh, its channel is live, and what the server sent has been applied
    # (catch_up, at most every millisecond per channel; it may drop this very entry).
    def get(self, key: Any, default: Any) -> Any:
        entry = self._entries.get(key)
        if entry is not None:
            now = _monotonic()
            if now >= entry[3].check_at:
                entry = self._entries.get(key) if entry[3].catch_up(now) else None
            if entry is not None and now < entry[2] and now < entry[3].lease_until:
                payload, thaw = entry[0], entry[1]
                if thaw is None:
                    return default if payload is MISSING else payload
                return thaw(payload)
        return self._fill(key, default)

    async def aget(self, key: Any, default: Any) -> Any:
        entry = self._entries.get(key)
        if entry is not None:
            now = _monotonic()
            if now >= entry[3].check_at:
                entry = self._entries.get(key) if entry[3].catch_up(now) else None
            if entry is not None and now < entry[2] and now < entry[3].lease_until:
                payload, thaw = entry[0], entry[1]
                if thaw is None:
                    return default if payload is MISSING else payload
                return thaw(payload)
        return await self._afill(key, default)

    def _local_many(self, key_map: dict[Any, Any]) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """(hits keyed like ``key_map``'s values, the rest of ``key_map``)."""
        entries = self._entries
        found: dict[Any, Any] = {}
        missing: dict[Any, Any] = {}
        now = _monotonic()
        for made, key in key_map.items():
            entry = entries.get(made)
            if entry is not None and now >= entry[3].check_at:
                entry = entries.get(made) if entry[3].catch_up(now) else None
            if entry is not None and now < entry[2] and now < entry[3].lease_until:
                payload, thaw = entry[0], entry[1]
                if thaw is not None:
                    found[key] = thaw(payload)
                elif payload is not MISSING:
                    found[key] = payload
            else:
                missing[made] = key
        return found, missing

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return self.get_many_mapped({key: key for key in keys})

    def get_many_mapped(self, key_map: dict[Any, Any]) -> dict[Any, Any]:
        if not key_map:
            return {}
        found, missing = self._local_many(key_map)
        if missing:
            found.update(self._fill_many(missing))
        return found

    async def aget_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return await self.aget_many_mapped({key: key for key in keys})

    async def aget_many_mapped(self, key_map: dict[Any, Any]) -> dict[Any, Any]:
        if not key_map:
            return {}
        found, missing = self._local_many(key_map)
        if missing:
            found.update(await self._afill_many(missing))
        return found

    def _local_has(self, key: Any) -> bool | None:
        entry = self._entries.get(key)
        if entry is not None:
            now = _monotonic()
            if now >= entry[3].check_at:
                entry = self._entries.get(key) if entry[3].catch_up(now) else None
            if entry is not None and now < entry[2] and now < entry[3].lease_until:
                return entry[0] is not MISSING
        return None

    def has_key(self, key: Any) -> bool:
        found = self._local_has(key)
        return self._inner.has_key(key) if found is None else found

    async def ahas_key(self, key: Any) -> bool:
        found = self._local_has(key)
        return await self._inner.ahas_key(key) if found is None else found

    # -- reads: misses -----------------------------------------------------------------------
    def _kept(self, key: Any) -> bool:
        return isinstance(key, str) and key.startswith(self._prefixes)

    def _order(self) -> list[int]:
        return self._inner._read_order() if self._replicated else [0]

    def _channel(self, where: Any) -> Channel | None:
        """The live channel of ``where``, or None (then: read through, keep nothing).

        What the server already sent is applied first: after this process's own write, the
        server's report of it is usually waiting, and applied later it would withdraw the fill
        about to start (a second miss for nothing)."""
        if self._tier.defunct:
            self._rebind()
        channel = self._tier.channel(where)
        now = _monotonic()
        channel.catch_up(now)
        return channel if now < channel.lease_until else None

    def _fill(self, key: Any, default: Any) -> Any:
        if not self._kept(key):
            return self._inner.get(key, default)
        if self._cluster:
            return self._fill_cluster(key, default)
        error: BaseException | None = None
        inner = self._inner
        for index in self._order():
            channel = self._channel(index)
            if channel is None:
                return inner.get(key, default)
            store = self._store
            token = store.begin(key)
            started = _monotonic()
            try:
                (data, pttl), address = fetch(inner._pool_at(index), (("GET", key), ("PTTL", key)))
            except self._errors as exc:
                store.abandon(key, token)
                if not self._replicated:
                    raise
                inner._read_failed(index)
                error = exc
                continue
            except BaseException:
                store.abandon(key, token)
                raise
            return self._keep(key, token, data, pttl, started, channel, address, default)
        assert error is not None
        raise error

    async def _afill(self, key: Any, default: Any) -> Any:
        if not self._kept(key):
            return await self._inner.aget(key, default)
        if self._cluster:
            return await self._afill_cluster(key, default)
        error: BaseException | None = None
        inner = self._inner
        for index in self._order():
            channel = self._channel(index)
            if channel is None:
                return await inner.aget(key, default)
            store = self._store
            token = store.begin(key)
            started = _monotonic()
            try:
                (data, pttl), address = await afetch(inner._aclient_at(index).connection_pool,
                                                      (("GET", key), ("PTTL", key)))
            except self._errors as exc:
                store.abandon(key, token)
                if not self._replicated:
                    raise
                inner._read_failed(index)
                error = exc
                continue
            except BaseException:
                store.abandon(key, token)
                raise
            return await self._akeep(key, token, data, pttl, started, channel, address, default)
        assert error is not None
        raise error

    def _decide(self, key: Any, token: object, data: Any, pttl: Any, started: float, channel: Channel,
                address: Any) -> tuple[Any, bool]:
        """(the value, or MISSING; whether ``data`` is undecodable)."""
        store = self._store
        if data is None:
            if pttl == ABSENT and address == channel.address:
                store.finish(key, token, MISSING, None, 0, deadline(started, pttl, self._cap), channel)
            else:
                store.abandon(key, token)
            return MISSING, False
        try:
            value = self._serializer.loads(data)
        except Exception:  # noqa: BLE001 - the client's own path logs and drops it
            store.abandon(key, token)
            return MISSING, True
        packed = pack(value, data if self._raw_is_pickle and type(data) is bytes and data[:1] == b"\x80" else None)
        if packed is None or pttl == ABSENT or address != channel.address:
            store.abandon(key, token)  # gone meanwhile, or read from a server the channel is not on
        else:
            store.finish(key, token, *packed, deadline(started, pttl, self._cap), channel)
        return value, False

    def _keep(self, key: Any, token: object, data: Any, pttl: Any, started: float, channel: Channel,
              address: Any, default: Any) -> Any:
        value, corrupt = self._decide(key, token, data, pttl, started, channel, address)
        if corrupt:
            return self._inner._loads(key, data, default)
        return default if value is MISSING else value

    async def _akeep(self, key: Any, token: object, data: Any, pttl: Any, started: float, channel: Channel,
                     address: Any, default: Any) -> Any:
        value, corrupt = self._decide(key, token, data, pttl, started, channel, address)
        if corrupt:
            return await self._inner._aloads(key, data, default)
        return default if value is MISSING else value

    # cluster: the node from the slot map, before and after an atomic GET + PTTL script
    def _fill_cluster(self, key: Any, default: Any) -> Any:
        inner = self._inner
        cluster = inner._leader
        try:
            node = cluster.get_node_from_key(key)
        except Exception:  # noqa: BLE001 - no slot map yet: the client's own path says what is wrong
            return inner.get(key, default)
        where = (node.host, node.port)
        channel = self._channel(where)
        if channel is None:
            return inner.get(key, default)
        token = self._store.begin(key)
        started = _monotonic()
        try:
            data, pttl = inner._script(cluster, GET_PTTL, 1, key)
            after = cluster.get_node_from_key(key)
        except BaseException:
            self._store.abandon(key, token)
            raise
        address = channel.address if (after.host, after.port) == where else None
        return self._keep(key, token, data, pttl, started, channel, address, default)

    async def _afill_cluster(self, key: Any, default: Any) -> Any:
        inner = self._inner
        cluster = inner._aleader()
        try:
            node = inner._leader.get_node_from_key(key)
        except Exception:  # noqa: BLE001
            return await inner.aget(key, default)
        where = (node.host, node.port)
        channel = self._channel(where)
        if channel is None:
            return await inner.aget(key, default)
        token = self._store.begin(key)
        started = _monotonic()
        try:
            data, pttl = await inner._ascript(cluster, GET_PTTL, 1, key)
            after = inner._leader.get_node_from_key(key)
        except BaseException:
            self._store.abandon(key, token)
            raise
        address = channel.address if (after.host, after.port) == where else None
        return await self._akeep(key, token, data, pttl, started, channel, address, default)

    def _many_args(self, keys: list[Any]) -> tuple[tuple[Any, ...], ...]:
        return (("MGET", *keys), *(("PTTL", key) for key in keys))

    def _fill_many(self, missing: dict[Any, Any]) -> dict[Any, Any]:
        inner = self._inner
        kept = [made for made in missing if self._kept(made)]
        if self._cluster or not kept:
            return inner.get_many_mapped(missing)
        error: BaseException | None = None
        for index in self._order():
            channel = self._channel(index)
            if channel is None:
                return inner.get_many_mapped(missing)
            store = self._store
            tokens = {made: store.begin(made) for made in kept}
            started = _monotonic()
            keys = list(missing)
            try:
                replies, address = fetch(inner._pool_at(index), self._many_args(keys))
            except self._errors as exc:
                self._abandon_all(tokens)
                if not self._replicated:
                    raise
                inner._read_failed(index)
                error = exc
                continue
            except BaseException:
                self._abandon_all(tokens)
                raise
            result, corrupt = self._keep_many(missing, keys, replies, tokens, started, channel, address)
            for made, data in corrupt.items():
                inner._drop_corrupt(made, data)
            return result
        assert error is not None
        raise error

    async def _afill_many(self, missing: dict[Any, Any]) -> dict[Any, Any]:
        inner = self._inner
        kept = [made for made in missing if self._kept(made)]
        if self._cluster or not kept:
            return await inner.aget_many_mapped(missing)
        error: BaseException | None = None
        for index in self._order():
            channel = self._channel(index)
            if channel is None:
                return await inner.aget_many_mapped(missing)
            store = self._store
            tokens = {made: store.begin(made) for made in kept}
            started = _monotonic()
            keys = list(missing)
            try:
                replies, address = await afetch(inner._aclient_at(index).connection_pool, self._many_args(keys))
            except self._errors as exc:
                self._abandon_all(tokens)
                if not self._replicated:
                    raise
                inner._read_failed(index)
                error = exc
                continue
            except BaseException:
                self._abandon_all(tokens)
                raise
            result, corrupt = self._keep_many(missing, keys, replies, tokens, started, channel, address)
            for made, data in corrupt.items():
                try:
                    await inner._ascript(inner._aleader(), _delete_if_equal(), 1, made, data)
                except self._errors:
                    pass
            return result
        assert error is not None
        raise error

    def _abandon_all(self, tokens: dict[Any, object]) -> None:
        for made, token in tokens.items():
            self._store.abandon(made, token)

    def _keep_many(self, missing: dict[Any, Any], keys: list[Any], replies: list[Any], tokens: dict[Any, object],
                   started: float, channel: Channel, address: Any) -> tuple[dict[Any, Any], dict[Any, bytes]]:
        from django_altcache.backends.redis.protocol import log_corrupt

        values, pttls = replies[0], replies[1:]
        result: dict[Any, Any] = {}
        corrupt: dict[Any, bytes] = {}
        for made, data, pttl in zip(keys, values, pttls):
            token = tokens.get(made)
            if token is None:  # not kept locally: decode only
                if data is not None:
                    try:
                        result[missing[made]] = self._serializer.loads(data)
                    except Exception as exc:  # noqa: BLE001
                        log_corrupt(made, exc)
                        corrupt[made] = data
                continue
            value, bad = self._decide(made, token, data, pttl, started, channel, address)
            if bad:
                try:
                    self._serializer.loads(data)
                except Exception as exc:  # noqa: BLE001
                    log_corrupt(made, exc)
                corrupt[made] = data
            elif value is not MISSING:
                result[missing[made]] = value
        return result, corrupt

    # -- writes: this process's copies go once the write is done ------------------------------
    # After the write, not before: a read that runs while the write is in flight may return the
    # old value either way; what matters is that none does once the write has returned. The
    # invalidation withdraws the tokens of fills that may have read the old value, so they
    # cannot store it (the server's report of the write comes a little later and does the same
    # in every other process).
    def _write(self, keys: list[Any], call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        finally:
            self._store.invalidate_many(keys)

    async def _awrite(self, keys: list[Any], call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await call(*args)
        finally:
            self._store.invalidate_many(keys)

    def _flushing(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        finally:
            self._store.flush()

    async def _aflushing(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await call(*args)
        finally:
            self._store.flush()

    # The single-key writes are spelled out: they are the write path's whole cost.
    def add(self, key: Any, value: Any, timeout: int | None) -> bool:
        try:
            return self._inner.add(key, value, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    def set(self, key: Any, value: Any, timeout: int | None) -> None:
        try:
            self._inner.set(key, value, timeout)
        finally:
            self._store.invalidate(key)

    def touch(self, key: Any, timeout: int | None) -> bool:
        try:
            return self._inner.touch(key, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    def delete(self, key: Any) -> bool:
        try:
            return self._inner.delete(key)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    def incr(self, key: Any, delta: int) -> Any:
        try:
            return self._inner.incr(key, delta)
        finally:
            self._store.invalidate(key)

    def expire(self, key: Any, timeout: int | None) -> bool:
        try:
            return self._inner.expire(key, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    def persist(self, key: Any) -> bool:
        try:
            return self._inner.persist(key)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    def move(self, old: Any, new: Any) -> bool:
        return self._write([old, new], self._inner.move, old, new)  # type: ignore[no-any-return]

    def set_many(self, data: dict[Any, Any], timeout: int | None) -> None:
        self._write(list(data), self._inner.set_many, data, timeout)

    def delete_many(self, keys: Iterable[Any]) -> int:
        keys = list(keys)
        return self._write(keys, self._inner.delete_many, keys)  # type: ignore[no-any-return]

    def clear(self, pattern: str | None = None) -> bool:
        return self._flushing(self._inner.clear, pattern)  # type: ignore[no-any-return]

    def delete_pattern(self, pattern: str, count: int | None = None) -> int:
        return self._flushing(self._inner.delete_pattern, pattern, count)  # type: ignore[no-any-return]

    async def aadd(self, key: Any, value: Any, timeout: int | None) -> bool:
        try:
            return await self._inner.aadd(key, value, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    async def aset(self, key: Any, value: Any, timeout: int | None) -> None:
        try:
            await self._inner.aset(key, value, timeout)
        finally:
            self._store.invalidate(key)

    async def atouch(self, key: Any, timeout: int | None) -> bool:
        try:
            return await self._inner.atouch(key, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    async def adelete(self, key: Any) -> bool:
        try:
            return await self._inner.adelete(key)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    async def aincr(self, key: Any, delta: int) -> Any:
        try:
            return await self._inner.aincr(key, delta)
        finally:
            self._store.invalidate(key)

    async def aexpire(self, key: Any, timeout: int | None) -> bool:
        try:
            return await self._inner.aexpire(key, timeout)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    async def apersist(self, key: Any) -> bool:
        try:
            return await self._inner.apersist(key)  # type: ignore[no-any-return]
        finally:
            self._store.invalidate(key)

    async def amove(self, old: Any, new: Any) -> bool:
        return await self._awrite([old, new], self._inner.amove, old, new)  # type: ignore[no-any-return]

    async def aset_many(self, data: dict[Any, Any], timeout: int | None) -> None:
        await self._awrite(list(data), self._inner.aset_many, data, timeout)

    async def adelete_many(self, keys: Iterable[Any]) -> int:
        keys = list(keys)
        return await self._awrite(keys, self._inner.adelete_many, keys)  # type: ignore[no-any-return]

    async def aclear(self, pattern: str | None = None) -> bool:
        return await self._aflushing(self._inner.aclear, pattern)  # type: ignore[no-any-return]

    async def adelete_pattern(self, pattern: str, count: int | None = None) -> int:
        return await self._aflushing(self._inner.adelete_pattern, pattern, count)  # type: ignore[no-any-return]


def _delete_if_equal() -> Script:
    from django_altcache.backends.redis.protocol import DELETE_IF_EQUAL

    return DELETE_IF_EQUAL
