"""Reading ``CACHES`` entries: the one place that turns params/OPTIONS into typed values.

Django calls ``Backend(location, params)`` without the alias, so errors name the
setting by its path and the LOCATION, which is what a user greps their settings for.
Options we do not own are handed to the client library unchanged, as Django does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

T = TypeVar("T")
_MISSING: Any = object()

# OPTIONS read by the resilience layer (backends/resilience.py) for every backend;
# options_of() keeps them away from the client libraries.
RESILIENCE_OPTIONS = frozenset({"IGNORE_EXCEPTIONS", "CIRCUIT_BREAKER", "LOG_IGNORED_EXCEPTIONS"})


class CacheConfigError(ImproperlyConfigured):
    """A CACHES entry is wrong; the message names the key at fault."""


def setting_path(key: str, location: Any = None) -> str:
    where = f" (LOCATION={location!r})" if location not in (None, "") else ""
    return f"CACHES[...]['OPTIONS'][{key!r}]{where}"


def split_location(location: Any) -> list[str]:
    """Django's rule for several servers: a list/tuple, or one string split on ';' or ','."""
    if location is None or location == "":
        return []
    if isinstance(location, str):
        return [part.strip() for part in re.split("[;,]", location) if part.strip()]
    if isinstance(location, (list, tuple)):
        return [str(part) for part in location]
    raise CacheConfigError(
        f"CACHES[...]['LOCATION'] must be a string or a list of strings, not {type(location).__name__}"
    )


def pop_option(
    options: dict[str, Any],
    key: str,
    convert: Callable[[Any], T],
    default: T = _MISSING,
    *,
    location: Any = None,
) -> T:
    """Remove ``key`` from ``options`` and convert it, or raise naming the setting."""
    if key not in options:
        if default is _MISSING:
            raise CacheConfigError(f"{setting_path(key, location)} is required")
        return default
    raw = options.pop(key)
    try:
        return convert(raw)
    except (TypeError, ValueError) as exc:
        raise CacheConfigError(f"{setting_path(key, location)}: {exc}") from exc


def positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected a positive integer, got {value!r}")
    number = int(value)
    if number <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def non_negative_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    number = float(value)
    if number < 0 or number != number:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return number


def probability(value: Any) -> float:
    number = non_negative_float(value)
    if number > 1:
        raise ValueError(f"expected a probability between 0 and 1, got {value!r}")
    return number


def import_option(value: Any, key: str, location: Any = None) -> Any:
    """A dotted path is imported, anything else is used as is (Django accepts both)."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise CacheConfigError(f"{setting_path(key, location)}: cannot import {value!r} ({exc})") from exc


def options_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """A private copy of OPTIONS, so popping our keys never mutates the user's settings.

    The resilience options are left out: the resilience layer reads them from ``params``.
    """
    options = params.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise CacheConfigError(
            f"CACHES[...]['OPTIONS'] must be a dict, not {type(options).__name__}"
        )
    return {key: value for key, value in options.items() if key not in RESILIENCE_OPTIONS}
