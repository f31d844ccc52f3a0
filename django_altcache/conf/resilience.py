"""The resilience options (fail-soft, circuit breaker, logging of ignored errors), for every network backend.

The machinery they drive is ``backends/_shared/guard.py`` and ``backends/_shared/breaker.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .families import Backend
from .findings import CONFLICT, WARNING, Finding
from .spec import Option, Parsed, settings_of
from .values import boolean, non_negative_number, positive_int

DEFAULT_FAILURES = 3  # consecutive outage errors that open the breaker
DEFAULT_COOLDOWN = 0.5  # seconds an open breaker answers at once before a probe
DEFAULT_LOG_INTERVAL = 10.0  # seconds between two log records about ignored errors


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = DEFAULT_FAILURES
    cooldown: float = DEFAULT_COOLDOWN


class _Default:
    """CIRCUIT_BREAKER not given: on with fail-soft, off without (``resilience_of``)."""

    def __repr__(self) -> str:
        return "on with IGNORE_EXCEPTIONS, else off"


BREAKER_DEFAULT: Any = _Default()


def log_interval(value: Any) -> float | None:
    if value is True:
        return DEFAULT_LOG_INTERVAL
    if value is False:
        return None
    try:
        return non_negative_number(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected True, False or the seconds between two log records, got {value!r}") from None


IGNORE_EXCEPTIONS = Option(
    "IGNORE_EXCEPTIONS", boolean, False, network=True, group="Outages",
    doc="Fail soft: while the server cannot be reached, reads miss, writes report failure and "
        "incr/decr raise CacheUnavailable (a ValueError); django-redis's name (docs/resilience.md).")
CIRCUIT_BREAKER = Option(
    "CIRCUIT_BREAKER", settings_of(BreakerSettings, {"failures": positive_int, "cooldown": non_negative_number}),
    BREAKER_DEFAULT, network=True, group="Outages",
    doc="True, False or {'failures': 3, 'cooldown': 0.5}: after that many consecutive outage errors, "
        "answer at once for cooldown seconds, then let one call probe. Default: on with IGNORE_EXCEPTIONS.")
LOG_IGNORED_EXCEPTIONS: Option[float | None] = Option(
    "LOG_IGNORED_EXCEPTIONS", log_interval, DEFAULT_LOG_INTERVAL, network=True, group="Outages",
    doc="True (one record per 10 s per cache, counting what was suppressed), False, or the seconds "
        "between two records of the errors fail-soft answered.")
STRICT_ERRORS = Option(
    "STRICT_ERRORS", boolean, False, network=True, group="Outages",
    doc="Raise the client library's own exception on every failed call, where Django's backend answers "
        "some failures as a miss or False (memcached clients' retry windows). docs/compat.md lists both.")

OPTIONS = (IGNORE_EXCEPTIONS, CIRCUIT_BREAKER, LOG_IGNORED_EXCEPTIONS, STRICT_ERRORS)


@dataclass(frozen=True)
class Resilience:
    ignore_exceptions: bool = False
    breaker: BreakerSettings | None = None
    log_interval: float | None = DEFAULT_LOG_INTERVAL  # None: do not log ignored errors
    strict: bool = False

    @property
    def active(self) -> bool:
        """Whether the guard has anything to do for failures (else it is not installed)."""
        return self.ignore_exceptions or self.breaker is not None


def resilience_of(parsed: Parsed) -> Resilience:
    ignore = parsed[IGNORE_EXCEPTIONS]
    breaker = parsed[CIRCUIT_BREAKER]
    if breaker is BREAKER_DEFAULT:
        breaker = BreakerSettings() if ignore else None
    return Resilience(ignore, breaker, parsed[LOG_IGNORED_EXCEPTIONS], parsed[STRICT_ERRORS])


def log_without_fail_soft(options: Mapping[str, Any], params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    if not backend.ours or backend.family in ("locmem", "filebased", "dummy"):
        return []
    if "LOG_IGNORED_EXCEPTIONS" in options and options.get("IGNORE_EXCEPTIONS") is not True:
        if "IGNORE_EXCEPTIONS" not in options and backend.family == "redis" and _django_redis_fail_soft():
            return []  # on through django-redis's global setting
        return [Finding(WARNING, CONFLICT, ("LOG_IGNORED_EXCEPTIONS",),
                        "has no effect without IGNORE_EXCEPTIONS=True (it rate-limits the log "
                        "of the errors fail-soft ignores)")]
    return []


def _django_redis_fail_soft() -> bool:
    try:
        from django.conf import settings

        return getattr(settings, "DJANGO_REDIS_IGNORE_EXCEPTIONS", False) is True
    except Exception:  # noqa: BLE001 - settings not configured
        return False


RELATIONS = (log_without_fail_soft,)
