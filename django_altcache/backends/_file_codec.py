"""FileBasedCache with a codec: the value part of an entry file.

An entry is ``pickle(expiry)`` then the value: Django's ``zlib(pickle(value))``, or our
tagged bytes (0xC1 first: never a zlib stream, whose first byte's low nibble is 8).
The expiry header stays Django's, so ``has_key`` and culling read it unchanged; it is
parsed without resolving any global (``_files._ExpiryUnpickler``), so a planted header
cannot run code either. It is not signed: a writer to the directory can change when a
signed value expires (or delete it), not what it holds.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable
from typing import Any

from ..codecs import Codec, UnreadableValue
from . import _files


class UnreadableEntry(_files.CorruptEntry, UnreadableValue):
    """A codec failure, as the file backend's corrupt-entry error."""


def _django(data: bytes) -> Any:
    return pickle.loads(zlib.decompress(data))


def value_codec(codec: Codec | None) -> tuple[Callable[[Any], bytes], Callable[[bytes, int], Any]]:
    """(encode_value, decode_value(data, offset)) for the cache's codec (Django's without)."""
    if codec is None:
        return _files.encode_value, _files.decode_value
    decode = codec.decode

    def decode_value(data: bytes, offset: int) -> Any:
        try:
            return decode(data[offset:], _django)
        except UnreadableValue as exc:
            raise UnreadableEntry(str(exc)) from exc

    return (codec.encode if codec.writes else _files.encode_value), decode_value
