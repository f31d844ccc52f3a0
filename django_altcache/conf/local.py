"""The local tier's options: ``LOCAL_CACHE`` (values read kept in process memory).

Two declarations under one name, because the two tiers promise different things:

- ``LOCAL_CACHE`` on ``RedisCache`` (``REDIS_LOCAL_CACHE``): coherent. The server tells every
  process when a key it may hold changes (``CLIENT TRACKING``), so a local hit is never older
  than the last write acknowledged a few milliseconds earlier (``django_altcache/local/``).
- ``LOCAL_CACHE`` on memcached, the database and file caches (``TIMED_LOCAL_CACHE``): those
  servers cannot tell a process about other processes' writes, so a local copy may be stale for
  up to ``ttl`` seconds; the option insists on that number being written down.

The machinery lives in ``django_altcache/local/``; only the declarations are here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .spec import Option, settings_of
from .values import positive_int, positive_seconds_or_none

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_LEASE = 1.0  # seconds of silence from the server after which no local hit is served


def positive_seconds(value: Any) -> float:
    number = positive_seconds_or_none(value)
    if number is None:
        raise TypeError("expected a positive, finite number of seconds, got None")
    return number


def prefixes(value: Any) -> tuple[str, ...]:
    """A list of key prefixes (as the application writes keys, before KEY_PREFIX/VERSION)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of key prefixes (strings), got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"expected a list of key prefixes (strings), got the item {item!r}")
    return tuple(value)


@dataclass(frozen=True)
class RedisLocalSettings:
    """``LOCAL_CACHE`` on RedisCache."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    max_bytes: int = DEFAULT_MAX_BYTES
    ttl: float | None = None  # a cap on how long a value stays local; None: as long as the key lives
    prefixes: tuple[str, ...] = ()  # () = every key of this cache
    lease: float = DEFAULT_LEASE


@dataclass(frozen=True)
class TimedLocalSettings:
    """``LOCAL_CACHE`` on the backends whose server cannot invalidate: ``ttl`` is required."""

    ttl: float = 0.0
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_bytes: int = DEFAULT_MAX_BYTES
    prefixes: tuple[str, ...] = ()


_SIZES = {"max_entries": positive_int, "max_bytes": positive_int, "prefixes": prefixes}

_redis_rule = settings_of(RedisLocalSettings, {**_SIZES, "ttl": positive_seconds_or_none, "lease": positive_seconds})


def _needs_ttl() -> TimedLocalSettings:
    raise ValueError("this backend's server cannot tell a process about other processes' writes: write "
                     "{'ttl': seconds}, how stale a local copy may be (docs/local-cache.md)")


_timed_dict = settings_of(TimedLocalSettings, {**_SIZES, "ttl": positive_seconds}, true=_needs_ttl)


def _timed_rule(value: Any) -> TimedLocalSettings | None:
    settings = _timed_dict(value)
    if settings is not None and not settings.ttl:
        _needs_ttl()
    return settings


_timed_rule.keys = _timed_dict.keys  # type: ignore[attr-defined]  # for the checks' unknown-key findings
timed_rule: Callable[[Any], TimedLocalSettings | None] = _timed_rule

REDIS_LOCAL_CACHE: Option[RedisLocalSettings | None] = Option(
    "LOCAL_CACHE", _redis_rule, None, group="Local cache",
    doc="True or {'max_entries': 10000, 'max_bytes': 64 MiB, 'ttl': None, 'prefixes': [], 'lease': 1.0}: "
        "values read are kept in process memory and served from there until the server reports a write "
        "by any client (CLIENT TRACKING, Redis 6+/Valkey); no local hit after `lease` seconds without "
        "hearing from the server. docs/local-cache.md.")
TIMED_LOCAL_CACHE: Option[TimedLocalSettings | None] = Option(
    "LOCAL_CACHE", timed_rule, None, group="Local cache",
    doc="{'ttl': seconds, 'max_entries': 10000, 'max_bytes': 64 MiB, 'prefixes': []}: values read are "
        "kept in process memory for up to ttl seconds; other processes' writes may go unseen for that "
        "long (this process's own writes are seen at once). docs/local-cache.md.")
