"""Compressors: one module each, resolved from the COMPRESSOR option.

Built-in names: ``"zlib"``, ``"zstd"``, ``"lz4"``, and django-redis's other two,
``"gzip"`` and ``"lzma"``. django-redis's dotted paths map to them (its
IdentityCompressor to None) without importing django-redis.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import MissingLibrary
from .base import Compressor


def _zlib() -> Compressor:
    from .zlib import ZlibCompressor

    return ZlibCompressor()


def _zstd() -> Compressor:
    from .zstd import ZstdCompressor

    return ZstdCompressor()


def _lz4() -> Compressor:
    from .lz4 import Lz4Compressor

    return Lz4Compressor()


def _gzip() -> Compressor:
    from .gzip import GzipCompressor

    return GzipCompressor()


def _lzma() -> Compressor:
    from .lzma import LzmaCompressor

    return LzmaCompressor()


BUILTIN: dict[str, Callable[[], Compressor]] = {
    "zlib": _zlib, "zstd": _zstd, "lz4": _lz4, "gzip": _gzip, "lzma": _lzma,
}
IDS = {1: "zlib", 2: "zstd", 3: "lz4", 4: "gzip", 5: "lzma"}
NONE = "none"  # the identity: what None and IdentityCompressor mean

ALIASES = {
    "django_redis.compressors.identity.IdentityCompressor": NONE,
    "django_redis.compressors.zlib.ZlibCompressor": "zlib",
    "django_redis.compressors.gzip.GzipCompressor": "gzip",
    "django_redis.compressors.lzma.LzmaCompressor": "lzma",
    "django_redis.compressors.lz4.Lz4Compressor": "lz4",
    "django_redis.compressors.zstd.ZStdCompressor": "zstd",
    "django_altcache.codecs.compressors.zlib.ZlibCompressor": "zlib",
    "django_altcache.codecs.compressors.gzip.GzipCompressor": "gzip",
    "django_altcache.codecs.compressors.lzma.LzmaCompressor": "lzma",
    "django_altcache.codecs.compressors.lz4.Lz4Compressor": "lz4",
    "django_altcache.codecs.compressors.zstd.ZstdCompressor": "zstd",
}

_by_id: dict[int, Compressor | None] = {}


def by_id(compressor_id: int) -> Compressor | None:
    """The built-in compressor for a header id; None when unknown or its library is missing."""
    if compressor_id in _by_id:
        return _by_id[compressor_id]
    found: Compressor | None = None
    if compressor_id in IDS:
        try:
            found = BUILTIN[IDS[compressor_id]]()
        except MissingLibrary:
            found = None
    _by_id[compressor_id] = found
    return found


def sniffers() -> list[Compressor]:
    """Every built-in compressor whose library is here, to recognise untagged streams."""
    return [c for c in (by_id(i) for i in IDS) if c is not None]


__all__ = ["ALIASES", "BUILTIN", "NONE", "Compressor", "by_id", "sniffers"]
