"""gzip (stdlib), as django-redis's GzipCompressor (level 9, gzip's default)."""

from __future__ import annotations

import gzip

from .base import Compressor


class GzipCompressor(Compressor):
    name = "gzip"
    id = 4
    magic = b"\x1f\x8b"

    def compress(self, data: bytes) -> bytes:
        return gzip.compress(data, mtime=0)

    def decompress(self, data: bytes | memoryview) -> bytes:
        return gzip.decompress(data)
