"""A user's compressor class or instance (``COMPRESSOR`` as a dotted path): anything with
``compress(bytes) -> bytes`` and ``decompress(bytes) -> bytes``; header id from its
``codec_id`` (128-254) or 255, as for serializers (serializers/custom.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..serializers.custom import instantiate, user_id
from .base import Compressor


class CustomCompressor(Compressor):
    name = "custom"

    def __init__(self, target: Any, path: str, options: Mapping[str, Any] | None = None) -> None:
        obj = instantiate(target, options)
        for method in ("compress", "decompress"):
            if not callable(getattr(obj, method, None)):
                raise TypeError(f"{path} has no {method}() method")
        self.obj = obj
        self.path = path
        self.id = user_id(obj, "compressor")  # type: ignore[misc]
        self.compress = obj.compress  # type: ignore[method-assign]
        self.decompress = obj.decompress  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return self.path
