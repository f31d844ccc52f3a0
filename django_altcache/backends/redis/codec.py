"""RedisCache with a codec: the serializer ``RedisCacheClient`` calls at its value boundary.

Exact ints stay raw whatever the codec (INCRBY and the atomic incr script need them,
as in Django), so they are never signed: a writer to the server can change a counter,
not run code. Everything else is the codec's tagged bytes. Reading tells the three
apart by the first byte: 0xC1 tagged, 0x80 Django's pickle, otherwise a decimal int or
a django-redis value (``codec.read_untagged``).
"""

from __future__ import annotations

import pickle
from pickle import dumps as _pickle_dumps
from pickle import loads as _pickle_loads
from typing import Any

from django_altcache.codecs import Codec, CorruptValue
from django_altcache.codecs.format import HEADER_LEN
from django_altcache.conf import CacheConfigError


# Never equal to a 4-byte slice: the inline path's header when there is none.
_NO_HEADER = bytes(HEADER_LEN + 1)


class CodecSerializer:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.protocol = pickle.HIGHEST_PROTOCOL
        self._encode = codec.encode if codec.writes else self._django
        self._tagged = codec.decode_tagged
        self._decode = codec.decode
        # The common case inline, one pickle call each way and no codec frame (a codec call
        # would be a few % of a round trip's client work): the pickle serializer, unsigned,
        # a value that is not compressed. Same bytes as codec.encode writes.
        head = codec.plain_header
        self._read_head = head if head is not None else _NO_HEADER
        self._write_head = head if codec.writes else None
        self._pack = codec.pack
        self._pack_from = codec.pack_from

    def _django(self, obj: Any) -> bytes:
        return pickle.dumps(obj, self.protocol)

    def dumps(self, obj: Any) -> Any:
        if type(obj) is int:
            return obj
        head = self._write_head
        if head is None:
            return self._encode(obj)
        data = _pickle_dumps(obj, self.protocol)
        if len(data) < self._pack_from:
            return head + data
        return self._pack(data)

    def loads(self, data: bytes) -> Any:
        if data[:HEADER_LEN] == self._read_head:
            try:
                return _pickle_loads(data[HEADER_LEN:])
            except Exception as exc:  # noqa: BLE001 - as decode_tagged reports it
                raise CorruptValue(f"{type(exc).__name__}: {exc}") from exc
        first = data[:1]
        if first == b"\xc1":
            return self._tagged(data)
        if first != b"\x80":
            try:
                return int(data)
            except ValueError:
                pass
        return self._decode(data)

    def __repr__(self) -> str:
        return f"CodecSerializer({self.codec!r})"


def serializer_for(serializer: Any, codec: Codec | None) -> Any:
    """What ``RedisCacheClient`` serializes with: Django's ``serializer`` option, or the codec's."""
    if codec is None:
        return serializer
    if serializer is not None:
        raise CacheConfigError("Django's serializer option and SERIALIZER, COMPRESSOR, SIGN_VALUES or "
                               "WRITE_FORMAT cannot be combined: use one or the other", ("OPTIONS", "serializer"))
    return CodecSerializer(codec)
