"""RedisCache with a codec: the serializer ``RedisCacheClient`` calls at its value boundary.

Exact ints stay raw whatever the codec (INCRBY and the atomic incr script need them,
as in Django), so they are never signed: a writer to the server can change a counter,
not run code. Everything else is the codec's tagged bytes. Reading tells the three
apart by the first byte: 0xC1 tagged, 0x80 Django's pickle, otherwise a decimal int or
a django-redis value (``codec.read_untagged``).
"""

from __future__ import annotations

import pickle
from typing import Any

from django_altcache.codecs import Codec
from django_altcache.conf import CacheConfigError


class CodecSerializer:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.protocol = pickle.HIGHEST_PROTOCOL
        self._encode = codec.encode if codec.writes else self._django
        self._tagged = codec.decode_tagged
        self._decode = codec.decode

    def _django(self, obj: Any) -> bytes:
        return pickle.dumps(obj, self.protocol)

    def dumps(self, obj: Any) -> Any:
        if type(obj) is int:
            return obj
        return self._encode(obj)

    def loads(self, data: bytes) -> Any:
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
