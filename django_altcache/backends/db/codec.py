"""DatabaseCache with a codec: the ``value`` column holds base64 text, as in Django.

Django's rows are ``base64(pickle)``, whose bytes start with 0x80 (text "g..."); ours
are ``base64(tagged bytes)``, starting with 0xC1 (text "w..."). Decoding the base64
first and looking at the first byte tells them apart, exactly as on the other backends.
"""

from __future__ import annotations

import base64
import pickle
from pickle import dumps as _pickle_dumps
from pickle import loads as _pickle_loads
from typing import Any

from django_altcache.codecs import Codec, CorruptValue
from django_altcache.codecs.format import HEADER_LEN


def install(cache: Any, codec: Codec | None) -> None:
    """Replace the instance's ``_encode``/``_decode`` (the class's are Django's format)."""
    if codec is None:
        return
    b64encode, b64decode = base64.b64encode, base64.b64decode
    # The pickle serializer unsigned, a value not compressed: written and read inline, one
    # pickle call each way and no codec frame (Codec.plain_header; the same bytes).
    head = codec.plain_header
    if codec.writes:
        encode = codec.encode
        if head is not None:
            pack, pack_from = codec.pack, codec.pack_from

            def _encode(value: Any) -> str:
                data = _pickle_dumps(value, pickle.HIGHEST_PROTOCOL)
                return b64encode(head + data if len(data) < pack_from else pack(data)).decode("latin1")
        else:
            def _encode(value: Any) -> str:
                return b64encode(encode(value)).decode("latin1")

        cache._encode = _encode
    decode = codec.decode
    read_head = head if head is not None else bytes(HEADER_LEN + 1)  # never a 4-byte slice

    def _decode(ops: Any, raw: Any) -> Any:
        data = b64decode(ops.process_clob(raw).encode("latin1"), validate=True)
        if data[:HEADER_LEN] == read_head:
            try:
                return _pickle_loads(data[HEADER_LEN:])
            except Exception as exc:  # noqa: BLE001 - as decode_tagged reports it
                raise CorruptValue(f"{type(exc).__name__}: {exc}") from exc
        return decode(data, _pickle_loads)

    cache._decode = _decode
