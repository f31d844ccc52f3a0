"""lzma/xz (stdlib), preset 4 as django-redis's LzmaCompressor: small output, slow."""

from __future__ import annotations

import lzma

from .base import Compressor


class LzmaCompressor(Compressor):
    name = "lzma"
    id = 5
    magic = b"\xfd7zXZ\x00"

    def compress(self, data: bytes) -> bytes:
        return lzma.compress(data, preset=4)

    def decompress(self, data: bytes | memoryview) -> bytes:
        return lzma.decompress(data)
