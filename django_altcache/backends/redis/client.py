"""The sync Redis client behind ``RedisCache._cache`` (Django's ``RedisCacheClient`` shape).

Keys arrive already made and validated, timeouts already converted by
``get_backend_timeout`` (None = forever, 0 = expire now, else whole seconds).
Pools come from the process-wide registry in ``pools``; the ``redis.Redis``
objects wrapping them are made once per instance, not per call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from pickle import loads as _pickle_loads
from typing import Any

from . import pools, protocol
from .aclient import AsyncClientMixin
from .build import REPLICA_RETRY_AFTER, build_cluster, build_pool, down_until, pool_key
from .options import Topology
from .protocol import DELETE_BATCH, INCR, SCAN_COUNT, SET_MANY, RedisSerializer, log_corrupt


def make_serializer(serializer: Any) -> Any:
    """As Django: a class (instantiated) or an instance (a dotted path is imported by the spec)."""
    if callable(serializer):
        serializer = serializer()
    return serializer or RedisSerializer()


class RedisCacheClient(AsyncClientMixin):
    def __init__(self, servers: list[str], topology: Topology, serializer: Any = None) -> None:
        import redis

        self._lib = redis
        self._client = topology.client_class or redis.Redis
        self._servers = list(servers)
        self._serializer = make_serializer(serializer)
        self._fast_pickle = type(self._serializer) is RedisSerializer and self._serializer.protocol >= 2
        self._topology = topology
        self._pool_class = topology.pool_class
        self._pool_options = topology.pool_options
        self._cluster = topology.kind == "cluster"
        self._replicated = topology.kind == "servers" and len(self._servers) > 1
        self._pools: dict[int, Any] = {}
        self._clients: dict[int, Any] = {}
        self._errors = (redis.ConnectionError, redis.TimeoutError)
        self._noscript = redis.exceptions.NoScriptError
        self._leader = self._client_at(0)
        self._lexec = self._leader.execute_command  # bound once: the hot path's one call
        # Subclasses may route by key (sharding) through _get_connection_pool_index.
        self._default_routing = (type(self)._get_connection_pool_index
                                 is RedisCacheClient._get_connection_pool_index)
        self._init_async()

    # -- Django's internals ---------------------------------------------------------
    def _get_connection_pool_index(self, write: bool) -> int:
        # Write to the first server; read from the others when there are any.
        if write or not self._replicated:
            return 0
        return random.randint(1, len(self._servers) - 1)

    def _get_connection_pool(self, write: bool) -> Any:
        return self._pool_at(self._get_connection_pool_index(write))

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if (write or not self._replicated) and self._default_routing:
            return self._leader
        return self._client_at(self._get_connection_pool_index(write))

    def _pool_at(self, index: int) -> Any:
        pool = self._pools.get(index)
        if pool is None:
            if self._cluster:
                pool = self._client_at(0).get_default_node().redis_connection.connection_pool
            else:
                topology = self._topology
                pool = pools.SYNC.get(pool_key(topology, index, False), topology.pool_options,
                                           lambda: build_pool(topology, index))
            self._pools[index] = pool
        return pool

    def _client_at(self, index: int) -> Any:
        client = self._clients.get(index)
        if client is None:
            topology = self._topology
            if self._cluster:
                client = pools.SYNC.get(pool_key(topology, 0, False), topology.pool_options,
                                             lambda: build_cluster(topology))
            else:
                # Shared too: redis.Redis() costs more than a round trip to build (its
                # response-callback table), and Django builds instances per request under ASGI.
                pool = self._pool_at(index)
                kwargs = topology.client_kwargs
                client = pools.SYNC.get(("client", self._client, id(pool), pools.freeze(kwargs)), pool,
                                        lambda: self._client(connection_pool=pool, **kwargs))
            self._clients[index] = client
        return client

    # -- routing --------------------------------------------------------------------
    def _read_order(self) -> list[int]:
        """Live replicas in random order, then the leader, then replicas that failed lately."""
        replicas = list(range(1, len(self._servers)))
        random.shuffle(replicas)
        now = time.monotonic()
        live = [i for i in replicas if down_until.get(self._servers[i], 0.0) <= now]
        dead = [i for i in replicas if i not in live]
        return [*live, 0, *dead]

    def _read_failed(self, index: int) -> None:
        """A replica that failed a read is skipped for a while; the leader never is."""
        if index:
            down_until[self._servers[index]] = time.monotonic() + REPLICA_RETRY_AFTER

    def _read(self, *args: Any) -> Any:
        if not self._replicated:
            return self._lexec(*args)
        error: BaseException | None = None
        for index in self._read_order():
            try:
                return self._client_at(index).execute_command(*args)
            except self._errors as exc:
                self._read_failed(index)
                error = exc
        assert error is not None
        raise error

    def _script(self, client: Any, script: protocol.Script, numkeys: int, *args: Any) -> Any:
        try:
            return client.execute_command("EVALSHA", script.sha, numkeys, *args)
        except self._noscript:
            return client.execute_command("EVAL", script.source, numkeys, *args)

    def _loads(self, key: Any, data: bytes, default: Any) -> Any:
        try:
            return self._serializer.loads(data)
        except Exception as exc:  # noqa: BLE001 - unreadable value = miss
            log_corrupt(key, exc)
            self._drop_corrupt(key, data)
            return default

    # -- cache operations -----------------------------------------------------------
    def add(self, key: Any, value: Any, timeout: int | None) -> bool:
        if timeout == 0:
            # Stored-then-expired: True exactly when the key was absent; one trip.
            return not self._lexec("EXISTS", key)
        value = self._serializer.dumps(value)
        if timeout is None:
            return bool(self._lexec("SET", key, value, "NX"))
        return bool(self._lexec("SET", key, value, "EX", timeout, "NX"))

    def get(self, key: Any, default: Any) -> Any:
        data = self._read("GET", key) if self._replicated else self._lexec("GET", key)
        if data is None:
            return default
        try:
            return self._serializer.loads(data)
        except Exception:  # noqa: BLE001
            return self._loads(key, data, default)

    def set(self, key: Any, value: Any, timeout: int | None) -> None:
        if timeout is None:
            self._lexec("SET", key, self._serializer.dumps(value))
        elif timeout:
            self._lexec("SET", key, self._serializer.dumps(value), "EX", timeout)
        else:
            self._lexec("DEL", key)

    def touch(self, key: Any, timeout: int | None) -> bool:
        if timeout is None:
            return bool(self._lexec("PERSIST", key))
        return bool(self._lexec("EXPIRE", key, timeout))

    def delete(self, key: Any) -> bool:
        return bool(self._lexec("DEL", key))

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        # Django's RedisCacheClient API, kept for code written against it; the backend calls
        # get_many_mapped (one pass from made keys to the caller's keys).
        return self.get_many_mapped({key: key for key in keys})

    def get_many_mapped(self, key_map: dict[Any, Any]) -> dict[Any, Any]:
        """MGET the made keys of ``key_map``; the result is keyed by its values."""
        if not key_map:
            return {}
        if self._cluster:
            values = self._leader.mget_nonatomic(list(key_map))
        elif self._replicated:
            values = self._read("MGET", *key_map)
        else:
            values = self._lexec("MGET", *key_map)
        corrupt: dict[Any, bytes] = {}
        result = self._decode_many(key_map, values, corrupt)
        for made, data in corrupt.items():
            self._drop_corrupt(made, data)
        return result

    def _decode_many(self, key_map: dict[Any, Any], values: list[Any], corrupt: dict[Any, bytes]) -> dict[Any, Any]:
        """Decode MGET replies (no I/O, shared with the async twin); undecodable ones are
        logged and collected in ``corrupt`` (made key -> bytes) for the caller to drop."""
        loads = self._serializer.loads
        result = {}
        if self._fast_pickle:
            # Django's format, decoded inline: pickles start with the PROTO opcode.
            for (made, key), data in zip(key_map.items(), values):
                if data is not None:
                    try:
                        result[key] = _pickle_loads(data) if data[0] == 0x80 else loads(data)
                    except Exception as exc:  # noqa: BLE001 - unreadable value = miss
                        log_corrupt(made, exc)
                        corrupt[made] = data
        else:
            for (made, key), data in zip(key_map.items(), values):
                if data is not None:
                    try:
                        result[key] = loads(data)
                    except Exception as exc:  # noqa: BLE001
                        log_corrupt(made, exc)
                        corrupt[made] = data
        return result

    def _drop_corrupt(self, key: Any, data: bytes) -> None:
        try:
            self._script(self._leader, protocol.DELETE_IF_EQUAL, 1, key, data)
        except self._errors:
            pass

    def has_key(self, key: Any) -> bool:
        return bool(self._read("EXISTS", key) if self._replicated else self._lexec("EXISTS", key))

    def incr(self, key: Any, delta: int) -> Any:
        client = self.get_client(key, write=True)
        value = self._script(client, INCR, 1, key, delta)
        if value is None:
            raise protocol.missing_key(key)
        return value

    def move(self, old: Any, new: Any) -> bool:
        """Give ``old``'s value and remaining TTL to ``new``, then drop ``old``; False if missing."""
        if not self._cluster:
            return self._script(self._leader, protocol.MOVE, 2, old, new) is not None
        # The two keys may sit in different slots (nodes): no script, but the TTL is kept.
        leader = self._leader
        value, ttl = leader.get(old), leader.pttl(old)
        if value is None:
            return False
        leader.set(new, value, px=ttl if ttl > 0 else None)
        if new != old:
            leader.delete(old)
        return True

    def set_many(self, data: dict[Any, Any], timeout: int | None) -> None:
        if not data:
            return
        if timeout == 0:
            self.delete_many(list(data))
            return
        dumps = self._serializer.dumps
        if timeout is None:
            mapping = {key: dumps(value) for key, value in data.items()}
            if self._cluster:
                self._leader.mset_nonatomic(mapping)
            else:
                self._leader.mset(mapping)
        elif self._cluster:
            pipe = self._leader.pipeline(transaction=False)
            for key, value in data.items():
                pipe.set(key, dumps(value), ex=timeout)
            pipe.execute()
        else:
            # One command for all keys and their expiry, applied atomically.
            args = [*data, *[dumps(value) for value in data.values()], timeout]
            self._script(self._leader, SET_MANY, len(data), *args)

    def delete_many(self, keys: Iterable[Any]) -> int:
        keys = list(keys)
        if not keys:
            return 0
        if self._cluster:
            return int(self._leader.delete(*keys))
        return int(self._lexec("DEL", *keys))

    def clear(self, pattern: str | None = None) -> bool:
        if pattern is not None:
            self.delete_pattern(pattern)
            return True
        return bool(self._leader.flushdb())

    # -- extras (django-redis names) ------------------------------------------------
    def ttl(self, key: Any) -> int | None:
        return protocol.ttl_reply(self._lexec("TTL", key))

    def expire(self, key: Any, timeout: int | None) -> bool:
        if timeout is None:
            return self.persist(key)
        return bool(self._lexec("EXPIRE", key, timeout))

    def persist(self, key: Any) -> bool:
        return bool(self._lexec("PERSIST", key))

    def lock(self, key: Any, **kwargs: Any) -> Any:
        return self._leader.lock(key, **kwargs)

    def scan_iter(self, pattern: str, count: int | None = None) -> Iterator[Any]:
        return self._leader.scan_iter(match=pattern, count=count or SCAN_COUNT)

    def delete_pattern(self, pattern: str, count: int | None = None) -> int:
        deleted = 0
        batch: list[Any] = []
        for key in self.scan_iter(pattern, count):
            batch.append(key)
            if len(batch) >= DELETE_BATCH:
                deleted += self.delete_many(batch)
                batch = []
        if batch:
            deleted += self.delete_many(batch)
        return deleted
