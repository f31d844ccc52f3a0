"""JSON, strict: what comes back is what went in, type for type, or ``dumps`` refuses.

``json.dumps`` silently turns a tuple into a list, dict keys into strings, and a str
subclass (Django's ``SafeString``, a rendered template fragment) into a plain str that
the template engine would then escape again. So the value is walked first and anything
but the exact types ``dict`` (str keys), ``list``, ``str``, ``int``, ``float``, ``bool``
and ``None`` raises a ``TypeError`` naming the type and where it sits. Floats keep
their exact value (``repr`` round-trips), NaN and infinities included.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Serializer

_SCALARS = frozenset({str, int, float, bool, type(None)})
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_decode = json.loads


def _fits(value: Any) -> bool:
    """Whether ``value`` is made of JSON's exact types only (fast path, no location)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        return all(type(item) in _SCALARS or _fits(item) for item in value)
    if kind is dict:
        return all(type(key) is str and (type(item) in _SCALARS or _fits(item)) for key, item in value.items())
    return False


def _where(value: Any, path: str = "value") -> tuple[str, str] | None:
    """(location, description) of the first thing JSON cannot hold exactly (slow path)."""
    kind = type(value)
    if kind in _SCALARS:
        return None
    if kind is list:
        for index, item in enumerate(value):
            found = _where(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return path, f"a dict key of type {type(key).__qualname__} ({key!r})"
            found = _where(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    return path, f"a value of type {kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" \
        else f"a value of type {kind.__qualname__}"


def refuse(serializer: str, value: Any, walk: Any = _where) -> TypeError:
    found = walk(value)
    where, what = found if found else ("value", f"a value of type {type(value).__qualname__}")
    return TypeError(
        f"the {serializer} serializer cannot store {what} at {where} without changing its type: "
        f"it stores exactly dict, list, str, int, float, bool and None"
        f"{' and bytes' if serializer == 'msgpack' else ''}; convert the value, or use the "
        f"pickle serializer for this cache")


class JSONSerializer(Serializer):
    name = "json"
    id = 2

    def dumps(self, value: Any) -> bytes:
        if type(value) not in _SCALARS and not _fits(value):
            raise refuse("json", value)
        return _encode(value).encode()

    def loads(self, data: bytes | memoryview) -> Any:
        return _decode(data if type(data) is bytes else bytes(data))
