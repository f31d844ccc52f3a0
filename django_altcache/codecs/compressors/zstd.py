"""Zstandard: ``compression.zstd`` (Python 3.14+) or ``backports.zstd`` (extra ``[zstd]``), level 3."""

from __future__ import annotations

from types import ModuleType

from ..errors import MissingLibrary
from .base import Compressor


def zstd_module() -> ModuleType:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd  # type: ignore[no-redef]
        except ImportError:
            raise MissingLibrary("the zstd compressor", "backports.zstd", "zstd") from None
    return zstd


class ZstdCompressor(Compressor):
    name = "zstd"
    id = 2
    magic = b"\x28\xb5\x2f\xfd"

    def __init__(self, level: int = 3) -> None:
        zstd = zstd_module()
        self.level = level
        self._compress = zstd.compress
        self.decompress = zstd.decompress  # type: ignore[method-assign]

    def compress(self, data: bytes) -> bytes:
        return self._compress(data, self.level)  # type: ignore[no-any-return]
