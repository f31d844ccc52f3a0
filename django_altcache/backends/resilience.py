"""Fail-soft and the circuit breaker: one layer for every network backend.

A backend opts in by calling ``install_resilience(cache, params, ...)`` at the end of
its ``__init__``. With neither ``IGNORE_EXCEPTIONS`` nor ``CIRCUIT_BREAKER`` set,
nothing is installed and the backend's methods run untouched (Django's behaviour,
zero cost). Otherwise each operation of the cache API in ``OPERATIONS`` is replaced,
on that instance only, by a wrapper that

1. asks the breaker whether the cache may be tried (one float compare when closed);
2. runs the backend's own method;
3. on an *outage* error (the backend names its library's connection and timeout
   errors; nothing else counts: ``incr`` on a non-integer still raises) records a
   failure and, with fail-soft on, logs (rate-limited) and returns the operation's
   fallback; with fail-soft off re-raises the library's exception.

Reads and writes have separate breakers: with Redis replicas, reads that a replica can
still serve keep working while the leader is down.

An open breaker answers at once: the fallback with fail-soft on, the library's own
connection error with fail-soft off (no silent miss window). After ``cooldown`` seconds
one caller is let through as the probe; every other caller keeps getting the instant
answer until the probe ends. A probe that succeeds closes the breaker, one that fails
re-opens it for another cooldown, so traffic returns to a restarted server within
``cooldown`` plus one round trip.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache.backends.base import BaseCache

from django_altcache.options import (
    RESILIENCE_OPTIONS,
    CacheConfigError,
    non_negative_float,
    positive_int,
    setting_path,
)

logger = logging.getLogger("django_altcache")

__all__ = ["RESILIENCE_OPTIONS", "CacheUnavailable", "install_resilience", "round_trip"]
BREAKER_KEYS = ("failures", "cooldown")

DEFAULT_FAILURES = 3  # consecutive outage errors that open the breaker
DEFAULT_COOLDOWN = 0.5  # seconds an open breaker answers at once before a probe
DEFAULT_LOG_INTERVAL = 10.0  # seconds between two log records about ignored errors
PROBE_EXPIRY = 30.0  # a probe that never reported back (a killed thread) is replaced after this


class CacheUnavailable(ValueError):  # noqa: N818 - reads as "the cache is unavailable"
    """Raised by incr/decr/incr_version with fail-soft on while the cache is unreachable.

    A ``ValueError``, as for a missing key, so the common ``try: incr() except
    ValueError: set()`` pattern keeps serving (its ``set`` then fails softly too).
    """


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = DEFAULT_FAILURES
    cooldown: float = DEFAULT_COOLDOWN


@dataclass(frozen=True)
class Resilience:
    ignore_exceptions: bool = False
    breaker: BreakerSettings | None = None
    log_interval: float | None = DEFAULT_LOG_INTERVAL  # None: do not log ignored errors

    @property
    def active(self) -> bool:
        return self.ignore_exceptions or self.breaker is not None


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected True or False, got {value!r}")
    return value


def parse_resilience(options: Mapping[str, Any] | None, location: Any = None) -> Resilience:
    """The resilience settings of one CACHES entry; errors name the option at fault."""
    options = options or {}
    try:
        ignore = _strict_bool(options.get("IGNORE_EXCEPTIONS", False))
    except TypeError as exc:
        raise CacheConfigError(f"{setting_path('IGNORE_EXCEPTIONS', location)}: {exc}") from None

    raw = options.get("CIRCUIT_BREAKER", None)
    breaker: BreakerSettings | None
    if raw is None:
        breaker = BreakerSettings() if ignore else None  # on with fail-soft, off without
    elif raw is False:
        breaker = None
    elif raw is True:
        breaker = BreakerSettings()
    elif isinstance(raw, Mapping):
        unknown = sorted(set(raw) - set(BREAKER_KEYS))
        if unknown:
            raise CacheConfigError(
                f"{setting_path('CIRCUIT_BREAKER', location)}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"expected {', '.join(map(repr, BREAKER_KEYS))}"
            )
        try:
            breaker = BreakerSettings(
                failures=positive_int(raw.get("failures", DEFAULT_FAILURES)),
                cooldown=non_negative_float(raw.get("cooldown", DEFAULT_COOLDOWN)),
            )
        except (TypeError, ValueError) as exc:
            raise CacheConfigError(f"{setting_path('CIRCUIT_BREAKER', location)}: {exc}") from None
    else:
        raise CacheConfigError(
            f"{setting_path('CIRCUIT_BREAKER', location)}: expected True, False or a dict with "
            f"{' and '.join(map(repr, BREAKER_KEYS))}, got {raw!r}"
        )

    raw_log = options.get("LOG_IGNORED_EXCEPTIONS", True)
    log_interval: float | None
    if raw_log is True:
        log_interval = DEFAULT_LOG_INTERVAL
    elif raw_log is False:
        log_interval = None
    else:
        try:
            log_interval = non_negative_float(raw_log)
        except (TypeError, ValueError) as exc:
            raise CacheConfigError(
                f"{setting_path('LOG_IGNORED_EXCEPTIONS', location)}: expected True, False or "
                f"the seconds between two log records ({exc})"
            ) from None
    return Resilience(ignore, breaker, log_interval)


class CircuitBreaker:
    """Closed → (``failures`` consecutive outage errors) → open for ``cooldown`` → one probe.

    Thread-safe; the closed path takes no lock. Shared by every instance (thread,
    asyncio task) of the same cache in a process, so one thread's discovery spares the others.
    """

    def __init__(self, name: str, settings: BreakerSettings) -> None:
        self.name = name
        self.failures = settings.failures
        self.cooldown = settings.cooldown
        self._lock = threading.Lock()
        self._count = 0
        self._open_until = 0.0  # 0.0 = closed; else monotonic time the next probe may start
        self._probe_started = 0.0  # 0.0 = no probe running
        self.last_error: BaseException | None = None

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

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
            if self._count >= self.failures:
                self._open_until = time.monotonic() + self.cooldown
                return True
            return False

    def release(self) -> None:
        """The probe ended with an error that says nothing about the server: let another probe."""
        if self._probe_started:
            with self._lock:
                self._probe_started = 0.0


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


# -- what each operation answers when the cache cannot be reached --------------------------
Fallback = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def _default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs["default"] if "default" in kwargs else (args[1] if len(args) > 1 else None)


def _keys_of_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    data = kwargs["data"] if "data" in kwargs else (args[0] if args else {})
    return list(data)


def _constant(value: Any) -> Fallback:
    return lambda args, kwargs: value


def _empty_dict(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {}


def _unavailable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    key = kwargs["key"] if "key" in kwargs else (args[0] if args else None)
    raise CacheUnavailable(f"Key '{key}' not found: the cache is unavailable (IGNORE_EXCEPTIONS)")


READ, WRITE = "read", "write"
# name: (breaker side, fallback). Async twins ("a" + name) share the entry. get_or_set is
# not listed: it is get + add + get, each of which is covered.
OPERATIONS: dict[str, tuple[str, Fallback]] = {
    "get": (READ, _default),
    "get_many": (READ, _empty_dict),
    "has_key": (READ, _constant(False)),
    "set": (WRITE, _constant(None)),
    "add": (WRITE, _constant(False)),
    "touch": (WRITE, _constant(False)),
    "delete": (WRITE, _constant(False)),
    "set_many": (WRITE, _keys_of_data),
    "delete_many": (WRITE, _constant(None)),
    "clear": (WRITE, _constant(False)),
    "incr": (WRITE, _unavailable),
    "decr": (WRITE, _unavailable),
    "incr_version": (WRITE, _unavailable),
    "decr_version": (WRITE, _unavailable),
}


@dataclass
class ResilienceState:
    """What the wrappers of one cache share; ``cache._resilience`` for tests and cachecheck."""

    config: Resilience
    name: str
    errors: tuple[type[BaseException], ...]
    is_outage: Callable[[BaseException], bool] | None
    make_error: Callable[[str], BaseException]
    breakers: dict[str, CircuitBreaker | None] = field(default_factory=dict)
    log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(None))


_registry: dict[tuple[str, str], tuple[CircuitBreaker, RateLimitedLog]] = {}
_registry_lock = threading.Lock()


def _shared_breaker(name: str, side: str, settings: BreakerSettings,
                    log_interval: float | None) -> tuple[CircuitBreaker, RateLimitedLog]:
    key = (name, side)
    entry = _registry.get(key)
    if entry is None or (entry[0].failures, entry[0].cooldown) != (settings.failures, settings.cooldown):
        with _registry_lock:
            entry = _registry.get(key)
            if entry is None or (entry[0].failures, entry[0].cooldown) != (settings.failures, settings.cooldown):
                entry = _registry[key] = (CircuitBreaker(f"{name} ({side}s)", settings), RateLimitedLog(log_interval))
    return entry


def reset_breakers() -> None:
    """Forget every breaker's state (tests; a new process after fork starts fresh too)."""
    with _registry_lock:
        _registry.clear()


