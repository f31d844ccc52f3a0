"""A user's serializer class or instance (``SERIALIZER`` as a dotted path).

Anything with ``dumps(value) -> bytes`` and ``loads(bytes) -> value``. A class is
instantiated the way django-redis does (``cls(options=OPTIONS)``) when its
constructor takes ``options``, else with no arguments. Its header id is its
``codec_id`` attribute (128-254), or 255 meaning "this cache's own custom
serializer": values with id 255 are only readable by a cache configured with the
same class.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .base import Serializer

CUSTOM_ID = 255
USER_IDS = range(128, 255)


def user_id(obj: Any, kind: str) -> int:
    codec_id = getattr(obj, "codec_id", CUSTOM_ID)
    if codec_id == CUSTOM_ID:
        return CUSTOM_ID
    if isinstance(codec_id, bool) or not isinstance(codec_id, int) or codec_id not in USER_IDS:
        raise ValueError(f"{kind} {type(obj).__qualname__}.codec_id must be an int from 128 to 254, got {codec_id!r}")
    return codec_id


def instantiate(target: Any, options: Mapping[str, Any] | None) -> Any:
    """django-redis's convention: classes take ``options``; instances are used as they are."""
    if not isinstance(target, type):
        return target
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    if "options" in parameters:
        return target(options=dict(options or {}))
    return target()


class CustomSerializer(Serializer):
    name = "custom"

    def __init__(self, target: Any, path: str, options: Mapping[str, Any] | None = None) -> None:
        obj = instantiate(target, options)
        for method in ("dumps", "loads"):
            if not callable(getattr(obj, method, None)):
                raise TypeError(f"{path} has no {method}() method")
        self.obj = obj
        self.path = path
        self.id = user_id(obj, "serializer")  # type: ignore[misc]
        self.dumps = obj.dumps  # type: ignore[method-assign]
        self.loads = obj.loads  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return self.path
