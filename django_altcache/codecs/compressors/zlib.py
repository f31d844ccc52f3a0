"""zlib (stdlib), level 6 (zlib's default, django-redis's preset)."""

from __future__ import annotations

import zlib

from .base import Compressor


class ZlibCompressor(Compressor):
    name = "zlib"
    id = 1

    def __init__(self, level: int = 6) -> None:
        self.level = level
        self.decompress = zlib.decompress  # type: ignore[method-assign, assignment]

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, self.level)

    def sniff(self, data: bytes) -> bool:
        # RFC 1950: CMF's low nibble is 8 (deflate), and CMF*256+FLG is a multiple of 31.
        return len(data) > 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
