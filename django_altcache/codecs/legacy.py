"""Untagged values: Django's bytes and django-redis's, recognised without guessing.

Only reached for values that do not start with the tag's magic byte. Redis holds
Django's pickles (first byte 0x80), and django-redis's values: a pickle (any protocol),
JSON or msgpack when that serializer was configured, each optionally compressed by one
of its compressors, whose streams are recognised by their magic bytes (zlib's header
check, gzip, xz, lz4 frame, zstd). Raw integers are the backend's business (they come
before any of this). Brotli is not read: its streams have no magic bytes, and
django-redis ships no brotli compressor.
"""

from __future__ import annotations

import pickle
from typing import Any

from . import compressors
from .serializers.base import Serializer


class UntaggedReader:
    """Decode an untagged value as Django or django-redis wrote it.

    ``serializer``: what django-redis was configured with when it is not pickle (the
    cache's own SERIALIZER when that is json, msgpack or a user class), else None.
    """

    def __init__(self, serializer: Serializer | None) -> None:
        self.serializer = serializer

    def __call__(self, data: bytes) -> Any:
        if len(data) > 1 and data[0] == 0x80:
            return pickle.loads(data)  # Django's format, and django-redis's default
        for compressor in compressors.sniffers():
            if compressor.sniff(data):
                try:
                    inner = compressor.decompress(data)
                except Exception:  # noqa: BLE001 - not a stream after all: a plain value
                    break
                return self.plain(bytes(inner))
        return self.plain(data)

    def plain(self, data: bytes) -> Any:
        if self.serializer is not None and not (len(data) > 1 and data[0] == 0x80):
            return self.serializer.loads(data)
        return pickle.loads(data)  # any pickle protocol (django-redis's PICKLE_VERSION)