if hasattr(os, "register_at_fork"):
    # The child must not inherit a lock held by a parent thread at fork time.
    os.register_at_fork(after_in_child=lambda: _registry.clear())


def install_resilience(
    cache: BaseCache,
    params: Mapping[str, Any],
    *,
    name: str,
    errors: tuple[type[BaseException], ...],
    make_error: Callable[[str], BaseException],
    is_outage: Callable[[BaseException], bool] | None = None,
    location: Any = None,
) -> ResilienceState | None:
    """Wrap ``cache``'s operations per its OPTIONS; returns the shared state, or None when off.

    ``name`` identifies the cache's servers (the breaker is shared by every instance with
    the same name), ``errors`` are the library's connection/timeout errors, ``is_outage``
    narrows them further when a library uses one class for several meanings, and
    ``make_error`` builds the library's own exception for an open breaker with fail-soft off.
    """
    config = parse_resilience(params.get("OPTIONS"), location)
    if not config.active:
        cache._resilience = None  # type: ignore[attr-defined]
        return None
    state = ResilienceState(config, name, errors, is_outage, make_error)
    if config.breaker is not None:
        for side in (READ, WRITE):
            breaker, log = _shared_breaker(name, side, config.breaker, config.log_interval)
            state.breakers[side] = breaker
            state.log = log
    else:
        state.breakers = {READ: None, WRITE: None}
        state.log = _shared_breaker(name, "log", BreakerSettings(), config.log_interval)[1]
    cls = type(cache)
    for op, (side, fallback) in OPERATIONS.items():
        for attr, wrap in ((op, _wrap_sync), ("a" + op, _wrap_async)):
            method = getattr(cache, attr, None)
            # BaseCache's own implementations (the sync_to_async twins, decr, has_key,
            # get_many...) only call other operations, which are wrapped: wrapping them too
            # would count each failure twice, and an inner fallback would look like a reply.
            if method is None or getattr(cls, attr, None) is getattr(BaseCache, attr, None):
                continue
            setattr(cache, attr, wrap(method, attr, fallback, state, state.breakers[side]))
    cache._resilience = state  # type: ignore[attr-defined]
    return state


