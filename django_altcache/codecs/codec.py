"""``Codec``: value -> serialize -> compress (when worth it) -> sign -> tagged bytes, and back.

One object per cache, built once from the options (``build.build_codec``). Reading
verifies the signature *before* anything is decompressed or deserialized, so an
unsigned or forged value never reaches ``pickle.loads`` (nor a decompressor) while
SIGN_VALUES is on. Every decoding failure is an ``UnreadableValue``.

Backends call ``encode``/``decode`` at their value boundary only; the parts that are
per backend (Redis's raw integers, memcached's flags, the database's base64 text, the
file's expiry header) stay in the backend's adapter.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from . import compressors, serializers
from .compressors.base import Compressor
from .errors import BadSignature, CorruptValue, UnreadableValue, UnsignedValue
from .format import HEADER_LEN, MAGIC, SIGNED, TAG_LEN, VERSION, header
from .legacy import UntaggedReader
from .serializers.base import Serializer
from .serializers.pickle import PickleSerializer
from .signing import Signer

# Above this size the payload is read through a memoryview instead of a copy.
_VIEW_FROM = 64 * 1024

Legacy = Callable[[bytes], Any]
PICKLE_ID = PickleSerializer.id


class Codec:
    def __init__(self, serializer: Serializer, compressor: Compressor | None = None,
                 min_length: int = 1024, signer: Signer | None = None, *, writes: bool = True,
                 untagged_serializer: Serializer | None = None) -> None:
        self.serializer = serializer
        self.compressor = compressor
        self.min_length = min_length
        self.signer = signer
        # False: decode every format but let the backend write Django's bytes (the first
        # deploy of a rollout, the last of a rollback; docs/codecs.md).
        self.writes = writes
        self.read_untagged: Legacy = UntaggedReader(untagged_serializer)
        self._dumps = serializer.dumps
        self._own_loads = serializer.loads
        self._compress = compressor.compress if compressor is not None else None
        signed = signer is not None
        self._plain = header(serializer.id, 0, signed)
        self._packed = header(serializer.id, compressor.id, signed) if compressor is not None else self._plain
        self._sign = signer.sign if signer is not None else None
        # The header of a value that is not compressed, when reading it needs nothing but
        # pickle (the pickle serializer, unsigned): backends write and read that case inline,
        # ``plain_header + pickle.dumps(value, HIGHEST_PROTOCOL)`` when shorter than
        # ``pack_from`` (else ``pack``) one way, ``pickle.loads(data[HEADER_LEN:])`` the other,
        # with no codec frame: the same bytes as ``encode``. None otherwise.
        self.plain_header: bytes | None = self._plain if serializer.id == PICKLE_ID and not signed else None
        self.pack_from = min_length if compressor is not None else sys.maxsize
        # Fast path of decode_tagged: the cache's own headers (signed when it signs), by value.
        self._routes: dict[bytes, Any] = {}
        if serializer.id < 128:
            self._routes[self._plain] = None
            if compressor is not None and compressor.id < 128:
                self._routes[self._packed] = compressor.decompress

    def __repr__(self) -> str:
        # Stable across instances of the same configuration: backends that share clients
        # per configuration (memcached) key them by this.
        return (f"Codec(serializer={self.serializer!r}, compressor={self.compressor!r}, "
                f"min_length={self.min_length}, signer={self.signer!r}, writes={self.writes})")

    # -- writing ----------------------------------------------------------------------
    def encode(self, value: Any) -> bytes:
        return self.pack(self._dumps(value))

    def pack(self, payload: bytes) -> bytes:
        """The tagged bytes of ``payload``, a value this codec's serializer wrote (a backend
        that serializes inline, as RedisCache's pickle path does, calls this)."""
        head = self._plain
        if self._compress is not None and len(payload) >= self.min_length:
            packed = self._compress(payload)
            if len(packed) < len(payload):  # kept only when it saves something
                payload, head = packed, self._packed
        if self._sign is not None:
            return b"".join((head, self._sign(head, payload), payload))
        return head + payload

    @property
    def plain_pickles(self) -> bool:
        """Whether an untagged pickle says all this codec's header would: the pickle serializer,
        not signed. A backend whose store no other program reads (LocMemCache) may then keep
        values that are not compressed as the serializer's bytes alone, and tag only those
        ``squeeze`` compressed."""
        return self.plain_header is not None

    def squeeze(self, payload: bytes) -> bytes:
        """``payload`` (this codec's serialized bytes) compressed and tagged when that makes it
        smaller, else ``payload`` itself, untagged. Only for a ``plain_pickles`` codec that
        writes, with a compressor; the caller checks ``min_length``."""
        packed = self._compress(payload)  # type: ignore[misc]
        if len(packed) < len(payload):
            return self._packed + packed
        return payload

    # -- reading ----------------------------------------------------------------------
    def decode(self, data: bytes, legacy: Legacy | None = None) -> Any:
        """The value of ``data``; ``legacy`` reads the backend's untagged format
        (default: Django's pickles and django-redis's values, as found on Redis)."""
        if data[:1] == b"\xc1":
            return self.decode_tagged(data)
        self.check_unsigned()
        try:
            return (legacy or self.read_untagged)(data)
        except UnreadableValue:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder's error means "unreadable"
            raise CorruptValue(f"untagged value: {type(exc).__name__}: {exc}") from exc

    def check_unsigned(self) -> None:
        """Raise ``UnsignedValue`` unless unsigned values may be read now (backends call
        this before decoding an untagged value their own way)."""
        signer = self.signer
        if signer is not None and not signer.accepts_unsigned():
            raise UnsignedValue("unsigned value refused: SIGN_VALUES is on"
                                + (" and its accept_unsigned window has closed"
                                   if signer.accept_unsigned_until is not None else ""))

    def decode_tagged(self, data: bytes) -> Any:
        payload: bytes | memoryview
        if len(data) < _VIEW_FROM:
            head = data[:HEADER_LEN]
            routes = self._routes
            if head in routes:
                signer = self.signer
                if signer is not None:
                    payload = data[HEADER_LEN + TAG_LEN:]
                    if len(data) < HEADER_LEN + TAG_LEN or not signer.verify(
                            head, payload, data[HEADER_LEN:HEADER_LEN + TAG_LEN]):
                        raise BadSignature("signature does not match SECRET_KEY or SECRET_KEY_FALLBACKS "
                                           "(a value planted or altered in the store, or signed for another cache)")
                else:
                    payload = data[HEADER_LEN:]
                decompress = routes[head]
                try:
                    return self._own_loads(payload if decompress is None else decompress(payload))
                except Exception as exc:  # noqa: BLE001
                    raise CorruptValue(f"{type(exc).__name__}: {exc}") from exc
        size = len(data)
        if size < HEADER_LEN or data[0] != MAGIC:
            raise CorruptValue(f"truncated header ({size} bytes)")
        flags = data[1]
        if flags >> 4 != VERSION:
            raise CorruptValue(f"format version {flags >> 4} (this django-altcache reads version {VERSION})")
        offset = HEADER_LEN
        # Small values are sliced (a copy is cheaper than a view); big ones are viewed.
        view: bytes | memoryview = data if size < _VIEW_FROM else memoryview(data)
        if flags & SIGNED:
            offset += TAG_LEN
            if size < offset:
                raise CorruptValue(f"truncated signature ({size} bytes)")
            payload = view[offset:]
            signer = self.signer
            if signer is not None and not signer.verify(view[:HEADER_LEN], payload, view[HEADER_LEN:offset]):
                raise BadSignature("signature does not match SECRET_KEY or SECRET_KEY_FALLBACKS "
                                   "(a value planted or altered in the store, or signed for another cache)")
            # A reader without SIGN_VALUES reads signed values unchecked, as it reads
            # unsigned ones: that is what lets SIGN_VALUES be rolled back.
        else:
            self.check_unsigned()
            payload = view[offset:]
        serializer = self._serializer_for(data[2])
        compressor = self._compressor_for(data[3])
        try:
            if compressor is not None:
                payload = compressor.decompress(payload if compressor.id < 128 else bytes(payload))
            return serializer.loads(payload if serializer.id < 128 else bytes(payload))
        except Exception as exc:  # noqa: BLE001 - truncation, garbage, a class gone from the code
            raise CorruptValue(f"{type(exc).__name__}: {exc}") from exc

    def _serializer_for(self, serializer_id: int) -> Serializer:
        own = self.serializer
        if serializer_id == own.id:
            return own
        found = serializers.by_id(serializer_id)
        if found is None:
            raise CorruptValue(f"serializer id {serializer_id} is not available here "
                               "(a user serializer of another cache, or msgpack not installed)")
        return found

    def _compressor_for(self, compressor_id: int) -> Compressor | None:
        if compressor_id == 0:
            return None
        own = self.compressor
        if own is not None and compressor_id == own.id:
            return own
        found = compressors.by_id(compressor_id)
        if found is None:
            raise CorruptValue(f"compressor id {compressor_id} is not available here "
                               "(a user compressor of another cache, or its library not installed)")
        return found
