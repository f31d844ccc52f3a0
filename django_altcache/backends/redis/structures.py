"""Hashes, sets and sorted sets on ``RedisCache``: django-redis's methods, signatures, key
versioning and stored bytes, each with an async twin, on every topology.

Each operation is written once as a *plan*: the redis-py call to make on a client and what to
do with its reply. redis-py's sync and asyncio clients (and their Cluster variants) share method
names, so the same plan runs on ``redis.Redis`` (its reply) and on ``redis.asyncio.Redis`` (a
coroutine, awaited by the twin). Reads go to a replica when there are some, falling back to
another replica or the leader as ``get`` does; writes go to the leader.

Set and sorted-set members are compared by Redis byte for byte, so they must be stored exactly as
django-redis stores them for data written by one to be found by the other: ``MemberCodec`` is the
one place that encodes and decodes every member and value of these structures.

On a Cluster, the commands over several keys (``sdiff``, ``sinter``, ``sunion``, their ``store``
variants, ``smove``) run natively when the keys share a hash slot (a ``{tag}`` in the keys), and
otherwise read each set and combine them here; the ``store`` variants and ``smove`` are then two
steps, not atomic.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from .._shared.guard import READ, WRITE, Op, constant
from .protocol import RedisSerializer

if TYPE_CHECKING:  # the mixin sees RedisCache's API; at run time it adds no base
    from django.core.cache.backends.base import BaseCache

    from .client import RedisCacheClient

    class _Base(BaseCache):
        _cache: RedisCacheClient
else:
    _Base = object

Plan = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _identity(reply: Any) -> Any:
    return reply


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class MemberCodec:
    """Encodes and decodes the members and values of hashes, sets and sorted sets.

    With the default serializer it writes django-redis's bytes: an int (not a bool or an Enum) raw,
    so Redis can count with it, unless ``allow_int`` is False (sorted-set members, always
    serialized); anything else pickled with ``pickle.DEFAULT_PROTOCOL`` (django-redis's
    PickleSerializer). Plain cache values keep Django's highest protocol: both read either, but
    members must match byte for byte. A serializer with ``dumps_member(value, allow_int=...)``
    (the codec layer's, e.g. django-redis's JSON or a compressor) decides itself; any other
    serializer's ``dumps`` is used as is. Decoding is always the serializer's ``loads``.
    """

    __slots__ = ("_serializer", "_default", "loads")

    def __init__(self, serializer: Any) -> None:
        self._serializer = serializer
        self._default = type(serializer) is RedisSerializer
        self.loads: Callable[[Any], Any] = serializer.loads

    def dumps(self, value: Any, allow_int: bool = True) -> Any:
        if self._default:
            if allow_int and isinstance(value, int) and not isinstance(value, (bool, Enum)):
                return value
            return pickle.dumps(value, pickle.DEFAULT_PROTOCOL)
        member = getattr(self._serializer, "dumps_member", None)
        if member is not None:
            return member(value, allow_int=allow_int)
        data = self._serializer.dumps(value)
        if isinstance(data, int) and not allow_int:
            return str(data).encode()
        return data

    def loads_or_none(self, data: Any) -> Any:
        return None if data is None else self.loads(data)


def _zero(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 0


def _no_members(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[bool]:
    return [False] * max(0, len(args) - 1)


def _popped(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    count = kwargs.get("count", args[1] if len(args) > 1 else None)
    return None if count is None else []


def _empty_set(args: tuple[Any, ...], kwargs: dict[str, Any]) -> set[Any]:
    return set()


def _spop_fallback(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    count = kwargs.get("count", args[1] if len(args) > 1 else None)
    return None if count is None else set()


# Fail-soft answers (IGNORE_EXCEPTIONS) while Redis cannot be reached: reads miss (empty), writes
# report that nothing changed. Declared to the guard by RedisCache.operations.
OPERATIONS: dict[str, Op] = {
    **{name: Op(WRITE, _zero) for name in ("hset", "hdel", "sadd", "srem", "sdiffstore", "sinterstore",
                                           "sunionstore", "zadd", "zrem", "zremrangebyscore")},
    **{name: Op(READ, _zero) for name in ("hlen", "scard", "zcard", "zcount")},
    **{name: Op(READ, _empty_set) for name in ("sdiff", "sinter", "sunion", "smembers", "sscan")},
    **{name: Op(READ, constant([])) for name in ("hkeys", "zrange", "zrangebyscore", "zrevrange",
                                                 "zrevrangebyscore")},
    **{name: Op(READ, constant(None)) for name in ("hget", "zscore", "zrank")},
    **{name: Op(READ, constant(False)) for name in ("hexists", "sismember")},
    "hgetall": Op(READ, constant({})),
    "smismember": Op(READ, _no_members),
    "smove": Op(WRITE, constant(False)),
    "spop": Op(WRITE, _spop_fallback),
    "srandmember": Op(READ, _popped),
    "zincrby": Op(WRITE, constant(None)),
    "zpopmax": Op(WRITE, _popped),
    "zpopmin": Op(WRITE, _popped),
}

_COMBINE: dict[str, Callable[[list[set[bytes]]], set[bytes]]] = {
    "sdiff": lambda sets: sets[0].difference(*sets[1:]),
    "sinter": lambda sets: sets[0].intersection(*sets[1:]),
    "sunion": lambda sets: set().union(*sets),
}


class StructuresMixin(_Base):
    """django-redis's hash, set and sorted-set methods (mixed into ``RedisCache``)."""

    _members_codec: MemberCodec | None = None

    @property
    def _members(self) -> MemberCodec:
        codec = self._members_codec
        if codec is None or codec._serializer is not self._cache._serializer:
            codec = self._members_codec = MemberCodec(self._cache._serializer)
        return codec

    def _made(self, key: Any, version: int | None) -> str:
        return self.make_and_validate_key(key, version=version)

    # -- running plans ------------------------------------------------------------------------
    def _write(self, plan: Plan) -> Any:
        call, then = plan
        return then(call(self._cache._leader))

    def _read(self, plan: Plan) -> Any:
        call, then = plan
        client = self._cache
        if not client._replicated:
            return then(call(client._leader))
        error: BaseException | None = None
        for index in client._read_order():
            try:
                reply = call(client._client_at(index))
            except client._errors as exc:
                client._read_failed(index)
                error = exc
            else:
                return then(reply)
        assert error is not None
        raise error

    async def _awrite(self, plan: Plan) -> Any:
        call, then = plan
        return then(await call(self._cache._aleader()))

    async def _aread(self, plan: Plan) -> Any:
        call, then = plan
        client = self._cache
        if not client._replicated:
            return then(await call(client._aleader()))
        error: BaseException | None = None
        for index in client._read_order():
            try:
                reply = await call(client._aclient_at(index))
            except client._errors as exc:
                client._read_failed(index)
                error = exc
            else:
                return then(reply)
        assert error is not None
        raise error

    # -- hashes (field names are stored as given; values encoded) --------------------------------
    def _hset(self, key: Any, field: Any, value: Any, mapping: Mapping[Any, Any] | None, version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = dumps(value) if value is not None else None
        pairs = {name: dumps(item) for name, item in mapping.items()} if mapping is not None else None
        return (lambda c: c.hset(made, key=field, value=encoded, mapping=pairs)), int

    def hset(self, key: Any, field: Any = None, value: Any = None, mapping: Mapping[Any, Any] | None = None,
             version: int | None = None) -> int:
        """Set ``field`` to ``value`` (and/or every pair of ``mapping``); returns how many fields were added."""
        return self._write(self._hset(key, field, value, mapping, version))  # type: ignore[no-any-return]

    async def ahset(self, key: Any, field: Any = None, value: Any = None, mapping: Mapping[Any, Any] | None = None,
                    version: int | None = None) -> int:
        return await self._awrite(self._hset(key, field, value, mapping, version))  # type: ignore[no-any-return]

    def _hget(self, key: Any, field: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.hget(made, field)), self._members.loads_or_none

    def hget(self, key: Any, field: Any, version: int | None = None) -> Any:
        """The value of ``field``, or None."""
        return self._read(self._hget(key, field, version))

    async def ahget(self, key: Any, field: Any, version: int | None = None) -> Any:
        return await self._aread(self._hget(key, field, version))

    def _hgetall(self, key: Any, version: int | None) -> Plan:
        made, loads = self._made(key, version), self._members.loads
        return (lambda c: c.hgetall(made)), (lambda reply: {_text(name): loads(item) for name, item in reply.items()})

    def hgetall(self, key: Any, version: int | None = None) -> dict[str, Any]:
        """Every field (as str) and its value; {} for a missing key."""
        return self._read(self._hgetall(key, version))  # type: ignore[no-any-return]

    async def ahgetall(self, key: Any, version: int | None = None) -> dict[str, Any]:
        return await self._aread(self._hgetall(key, version))  # type: ignore[no-any-return]

    def _hdel(self, key: Any, field: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.hdel(made, field)), int

    def hdel(self, key: Any, field: Any, version: int | None = None) -> int:
        """Remove ``field``; returns how many fields were removed (0 or 1)."""
        return self._write(self._hdel(key, field, version))  # type: ignore[no-any-return]

    async def ahdel(self, key: Any, field: Any, version: int | None = None) -> int:
        return await self._awrite(self._hdel(key, field, version))  # type: ignore[no-any-return]

    def _hlen(self, key: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.hlen(made)), int

    def hlen(self, key: Any, version: int | None = None) -> int:
        return self._read(self._hlen(key, version))  # type: ignore[no-any-return]

    async def ahlen(self, key: Any, version: int | None = None) -> int:
        return await self._aread(self._hlen(key, version))  # type: ignore[no-any-return]

    def _hkeys(self, key: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.hkeys(made)), (lambda reply: [_text(name) for name in reply])

    def hkeys(self, key: Any, version: int | None = None) -> list[str]:
        """The field names, as str."""
        return self._read(self._hkeys(key, version))  # type: ignore[no-any-return]

    async def ahkeys(self, key: Any, version: int | None = None) -> list[str]:
        return await self._aread(self._hkeys(key, version))  # type: ignore[no-any-return]

    def _hexists(self, key: Any, field: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.hexists(made, field)), bool

    def hexists(self, key: Any, field: Any, version: int | None = None) -> bool:
        return self._read(self._hexists(key, field, version))  # type: ignore[no-any-return]

    async def ahexists(self, key: Any, field: Any, version: int | None = None) -> bool:
        return await self._aread(self._hexists(key, field, version))  # type: ignore[no-any-return]

    # -- sets ---------------------------------------------------------------------------------
    def _decode_set(self, reply: Iterable[Any]) -> set[Any]:
        loads = self._members.loads
        return {loads(item) for item in reply}

    def _sadd(self, key: Any, values: tuple[Any, ...], version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = [dumps(value) for value in values]
        return (lambda c: c.sadd(made, *encoded)), int

    def sadd(self, key: Any, *values: Any, version: int | None = None) -> int:
        """Add members; returns how many were not there yet."""
        return self._write(self._sadd(key, values, version))  # type: ignore[no-any-return]

    async def asadd(self, key: Any, *values: Any, version: int | None = None) -> int:
        return await self._awrite(self._sadd(key, values, version))  # type: ignore[no-any-return]

    def _scard(self, key: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.scard(made)), int

    def scard(self, key: Any, version: int | None = None) -> int:
        return self._read(self._scard(key, version))  # type: ignore[no-any-return]

    async def ascard(self, key: Any, version: int | None = None) -> int:
        return await self._aread(self._scard(key, version))  # type: ignore[no-any-return]

    def _smismember(self, key: Any, members: tuple[Any, ...], version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = [dumps(member) for member in members]
        return (lambda c: c.smismember(made, *encoded)), (lambda reply: [bool(found) for found in reply])

    def smismember(self, key: Any, *members: Any, version: int | None = None) -> list[bool]:
        return self._read(self._smismember(key, members, version))  # type: ignore[no-any-return]

    async def asmismember(self, key: Any, *members: Any, version: int | None = None) -> list[bool]:
        return await self._aread(self._smismember(key, members, version))  # type: ignore[no-any-return]

    def _sismember(self, key: Any, member: Any, version: int | None) -> Plan:
        made, encoded = self._made(key, version), self._members.dumps(member)
        return (lambda c: c.sismember(made, encoded)), bool

    def sismember(self, key: Any, member: Any, version: int | None = None) -> bool:
        return self._read(self._sismember(key, member, version))  # type: ignore[no-any-return]

    async def asismember(self, key: Any, member: Any, version: int | None = None) -> bool:
        return await self._aread(self._sismember(key, member, version))  # type: ignore[no-any-return]

    def _smembers(self, key: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.smembers(made)), self._decode_set

    def smembers(self, key: Any, version: int | None = None) -> set[Any]:
        return self._read(self._smembers(key, version))  # type: ignore[no-any-return]

    async def asmembers(self, key: Any, version: int | None = None) -> set[Any]:
        return await self._aread(self._smembers(key, version))  # type: ignore[no-any-return]

    def _decode_popped(self, reply: Any, as_set: bool) -> Any:
        if reply is None:
            return None
        if isinstance(reply, list):
            loads = self._members.loads
            return {loads(item) for item in reply} if as_set else [loads(item) for item in reply]
        return self._members.loads(reply)

    def _spop(self, key: Any, count: int | None, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.spop(made, count)), (lambda reply: self._decode_popped(reply, True))

    def spop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """Remove and return a random member (None if empty), or a set of ``count`` of them."""
        return self._write(self._spop(key, count, version))

    async def aspop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._awrite(self._spop(key, count, version))

    def _srandmember(self, key: Any, count: int | None, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.srandmember(made, count)), (lambda reply: self._decode_popped(reply, False))

    def srandmember(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """A random member (None if empty), or a list of ``count`` of them (negative: may repeat)."""
        return self._read(self._srandmember(key, count, version))

    async def asrandmember(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._aread(self._srandmember(key, count, version))

    def _srem(self, key: Any, members: tuple[Any, ...], version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = [dumps(member) for member in members]
        return (lambda c: c.srem(made, *encoded)), int

    def srem(self, key: Any, *members: Any, version: int | None = None) -> int:
        return self._write(self._srem(key, members, version))  # type: ignore[no-any-return]

    async def asrem(self, key: Any, *members: Any, version: int | None = None) -> int:
        return await self._awrite(self._srem(key, members, version))  # type: ignore[no-any-return]

    def _sscan(self, key: Any, match: Any, count: int | None, version: int | None) -> Plan:
        made = self._made(key, version)
        pattern = self._members.dumps(match) if match else None  # django-redis encodes the pattern too
        return (lambda c: c.sscan(made, match=pattern, count=count)), (lambda reply: self._decode_set(reply[1]))

    def sscan(self, key: Any, match: Any = None, count: int | None = 10, version: int | None = None) -> set[Any]:
        """One SSCAN page from the start (django-redis's), decoded."""
        return self._read(self._sscan(key, match, count, version))  # type: ignore[no-any-return]

    async def asscan(self, key: Any, match: Any = None, count: int | None = 10,
                     version: int | None = None) -> set[Any]:
        return await self._aread(self._sscan(key, match, count, version))  # type: ignore[no-any-return]

    def sscan_iter(self, key: Any, match: Any = None, count: int | None = 10,
                   version: int | None = None) -> Iterator[Any]:
        """Every member, walked with SSCAN (on one reader: a failure mid-way raises)."""
        made, codec = self._made(key, version), self._members
        pattern = codec.dumps(match) if match else None
        for item in self._cache.get_client(made, write=False).sscan_iter(made, match=pattern, count=count):
            yield codec.loads(item)

    async def asscan_iter(self, key: Any, match: Any = None, count: int | None = 10,
                          version: int | None = None) -> AsyncIterator[Any]:
        made, codec = self._made(key, version), self._members
        pattern = codec.dumps(match) if match else None
        async for item in self._cache.get_async_client(made, write=False).sscan_iter(made, match=pattern,
                                                                                     count=count):
            yield codec.loads(item)

    # Several keys: one command, unless they span hash slots of a Cluster.
    def _spans_slots(self, made: list[str]) -> bool:
        if not self._cache._cluster or len(made) < 2:
            return False
        from redis.cluster import key_slot

        return len({key_slot(key.encode()) for key in made}) > 1

    def _algebra(self, op: str, made: list[str]) -> set[bytes]:
        if not self._spans_slots(made):
            return self._read(((lambda c: getattr(c, op)(*made)), set))  # type: ignore[no-any-return]
        leader = self._cache._leader
        return _COMBINE[op]([set(leader.smembers(key)) for key in made])

    async def _aalgebra(self, op: str, made: list[str]) -> set[bytes]:
        if not self._spans_slots(made):
            return await self._aread(((lambda c: getattr(c, op)(*made)), set))  # type: ignore[no-any-return]
        leader = self._cache._aleader()
        return _COMBINE[op]([set(await leader.smembers(key)) for key in made])

    def _store(self, op: str, dest: str, made: list[str]) -> int:
        if not self._spans_slots([dest, *made]):
            return int(getattr(self._cache._leader, op + "store")(dest, *made))
        members = self._algebra(op, made)
        leader = self._cache._leader
        leader.delete(dest)
        if members:
            leader.sadd(dest, *members)
        return len(members)

    async def _astore(self, op: str, dest: str, made: list[str]) -> int:
        if not self._spans_slots([dest, *made]):
            return int(await getattr(self._cache._aleader(), op + "store")(dest, *made))
        members = await self._aalgebra(op, made)
        leader = self._cache._aleader()
        await leader.delete(dest)
        if members:
            await leader.sadd(dest, *members)
        return len(members)

    def _keys(self, keys: tuple[Any, ...], version: int | None) -> list[str]:
        return [self._made(key, version) for key in keys]

    def sdiff(self, *keys: Any, version: int | None = None) -> set[Any]:
        """Members of the first set that are in none of the others."""
        return self._decode_set(self._algebra("sdiff", self._keys(keys, version)))

    async def asdiff(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._decode_set(await self._aalgebra("sdiff", self._keys(keys, version)))

    def sinter(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._decode_set(self._algebra("sinter", self._keys(keys, version)))

    async def asinter(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._decode_set(await self._aalgebra("sinter", self._keys(keys, version)))

    def sunion(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._decode_set(self._algebra("sunion", self._keys(keys, version)))

    async def asunion(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._decode_set(await self._aalgebra("sunion", self._keys(keys, version)))

    def sdiffstore(self, dest: Any, *keys: Any, version_dest: int | None = None,
                   version_keys: int | None = None) -> int:
        """``sdiff`` stored in ``dest``; returns its size (django-redis's two version arguments)."""
        return self._store("sdiff", self._made(dest, version_dest), self._keys(keys, version_keys))

    async def asdiffstore(self, dest: Any, *keys: Any, version_dest: int | None = None,
                          version_keys: int | None = None) -> int:
        return await self._astore("sdiff", self._made(dest, version_dest), self._keys(keys, version_keys))

    def sinterstore(self, dest: Any, *keys: Any, version: int | None = None) -> int:
        return self._store("sinter", self._made(dest, version), self._keys(keys, version))

    async def asinterstore(self, dest: Any, *keys: Any, version: int | None = None) -> int:
        return await self._astore("sinter", self._made(dest, version), self._keys(keys, version))

    def sunionstore(self, destination: Any, *keys: Any, version: int | None = None) -> int:
        return self._store("sunion", self._made(destination, version), self._keys(keys, version))

    async def asunionstore(self, destination: Any, *keys: Any, version: int | None = None) -> int:
        return await self._astore("sunion", self._made(destination, version), self._keys(keys, version))

    def _smove_keys(self, source: Any, destination: Any, version: int | None) -> tuple[str, str]:
        # As django-redis: ``version`` applies to the source only; the destination has the
        # cache's own version.
        return self._made(source, version), self._made(destination, None)

    def smove(self, source: Any, destination: Any, member: Any, version: int | None = None) -> bool:
        """Move ``member`` from ``source`` to ``destination``; False when it was not in ``source``."""
        src, dst = self._smove_keys(source, destination, version)
        encoded = self._members.dumps(member)
        leader = self._cache._leader
        if not self._spans_slots([src, dst]):
            return bool(leader.smove(src, dst, encoded))
        if not leader.srem(src, encoded):
            return False
        leader.sadd(dst, encoded)
        return True

    async def asmove(self, source: Any, destination: Any, member: Any, version: int | None = None) -> bool:
        src, dst = self._smove_keys(source, destination, version)
        encoded = self._members.dumps(member)
        leader = self._cache._aleader()
        if not self._spans_slots([src, dst]):
            return bool(await leader.smove(src, dst, encoded))
        if not await leader.srem(src, encoded):
            return False
        await leader.sadd(dst, encoded)
        return True

    # -- sorted sets (members always serialized, scores as given) ---------------------------------
    def _scored(self, reply: Any, withscores: bool) -> list[Any]:
        loads = self._members.loads
        if withscores:
            return [(loads(member), score) for member, score in reply]
        return [loads(member) for member in reply]

    def _popped(self, reply: Any, count: int | None) -> Any:
        if not reply:
            return None if count is None else []
        decoded = self._scored(reply, True)
        return decoded[0] if count is None else decoded

    def _zadd(self, key: Any, mapping: Mapping[Any, float], nx: bool, xx: bool, ch: bool, incr: bool, gt: bool,
              lt: bool, version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = {dumps(member, allow_int=False): score for member, score in mapping.items()}
        return (lambda c: c.zadd(made, encoded, nx=nx, xx=xx, ch=ch, incr=incr, gt=gt, lt=lt)), _identity

    def zadd(self, key: Any, mapping: Mapping[Any, float], nx: bool = False, xx: bool = False, ch: bool = False,
             incr: bool = False, gt: bool = False, lt: bool = False, version: int | None = None) -> Any:
        """Add members with their scores; redis-py's reply (count added, or the new score with incr)."""
        return self._write(self._zadd(key, mapping, nx, xx, ch, incr, gt, lt, version))

    async def azadd(self, key: Any, mapping: Mapping[Any, float], nx: bool = False, xx: bool = False,
                    ch: bool = False, incr: bool = False, gt: bool = False, lt: bool = False,
                    version: int | None = None) -> Any:
        return await self._awrite(self._zadd(key, mapping, nx, xx, ch, incr, gt, lt, version))

    def _zcard(self, key: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.zcard(made)), int

    def zcard(self, key: Any, version: int | None = None) -> int:
        return self._read(self._zcard(key, version))  # type: ignore[no-any-return]

    async def azcard(self, key: Any, version: int | None = None) -> int:
        return await self._aread(self._zcard(key, version))  # type: ignore[no-any-return]

    def _zcount(self, key: Any, min: Any, max: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.zcount(made, min, max)), int

    def zcount(self, key: Any, min: Any, max: Any, version: int | None = None) -> int:
        """Members with a score between ``min`` and ``max`` (Redis's syntax: '(1', '-inf'...)."""
        return self._read(self._zcount(key, min, max, version))  # type: ignore[no-any-return]

    async def azcount(self, key: Any, min: Any, max: Any, version: int | None = None) -> int:
        return await self._aread(self._zcount(key, min, max, version))  # type: ignore[no-any-return]

    def _zincrby(self, key: Any, amount: float, value: Any, version: int | None) -> Plan:
        made, encoded = self._made(key, version), self._members.dumps(value, allow_int=False)
        return (lambda c: c.zincrby(made, amount, encoded)), _identity

    def zincrby(self, key: Any, amount: float, value: Any, version: int | None = None) -> Any:
        """Add ``amount`` to the score of ``value``; returns the new score."""
        return self._write(self._zincrby(key, amount, value, version))

    async def azincrby(self, key: Any, amount: float, value: Any, version: int | None = None) -> Any:
        return await self._awrite(self._zincrby(key, amount, value, version))

    def _zpop(self, op: str, key: Any, count: int | None, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: getattr(c, op)(made, count)), (lambda reply: self._popped(reply, count))

    def zpopmax(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """Remove and return the (member, score) with the highest score (None if empty), or a list of ``count``."""
        return self._write(self._zpop("zpopmax", key, count, version))

    async def azpopmax(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._awrite(self._zpop("zpopmax", key, count, version))

    def zpopmin(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return self._write(self._zpop("zpopmin", key, count, version))

    async def azpopmin(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._awrite(self._zpop("zpopmin", key, count, version))

    def _zrange(self, key: Any, start: int, end: int, desc: bool, withscores: bool, score_cast_func: Any,
                version: int | None) -> Plan:
        made = self._made(key, version)
        return ((lambda c: c.zrange(made, start, end, desc=desc, withscores=withscores,
                                    score_cast_func=score_cast_func)),
                (lambda reply: self._scored(reply, withscores)))

    def zrange(self, key: Any, start: int, end: int, desc: bool = False, withscores: bool = False,
               score_cast_func: Any = float, version: int | None = None) -> list[Any]:
        """Members by rank, lowest score first (``desc``: highest first); with their scores if asked."""
        return self._read(self._zrange(key, start, end, desc, withscores, score_cast_func, version))  # type: ignore[no-any-return]

    async def azrange(self, key: Any, start: int, end: int, desc: bool = False, withscores: bool = False,
                      score_cast_func: Any = float, version: int | None = None) -> list[Any]:
        return await self._aread(self._zrange(key, start, end, desc, withscores, score_cast_func, version))  # type: ignore[no-any-return]

    def _zrangebyscore(self, op: str, key: Any, low: Any, high: Any, start: int | None, num: int | None,
                       withscores: bool, score_cast_func: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return ((lambda c: getattr(c, op)(made, low, high, start=start, num=num, withscores=withscores,
                                          score_cast_func=score_cast_func)),
                (lambda reply: self._scored(reply, withscores)))

    def zrangebyscore(self, key: Any, min: Any, max: Any, start: int | None = None, num: int | None = None,
                      withscores: bool = False, score_cast_func: Any = float, version: int | None = None) -> list[Any]:
        return self._read(self._zrangebyscore("zrangebyscore", key, min, max, start, num, withscores,  # type: ignore[no-any-return]
                                              score_cast_func, version))

    async def azrangebyscore(self, key: Any, min: Any, max: Any, start: int | None = None, num: int | None = None,
                             withscores: bool = False, score_cast_func: Any = float,
                             version: int | None = None) -> list[Any]:
        return await self._aread(self._zrangebyscore("zrangebyscore", key, min, max, start, num,  # type: ignore[no-any-return]
                                                     withscores, score_cast_func, version))

    def zrevrangebyscore(self, key: Any, max: Any, min: Any, start: int | None = None, num: int | None = None,
                         withscores: bool = False, score_cast_func: Any = float,
                         version: int | None = None) -> list[Any]:
        return self._read(self._zrangebyscore("zrevrangebyscore", key, max, min, start, num, withscores,  # type: ignore[no-any-return]
                                              score_cast_func, version))

    async def azrevrangebyscore(self, key: Any, max: Any, min: Any, start: int | None = None,
                                num: int | None = None, withscores: bool = False, score_cast_func: Any = float,
                                version: int | None = None) -> list[Any]:
        return await self._aread(self._zrangebyscore("zrevrangebyscore", key, max, min, start, num,  # type: ignore[no-any-return]
                                                     withscores, score_cast_func, version))

    def _zrevrange(self, key: Any, start: int, end: int, withscores: bool, score_cast_func: Any,
                   version: int | None) -> Plan:
        made = self._made(key, version)
        return ((lambda c: c.zrevrange(made, start, end, withscores=withscores, score_cast_func=score_cast_func)),
                (lambda reply: self._scored(reply, withscores)))

    def zrevrange(self, key: Any, start: int, end: int, withscores: bool = False, score_cast_func: Any = float,
                  version: int | None = None) -> list[Any]:
        return self._read(self._zrevrange(key, start, end, withscores, score_cast_func, version))  # type: ignore[no-any-return]

    async def azrevrange(self, key: Any, start: int, end: int, withscores: bool = False,
                         score_cast_func: Any = float, version: int | None = None) -> list[Any]:
        return await self._aread(self._zrevrange(key, start, end, withscores, score_cast_func, version))  # type: ignore[no-any-return]

    def _zrank(self, key: Any, value: Any, withscore: bool, version: int | None) -> Plan:
        made, encoded = self._made(key, version), self._members.dumps(value, allow_int=False)
        return (lambda c: c.zrank(made, encoded, withscore=withscore)), _identity

    def zrank(self, key: Any, value: Any, withscore: bool = False, version: int | None = None) -> Any:
        """The rank of ``value`` (lowest score first), or None; ``withscore`` (Redis 7.2+): [rank, score]."""
        return self._read(self._zrank(key, value, withscore, version))

    async def azrank(self, key: Any, value: Any, withscore: bool = False, version: int | None = None) -> Any:
        return await self._aread(self._zrank(key, value, withscore, version))

    def _zrem(self, key: Any, values: tuple[Any, ...], version: int | None) -> Plan:
        made, dumps = self._made(key, version), self._members.dumps
        encoded = [dumps(value, allow_int=False) for value in values]
        return (lambda c: c.zrem(made, *encoded)), int

    def zrem(self, key: Any, *values: Any, version: int | None = None) -> int:
        return self._write(self._zrem(key, values, version))  # type: ignore[no-any-return]

    async def azrem(self, key: Any, *values: Any, version: int | None = None) -> int:
        return await self._awrite(self._zrem(key, values, version))  # type: ignore[no-any-return]

    def _zremrangebyscore(self, key: Any, min: Any, max: Any, version: int | None) -> Plan:
        made = self._made(key, version)
        return (lambda c: c.zremrangebyscore(made, min, max)), int

    def zremrangebyscore(self, key: Any, min: Any, max: Any, version: int | None = None) -> int:
        return self._write(self._zremrangebyscore(key, min, max, version))  # type: ignore[no-any-return]

    async def azremrangebyscore(self, key: Any, min: Any, max: Any, version: int | None = None) -> int:
        return await self._awrite(self._zremrangebyscore(key, min, max, version))  # type: ignore[no-any-return]

    def _zscore(self, key: Any, value: Any, version: int | None) -> Plan:
        made, encoded = self._made(key, version), self._members.dumps(value, allow_int=False)
        return (lambda c: c.zscore(made, encoded)), _identity

    def zscore(self, key: Any, value: Any, version: int | None = None) -> Any:
        """The score of ``value``, or None."""
        return self._read(self._zscore(key, value, version))

    async def azscore(self, key: Any, value: Any, version: int | None = None) -> Any:
        return await self._aread(self._zscore(key, value, version))


__all__ = ["OPERATIONS", "MemberCodec", "StructuresMixin"]
