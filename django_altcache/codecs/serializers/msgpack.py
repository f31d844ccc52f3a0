"""msgpack (the ``msgpack`` package, extra ``[msgpack]``), strict about types.

Packed with ``strict_types=True``: a tuple, a subclass of a supported type, or any
other object reaches ``default``, which refuses it with a ``TypeError`` naming the
type (msgpack would otherwise turn a tuple into a list). ``bytes`` and ``str`` stay
distinct (``use_bin_type``); dict keys may be any exact msgpack type but a tuple;
integers must fit in 64 bits (msgpack's limit), else ``TypeError`` too.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingLibrary
from .base import Serializer

_MSGPACK_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


def _where(value: Any, path: str = "value") -> tuple[str, str] | None:
    kind = type(value)
    if kind in _MSGPACK_SCALARS:
        if kind is int and not -(2 ** 63) <= value < 2 ** 64:
            return path, f"an int outside msgpack's 64-bit range ({value})"
        return None
    if kind is list:
        for index, item in enumerate(value):
            found = _where(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if kind is dict:
        for key, item in value.items():
            found = _where(key, f"{path} (a key)") or _where(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return path, f"a value of type {name}"


def _default(obj: Any) -> Any:
    raise TypeError(type(obj).__qualname__)  # replaced by a full message in dumps()


class MsgPackSerializer(Serializer):
    name = "msgpack"
    id = 3

    def __init__(self) -> None:
        try:
            import msgpack
        except ImportError:
            raise MissingLibrary("the msgpack serializer", "msgpack", "msgpack") from None
        # packb builds a Packer per call: a shared one is not safe across threads.
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def dumps(self, value: Any) -> bytes:
        try:
            return self._packb(value, use_bin_type=True, strict_types=True,  # type: ignore[no-any-return]
                               default=_default)
        except (TypeError, OverflowError, ValueError):
            from .json import refuse

            raise refuse("msgpack", value, _where) from None

    def loads(self, data: bytes | memoryview) -> Any:
        return self._unpackb(data, raw=False, strict_map_key=False)
