"""Stable cache keys for a function call: the same arguments give the same key in every
process, on every run and every Python version we support.

``memoize:<module>.<qualname>:<digest>`` where ``digest`` is 32 hex digits of BLAKE2b
over a canonical encoding of the call's arguments *after binding them to the
signature* (defaults applied), so ``f(1)``, ``f(x=1)`` and ``f(1, y=<its default>)``
share one key. ``repr()``/``hash()``/``pickle`` are not used: they vary between
processes (str hashing), objects (default reprs carry addresses) or versions.

Encoded: None, bool, int, float, complex, str, bytes, tuple, list, dict (keys sorted by
their encoding), set/frozenset (sorted), Decimal, Fraction, datetime/date/time/timedelta,
UUID, Enum members, and Django model instances (app label, model name and primary key).
Anything else raises ``TypeError`` naming the argument: pass ``key=`` to ``memoize``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import hashlib
import inspect
import uuid
from collections.abc import Callable
from typing import Any

PREFIX = "memoize:"
MAX_NAME = 150  # keeps prefixed keys under memcached's 250 characters


class UnstableArgument(TypeError):
    """An argument has no stable encoding; the message says which and what to do."""


def function_name(func: Callable[..., Any]) -> str:
    name = f"{func.__module__}.{func.__qualname__}"
    if len(name) > MAX_NAME:
        name = f"{name[:100]}~{hashlib.blake2b(name.encode(), digest_size=8).hexdigest()}"
    return name


def _encode(value: Any, out: list[bytes]) -> None:
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is str:
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    elif kind is int:
        out.append(b"i%d;" % value)
    elif kind is float:
        out.append(b"f" + repr(value).encode() + b";")
    elif kind in (bytes, bytearray):
        out.append(b"b%d:" % len(value))
        out.append(bytes(value))
    elif kind in (tuple, list):
        out.append(b"(" if kind is tuple else b"[")
        for item in value:
            _encode(item, out)
        out.append(b")")
    elif kind is dict:
        items = sorted((_encoded(k), _encoded(v)) for k, v in value.items())
        out.append(b"{")
        for k, v in items:
            out.append(k)
            out.append(v)
        out.append(b"}")
    elif kind in (set, frozenset):
        out.append(b"<")
        out.extend(sorted(_encoded(item) for item in value))
        out.append(b">")
    elif isinstance(value, enum.Enum):
        out.append(b"e" + f"{kind.__module__}.{kind.__qualname__}".encode() + b":")
        _encode(value.value, out)
    elif kind is complex:
        out.append(b"c" + repr(value).encode() + b";")
    elif kind is decimal.Decimal:
        out.append(b"d" + str(value).encode() + b";")
    elif kind is fractions.Fraction:
        out.append(b"q" + str(value).encode() + b";")
    elif kind in (datetime.datetime, datetime.date, datetime.time):
        out.append(b"t" + kind.__name__.encode() + b":" + value.isoformat().encode() + b";")
    elif kind is datetime.timedelta:
        out.append(b"D%d,%d,%d;" % (value.days, value.seconds, value.microseconds))
    elif kind is uuid.UUID:
        out.append(b"u" + value.hex.encode())
    elif hasattr(value, "_meta") and hasattr(value, "pk") and hasattr(value._meta, "label_lower"):
        out.append(b"m" + value._meta.label_lower.encode() + b":")  # a Django model instance
        _encode(value.pk, out)
    else:
        raise UnstableArgument(type(value).__qualname__)


def _encoded(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def call_digest(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any],
                where: str) -> str:
    """32 hex digits identifying the call's arguments (bound to ``signature`` when known)."""
    if signature is not None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        items: list[tuple[str, Any]] = list(bound.arguments.items())
    else:
        items = [("*", args), ("**", kwargs)]
    out: list[bytes] = []
    for name, value in items:
        try:
            _encode(value, out)
        except UnstableArgument as exc:
            raise UnstableArgument(
                f"{where}: argument {name!r} of type {exc} has no stable cache key; pass "
                f"memoize(key=...) a function of the same arguments that returns the key") from None
    return hashlib.blake2b(b"".join(out), digest_size=16).hexdigest()
