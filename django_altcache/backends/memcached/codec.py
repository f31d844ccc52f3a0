"""PyMemcacheCache and PyLibMCCache with a codec: the libraries' own serialization hooks.

memcached stores 32-bit client flags next to each value; both libraries pick the
decoder from them (pymemcache's ``pickle_serde``, pylibmc's C code), with the same low
bits: 1 pickle, 2 and 4 integer, 8 compressed, 16 text. Ours:

- an exact int is written as those libraries write it (decimal text, pymemcache's
  INTEGER flag, pylibmc's LONG), so the server's ``incr``/``decr`` keep working, unsigned;
- anything else is the codec's tagged bytes with flags ``FLAG_CODEC | FLAG_PICKLE``: our
  bit, plus the pickle bit so that a reader who does not know ours tries to unpickle
  the value and fails on its first byte (0xC1 is no pickle opcode) instead of handing
  back raw bytes. Django's pymemcache backend then reads a miss (pymemcache swallows
  unpickling errors as ``None``); Django's pylibmc backend raises from ``get`` (see
  docs/codecs.md, "the one thing that cannot be undone").

A value that cannot be decoded comes out of the hook as a marker (a hook cannot delete:
both run inside the library's call). pymemcache's hook has the key: it logs (rate-limited)
and answers the driver's own marker for values it cannot load (``serde.UNREADABLE``), which
the driver deletes and reads as a miss. pylibmc's has no key: it answers an ``Unreadable``
carrying the error, which ``PylibmcCodecReads`` logs, deletes and reads as a miss.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable
from functools import lru_cache
from pickle import HIGHEST_PROTOCOL
from pickle import dumps as _pickle_dumps
from pickle import loads as _pickle_loads
from typing import Any

from django_altcache.codecs import Codec, CorruptValue, UnreadableValue, report_unreadable
from django_altcache.codecs.format import HEADER_LEN

from .drivers import Driver

FLAG_BYTES = 0
FLAG_PICKLE = 1 << 0
FLAG_INTEGER = 1 << 1
FLAG_LONG = 1 << 2
FLAG_COMPRESSED = 1 << 3  # pymemcache's CompressedSerde, pylibmc's zlib
FLAG_TEXT = 1 << 4
FLAG_CODEC = 1 << 8  # ours: a tagged value (django_altcache.codecs.format)
FLAG_OURS = FLAG_CODEC | FLAG_PICKLE  # what we write for one (see the module's doc)
_INTEGERS = FLAG_INTEGER | FLAG_LONG


class Unreadable:
    """What a hook returns for a value it cannot decode."""

    __slots__ = ("error",)

    def __init__(self, error: UnreadableValue) -> None:
        self.error = error


def _legacy(value: bytes, flags: int, inflated: bool) -> Any:
    """Untagged values as pymemcache's serdes and pylibmc write them (pylibmc has already
    inflated a zlib-flagged value in C before calling the hook)."""
    if flags & FLAG_COMPRESSED:
        if not inflated:
            value = zlib.decompress(value)  # pymemcache's CompressedSerde default
        flags &= ~FLAG_COMPRESSED
    if flags == FLAG_BYTES:
        return value
    if flags & FLAG_TEXT:
        return value.decode()
    if flags & FLAG_PICKLE:
        return pickle.loads(value)
    raise CorruptValue(f"unknown memcached flags {flags}")


def decode(codec: Codec, value: bytes, flags: int, inflated: bool = False) -> Any:
    try:
        if flags & FLAG_CODEC:
            return codec.decode_tagged(value)
        if flags & _INTEGERS and not flags & FLAG_PICKLE:
            return int(value)  # raw integers are never signed: incr needs them as they are
        return codec.decode(value, lambda data: _legacy(data, flags, inflated))
    except UnreadableValue as exc:
        return Unreadable(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. int() of garbage under an integer flag
        return Unreadable(CorruptValue(f"{type(exc).__name__}: {exc}"))


class CodecSerde:
    """pymemcache's serde protocol (``serialize(key, value)``, ``deserialize(key, value, flags)``)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._encode = codec.encode if codec.writes else None
        # The pickle serializer unsigned, a value not compressed: inline both ways (see
        # Codec.plain_header). A 5-byte read header never equals a 4-byte slice.
        self._write_head = codec.plain_header if codec.writes else None
        self._read_head = codec.plain_header or bytes(HEADER_LEN + 1)
        self._pack, self._pack_from = codec.pack, codec.pack_from
        from .serde import UNREADABLE  # imports pymemcache: this hook is pymemcache's only

        self._marker = UNREADABLE

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        if type(value) is int:
            return b"%d" % value, FLAG_INTEGER
        head = self._write_head
        if head is not None:
            data = _pickle_dumps(value, HIGHEST_PROTOCOL)
            return (head + data if len(data) < self._pack_from else self._pack(data)), FLAG_OURS
        if self._encode is None:  # WRITE_FORMAT "django": pymemcache's pickle_serde bytes
            if type(value) is bytes:
                return value, FLAG_BYTES
            if type(value) is str:
                return value.encode(), FLAG_TEXT
            return pickle.dumps(value, pickle.HIGHEST_PROTOCOL), FLAG_PICKLE
        return self._encode(value), FLAG_OURS

    def deserialize(self, key: Any, value: bytes, flags: int) -> Any:
        if flags == FLAG_OURS and value[:HEADER_LEN] == self._read_head:
            try:  # a tagged plain pickle, inline (Codec.plain_header)
                return _pickle_loads(value[HEADER_LEN:])
            except Exception as exc:  # noqa: BLE001 - as decode_tagged reports it
                return self._unreadable(key, CorruptValue(f"{type(exc).__name__}: {exc}"))
        found = decode(self.codec, value, flags)
        if type(found) is Unreadable:
            return self._unreadable(key, found.error)
        return found

    def _unreadable(self, key: Any, error: UnreadableValue) -> Any:
        """Reported here (pymemcache's hook has the key), then the driver's own marker: its get
        and get_many read that as a miss and delete the key, as for a pickle it cannot load."""
        report_unreadable("memcached", key, error)
        return self._marker

    def __repr__(self) -> str:  # stable: part of the shared client's key (clients.py)
        return f"CodecSerde({self.codec!r})"


