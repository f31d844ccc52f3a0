"""Circuit breakers, the one loop that calls through one, and rate-limited logging.

A ``CircuitBreaker`` is closed until ``failures`` consecutive outage errors, then open for
``cooldown`` seconds (callers are answered at once, without touching the server), then lets
one caller through as the probe; the probe's outcome closes it or re-opens it. The same loop
(``call_through``) serves the cache-wide breakers (``guard.py``) and the per-server breakers of
memcached pools (pymemcache's ``FailFastHashClient``, pylibmc's ``GuardedClient``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django_altcache.conf.resilience import BreakerSettings

from .registry import ProcessRegistry

logger = logging.getLogger("django_altcache")
T = TypeVar("T")

PROBE_EXPIRY = 30.0  # a probe that never reported back (a killed thread) is replaced after this


class CircuitBreaker:
    """Closed → (``failures`` consecutive outage errors) → open for ``cooldown`` → one probe.

    Thread-safe; the closed path takes no lock. Shared by every instance (thread, asyncio
    task) of the same cache in a process, so one thread's discovery spares the others.
    ``name`` says what is behind it, for the log ("cache redis ...", "memcached server h:p").
    """

    def __init__(self, name: str, settings: BreakerSettings) -> None:
        self.name = name
        self.settings = settings
        self.failures = settings.failures
        self.cooldown = settings.cooldown
        self._lock = threading.Lock()
        self._count = 0
        self._open_until = 0.0  # 0.0 = closed; else monotonic time the next probe may start
        self._probe_started = 0.0  # 0.0 = no probe running
        self.last_error: BaseException | None = None
        # Called with True when the breaker opens, False when it closes (metrics).
        self.listeners: list[Callable[[bool], None]] = []

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

    @property
    def state(self) -> str:
        return "open" if self._open_until != 0.0 else "closed"

    def allow(self) -> bool:
        """True when the caller should try the server (closed, or chosen as the probe)."""
        if self._open_until == 0.0:
            return True
        now = time.monotonic()
        if now < self._open_until:
            return False
        with self._lock:
            if self._open_until == 0.0:
                return True
            if self._probe_started and now - self._probe_started < PROBE_EXPIRY:
                return False
            self._probe_started = now
            return True

    def success(self) -> bool:
        """Record a reply from the server; True when this closed an open breaker."""
        if not (self._count or self._open_until):
            return False
        with self._lock:
            was_open = self._open_until != 0.0
            self._count = 0
            self._open_until = 0.0
            self._probe_started = 0.0
            self.last_error = None
        if was_open:
            logger.warning("%s is reachable again, circuit breaker closed", self.name)
            self._tell(False)
        return was_open

    def failure(self, exc: BaseException) -> bool:
        """Record an outage error; True when this opened the breaker (closed → open)."""
        with self._lock:
            self.last_error = exc
            self._count += 1
            self._probe_started = 0.0
            if self._open_until != 0.0:
                self._open_until = time.monotonic() + self.cooldown  # the probe failed
                return False
            if self._count < self.failures:
                return False
            self._open_until = time.monotonic() + self.cooldown
        logger.warning("%s unavailable, circuit breaker open: calls answer at once for %g s, then one probes "
                       "(%s: %s)", self.name, self.cooldown, type(exc).__name__, exc)
        self._tell(True)
        return True

    def release(self) -> None:
        """The probe ended with an error that says nothing about the server: let another probe."""
        if self._probe_started:
            with self._lock:
                self._probe_started = 0.0

    def skip_message(self) -> str:
        return (f"{self.name}: circuit breaker open after repeated failures ({self.last_error!r}); "
                f"next attempt within {self.cooldown:g} s")

    def _tell(self, opened: bool) -> None:
        for listener in list(self.listeners):
            try:
                listener(opened)
            except Exception:  # noqa: BLE001 - a metrics hook must never break a cache call
                logger.exception("circuit breaker listener failed")


def call_through(breaker: CircuitBreaker, call: Callable[[], T], is_outage: Callable[[BaseException], bool],
                 skipped: Callable[[str], BaseException], on_probe: Callable[[], None] | None = None) -> T:
    """Run ``call`` through ``breaker``: refused at once while open (``skipped(message)`` is
    raised), outage errors counted, other errors release a probe, replies close it.
    ``on_probe`` runs first when this call is the probe of an open breaker."""
    probing = breaker.is_open
    if not breaker.allow():
        raise skipped(breaker.skip_message())
    if probing and on_probe is not None:
        on_probe()
    try:
        result = call()
    except Exception as exc:
        if is_outage(exc):
            breaker.failure(exc)
        else:
            breaker.release()
        raise
    except BaseException:
        breaker.release()
        raise
    breaker.success()
    return result


class RateLimitedLog:
    """At most one record per ``interval`` seconds; the next one counts what was skipped."""

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self._next = 0.0
        self._skipped = 0
        self._lock = threading.Lock()

    def __call__(self, level: int, message: str, *args: Any, exc: BaseException | None = None) -> None:
        if self.interval is None:
            return
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._skipped += 1
                return
            skipped, self._skipped = self._skipped, 0
            self._next = now + self.interval
        if skipped:
            message += " (%d similar message(s) suppressed in the last %.0f s)"
            args = (*args, skipped, self.interval)
        logger.log(level, message, *args, exc_info=exc)


# One breaker per (name, side) and one log per name, per process: every instance of a cache
# (Django makes one per thread and per asyncio task) shares them.
BREAKERS: ProcessRegistry[CircuitBreaker] = ProcessRegistry()
LOGS: ProcessRegistry[RateLimitedLog] = ProcessRegistry()


def shared_breaker(name: str, settings: BreakerSettings) -> CircuitBreaker:
    return BREAKERS.get(name, lambda: CircuitBreaker(name, settings),
                        stale=lambda breaker: breaker.settings != settings)


def shared_log(name: str, interval: float | None) -> RateLimitedLog:
    return LOGS.get(name, lambda: RateLimitedLog(interval), stale=lambda log: log.interval != interval)


def reset_breakers() -> None:
    """Forget every breaker's state (tests; a forked child starts fresh too)."""
    BREAKERS.clear()
    LOGS.clear()
