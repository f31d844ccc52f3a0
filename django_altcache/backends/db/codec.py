"""DatabaseCache with a codec: the ``value`` column holds base64 text, as in Django.

Django's rows are ``base64(pickle)``, whose bytes start with 0x80 (text "g..."); ours
are ``base64(tagged bytes)``, starting with 0xC1 (text "w..."). Decoding the base64
first and looking at the first byte tells them apart, exactly as on the other backends.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django_altcache.codecs import Codec


def install(cache: Any, codec: Codec | None) -> None:
    """Replace the instance's ``_encode``/``_decode`` (the class's are Django's format)."""
    if codec is None:
        return
    if codec.writes:
        encode = codec.encode

        def _encode(value: Any) -> str:
            return base64.b64encode(encode(value)).decode("latin1")

        cache._encode = _encode
    decode = codec.decode

    def _decode(ops: Any, raw: Any) -> Any:
        raw = ops.process_clob(raw)
        return decode(base64.b64decode(raw.encode("latin1"), validate=True), pickle.loads)

    cache._decode = _decode