@lru_cache(maxsize=None)
def pylibmc_client_class(base: type) -> type:
    """``pylibmc.Client`` with Python serialize/deserialize (pylibmc calls them when a
    subclass overrides them). The codec is an instance attribute copied by ``clone``."""

    class CodecClient(base):  # type: ignore[misc, valid-type]
        def __init__(self, servers: Any, *args: Any, altcache_codec: Codec, **kwargs: Any) -> None:
            super().__init__(servers, *args, **kwargs)
            self._altcache_use(altcache_codec)

        def _altcache_use(self, codec: Codec) -> None:
            self.altcache_codec = codec
            # As CodecSerde's: the plain pickle case inline both ways.
            self._altcache_write_head = codec.plain_header if codec.writes else None
            self._altcache_read_head = codec.plain_header or bytes(HEADER_LEN + 1)

        def clone(self) -> Any:
            obj = super().clone()
            obj._altcache_use(self.altcache_codec)
            return obj

        def serialize(self, value: Any) -> tuple[bytes, int]:
            if type(value) is int:
                return str(value).encode(), FLAG_LONG  # as pylibmc writes an int
            head, codec = self._altcache_write_head, self.altcache_codec
            if head is not None:
                data = _pickle_dumps(value, HIGHEST_PROTOCOL)
                return (head + data if len(data) < codec.pack_from else codec.pack(data)), FLAG_OURS
            if not codec.writes:
                return super().serialize(value)  # type: ignore[no-any-return]
            return codec.encode(value), FLAG_OURS

        def deserialize(self, value: bytes, flags: int) -> Any:
            if flags == FLAG_OURS and value[:HEADER_LEN] == self._altcache_read_head:
                try:  # as CodecSerde's
                    return _pickle_loads(value[HEADER_LEN:])
                except Exception as exc:  # noqa: BLE001
                    return Unreadable(CorruptValue(f"{type(exc).__name__}: {exc}"))
            return decode(self.altcache_codec, value, flags, inflated=True)

    CodecClient.__name__ = CodecClient.__qualname__ = f"Codec{base.__name__}"
    return CodecClient