def _on_skip(state: ResilienceState, op: str, breaker: CircuitBreaker,
             fallback: Fallback, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if state.config.ignore_exceptions:
        return fallback(args, kwargs)
    raise state.make_error(
        f"{state.name}: circuit breaker open after repeated failures ({breaker.last_error!r}); "
        f"next attempt within {breaker.cooldown:g} s"
    )


def _on_error(state: ResilienceState, op: str, breaker: CircuitBreaker | None, exc: BaseException,
              fallback: Fallback, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """One of the library's errors: the fallback for an outage with fail-soft on, else re-raised."""
    if state.is_outage is not None and not state.is_outage(exc):
        if breaker is not None:
            breaker.release()  # says nothing about the server: let another probe
        raise exc
    if breaker is not None and breaker.failure(exc):
        logger.warning("cache %s unavailable, circuit breaker open: calls answer at once for %g s, "
                       "then one probes (%s: %s)", breaker.name, breaker.cooldown, type(exc).__name__, exc)
    if not state.config.ignore_exceptions:
        raise exc
    state.log(logging.WARNING, "cache %s: %s failed, answered as a miss (IGNORE_EXCEPTIONS): %s: %s",
              state.name, op, type(exc).__name__, exc)
    return fallback(args, kwargs)


def _recovered(breaker: CircuitBreaker) -> None:
    logger.warning("cache %s is reachable again, circuit breaker closed", breaker.name)


def _wrap_sync(method: Callable[..., Any], op: str, fallback: Fallback, state: ResilienceState,
               breaker: CircuitBreaker | None) -> Callable[..., Any]:
    errors = state.errors

    def call(*args: Any, **kwargs: Any) -> Any:
        if breaker is not None and not breaker.allow():
            return _on_skip(state, op, breaker, fallback, args, kwargs)
        try:
            result = method(*args, **kwargs)
        except errors as exc:
            return _on_error(state, op, breaker, exc, fallback, args, kwargs)
        except BaseException:
            if breaker is not None:
                breaker.release()
            raise
        if breaker is not None and breaker.success():
            _recovered(breaker)
        return result

    call.__wrapped__ = method  # type: ignore[attr-defined]
    call.__name__ = op
    return call


def _wrap_async(method: Callable[..., Any], op: str, fallback: Fallback, state: ResilienceState,
                breaker: CircuitBreaker | None) -> Callable[..., Any]:
    errors = state.errors

    async def call(*args: Any, **kwargs: Any) -> Any:
        if breaker is not None and not breaker.allow():
            return _on_skip(state, op, breaker, fallback, args, kwargs)
        try:
            result = await method(*args, **kwargs)
        except errors as exc:
            return _on_error(state, op, breaker, exc, fallback, args, kwargs)
        except BaseException:
            if breaker is not None:
                breaker.release()
            raise
        if breaker is not None and breaker.success():
            _recovered(breaker)
        return result

    call.__wrapped__ = method  # type: ignore[attr-defined]
    call.__name__ = op
    return call


# -- ping: a real round trip that bypasses fail-soft ---------------------------------------
@dataclass
class PingResult:
    latency: float  # seconds for set + get + delete
    servers: list[str]  # what the round trip reached, as the user configured them


def unwrapped(cache: BaseCache, op: str) -> Callable[..., Any]:
    """The backend's own bound method, under any resilience wrapper."""
    method = getattr(cache, op)
    return getattr(method, "__wrapped__", method)


def round_trip(cache: BaseCache, servers: list[str]) -> PingResult:
    """set/get/delete of a fresh probe key through the unwrapped methods.

    Raises the library's exception when the server cannot be reached, and
    ``RuntimeError`` when it answers wrongly (a read that does not return what was written).
    """
    key = f"altcache-ping:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    started = time.perf_counter()
    unwrapped(cache, "set")(key, value, 30)
    read = unwrapped(cache, "get")(key)
    unwrapped(cache, "delete")(key)
    latency = time.perf_counter() - started
    if read != value:
        raise RuntimeError(f"probe key written but read back as {read!r}")
    return PingResult(latency, servers)
