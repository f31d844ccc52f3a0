"""The value rules options are converted with: one set, shared by every backend and the checks.

A rule takes the raw value and returns the converted one, or raises ``TypeError``/``ValueError``
with a reason that does not repeat the option's name (the caller adds the setting's path).
Rules for values handed to a client library reject only what that library certainly fails on:
an error id is for settings that fail at run time (``"db": "10"`` works in redis-py, so it passes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.utils.module_loading import import_string

T = TypeVar("T")
Rule = Callable[[Any], Any]


def boolean(value: Any) -> bool:
    """Strictly True or False: ``"false"`` is truthy in Python, so strings are refused."""
    if not isinstance(value, bool):
        raise TypeError(f"expected True or False, got {value!r}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected {what}, got {value!r}")
    return float(value)


def seconds(value: Any) -> float:
    """A finite number of seconds >= 0."""
    number = _number(value, "a number of seconds")
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return number


def seconds_or_none(value: Any) -> float | None:
    """Seconds >= 0 (infinity allowed: a library may take it), or None."""
    if value is None:
        return None
    number = _number(value, "a number of seconds or None")
    if not number >= 0:
        raise ValueError(f"expected a number of seconds >= 0 or None, got {value!r}")
    return number


def positive_seconds_or_none(value: Any) -> float | None:
    """A bound we enforce ourselves: positive and finite, or None to turn it off."""
    if value is None:
        return None
    number = _number(value, "a positive number of seconds, or None to disable")
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"expected a positive, finite number of seconds, or None to disable, got {value!r}")
    return number


def non_negative_number(value: Any) -> float:
    number = _number(value, "a number")
    if not number >= 0:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return number


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return value


def positive_int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer or None, got {value!r}")
    return value


def int_like(value: Any) -> Any:
    """An integer >= 0, or a string of one: what a library that sends it as text accepts."""
    if isinstance(value, str) and value.strip().isdigit():
        return value
    return non_negative_int(value)


def int_coercible(minimum: int, fallback: int) -> Rule:
    """Django's ``int(value)`` of a culling option, which silently falls back when it fails."""
    def rule(value: Any) -> int:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            number = minimum - 1
        if number < minimum:
            wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise ValueError(f"expected {wanted}, got {value!r} (Django would silently use {fallback})")
        return number
    return rule


def probability(value: Any) -> float:
    number = _number(value, "a probability between 0 and 1")
    if not 0 <= number <= 1:
        raise ValueError(f"expected a probability between 0 and 1, got {value!r}")
    return number


def mapping(value: Any) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a dict, got {type(value).__name__}")
    return dict(value)


def optional(rule: Callable[[Any], T]) -> Callable[[Any], T | None]:
    def convert(value: Any) -> T | None:
        return None if value is None else rule(value)
    convert.__doc__ = rule.__doc__
    return convert


def importable(value: Any) -> Any:
    """A dotted path is imported; anything else (a class, an instance) is used as is, as Django does."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ValueError(f"cannot import {value!r} ({exc})") from None


def one_of(*choices: Any) -> Rule:
    def rule(value: Any) -> Any:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    return rule


def anything(value: Any) -> Any:
    return value