class CodecDriverMixin:
    """Mixed in front of a driver class: the hooks in the client options."""

    codec: Codec
    name: str

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        merged = super().client_options(options, location)  # type: ignore[misc]
        if self.name == "pymemcache":
            merged["serde"] = CodecSerde(self.codec)
        else:
            merged["altcache_codec"] = self.codec
        return merged  # type: ignore[no-any-return]

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        if self.name == "pylibmc":
            self.client_class = pylibmc_client_class(self.client_class)  # type: ignore[attr-defined, has-type]


class PylibmcCodecReads:
    """Mixed in front of the pylibmc codec driver: pylibmc's hook has no key, so its
    ``Unreadable`` markers become logged, deleted misses here. (pymemcache's hook has the
    key: it reports and answers the driver's own marker, which the driver already reads as a
    deleted miss, so pymemcache's reads keep one frame.)"""

    def _unreadable(self, client: Any, key: str, marker: Unreadable) -> None:
        report_unreadable("memcached", key, marker.error)
        try:
            client.delete(key)
        except Exception:  # noqa: BLE001 - a read must not fail because the clean-up did
            pass

    def _inflate_failed(self, exc: BaseException) -> bool:
        """pylibmc inflates a zlib-flagged value in C, before our hook: garbage there is
        its own error, not a server failure."""
        return str(exc).startswith(("Failed to decompress value", "key is compressed"))

    def get(self, client: Any, key: str, default: Any) -> Any:
        try:
            value = super().get(client, key, default)  # type: ignore[misc]
        except Exception as exc:
            if not self._inflate_failed(exc):
                raise
            value = Unreadable(CorruptValue(str(exc)))
        if type(value) is Unreadable:
            self._unreadable(client, key, value)
            return default
        return value

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        try:
            found: dict[str, Any] = super().get_many(client, keys)  # type: ignore[misc]
        except Exception as exc:
            if not self._inflate_failed(exc):
                raise
            # One bad value fails the whole multi-get: find it key by key.
            found = {}
            for key in keys:
                value = self.get(client, key, Unreadable)
                if value is not Unreadable:
                    found[key] = value
            return found
        for key in [key for key, value in found.items() if type(value) is Unreadable]:
            self._unreadable(client, key, found.pop(key))
        return found


_driver_classes: dict[type[Driver], type[Driver]] = {}


def _codec_driver_class(driver_class: type[Driver]) -> type[Driver]:
    cls = _driver_classes.get(driver_class)
    if cls is None:
        bases = (PylibmcCodecReads, CodecDriverMixin) if driver_class.name == "pylibmc" else (CodecDriverMixin,)
        cls = _driver_classes.setdefault(driver_class, type(f"Codec{driver_class.__name__}", (*bases, driver_class), {}))
    return cls


def driver_factory(driver_class: type[Driver], codec: Codec | None) -> Callable[..., Driver]:
    """How the backend builds its driver: the class itself without a codec."""
    if codec is None:
        return driver_class

    def build(*args: Any, **kwargs: Any) -> Driver:
        cls = _codec_driver_class(driver_class)
        driver = cls.__new__(cls)
        driver.codec = codec  # type: ignore[attr-defined]  # before __init__: setup() may need it
        driver.__init__(*args, **kwargs)  # type: ignore[misc]
        return driver

    return build
