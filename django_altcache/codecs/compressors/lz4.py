"""LZ4 frames (the ``lz4`` package, extra ``[lz4]``): django-redis's format, fastest to decode."""

from __future__ import annotations

from ..errors import MissingLibrary
from .base import Compressor


class Lz4Compressor(Compressor):
    name = "lz4"
    id = 3
    magic = b"\x04\x22\x4d\x18"

    def __init__(self) -> None:
        try:
            import lz4.frame
        except ImportError:
            raise MissingLibrary("the lz4 compressor", "lz4", "lz4") from None
        self.compress = lz4.frame.compress  # type: ignore[method-assign]
        self.decompress = lz4.frame.decompress  # type: ignore[method-assign]
