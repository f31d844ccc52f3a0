"""The operation guard: fail-soft, circuit breakers and metrics around every cache operation,
decided once per class, and absent when nothing asks for it.

A backend class never carries wrappers itself. When a cache's OPTIONS turn on something the
guard does (``IGNORE_EXCEPTIONS``, ``CIRCUIT_BREAKER``, ``METRICS``), ``AltCache.__new__``
makes the instance of a *guarded variant* of its class instead: a subclass, made once per class
and process, whose operation methods (``OPERATIONS`` and the class's own ``operations``) run
the class's method inside ``Guard.run``. Without those options the instance is of the class
itself: the default configuration costs nothing per call or per instance.

The guarded method looks the class's implementation up at each call (so ``mock.patch.object``
on the class is honoured) and runs it:

1. unguarded, when this cache is already inside a guarded operation (``_inside``): composed
   operations (``has_key`` built on ``get``, ``aget`` running ``get`` in a thread, Django's
   ``decr`` calling ``incr``) are guarded once, at the outermost call, so a failure is counted
   once and an inner fallback never looks like a reply to the outer call;
2. otherwise through the breaker of its side (reads and writes have one each, so replicas serve
   reads while the leader is down), answering an outage with the operation's fallback (fail-soft)
   or the library's exception, and reporting the call to the metrics recorder.

Marking a call as inside (a ``ContextVar`` set and reset, a third of the guard's cost per call)
only matters for an operation made of others. A class declares in ``leaf_operations`` which of
the operations *it defines* call no other operation of the cache (``get`` reading one entry);
such a call is guarded without the mark. Only the declared function itself is a leaf: a
subclass's override, or a patch of the class, takes the full path. ``DJANGO_ALTCACHE_CHECK_LEAVES=1``
(the test suite sets it) makes variants that check every declaration as they run: an operation
entered from inside a leaf raises ``LeafViolation`` and is listed in ``leaf_violations``.

``get_or_set`` is *transparent*: guarded for metrics only, its inner ``get``/``add`` are guarded
themselves, so an outage answers them one by one and the callable runs at most once.
``bypass(cache)`` runs a block unguarded (``ping``: a real round trip, whatever the breaker says).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import FunctionType
from typing import Any, Protocol

from django_altcache.conf.resilience import Resilience
from django_altcache.exceptions import CacheUnavailable

from .breaker import CircuitBreaker, RateLimitedLog, logger, shared_breaker, shared_log

READ, WRITE, NEITHER = 0, 1, 2  # which breaker: NEITHER for transparent operations
SIDES = ("reads", "writes")

# The cache (if any) whose guarded operation the current thread or task is inside.
_inside: ContextVar[object | None] = ContextVar("django_altcache_guarded", default=None)
# The cache (if any) whose get_or_set the current thread or task is inside, with metrics on: the
# operations it is made of (lookups, lock, polls) are guarded but not counted; get_or_set is.
_quiet: ContextVar[object | None] = ContextVar("django_altcache_quiet", default=None)


class Recorder(Protocol):
    """What the metrics layer receives (django_altcache.metrics)."""

    timed: bool
    tracing: bool  # True: run each call inside ``span(op, args, kwargs)`` (OpenTelemetry)

    def record(self, op: str, seconds: float, hits: int, misses: int, error: type[BaseException] | None,
               fallback: bool) -> None: ...

    def breaker(self, side: str, state: str) -> None: ...


# -- what each operation answers when the cache cannot be reached, and how it hits or misses -----
Fallback = Callable[[tuple[Any, ...], dict[str, Any]], Any]
Outcome = Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, int]]


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _arg(args, kwargs, 1, "default")


def _keys_of_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    return list(_arg(args, kwargs, 0, "data", {}))


def constant(value: Any) -> Fallback:
    return lambda args, kwargs: value


def _empty_dict(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {}


def unavailable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    raise CacheUnavailable(f"Key '{_arg(args, kwargs, 0, 'key')}' not found: the cache is unavailable "
                           "(IGNORE_EXCEPTIONS)")


def _get_outcome(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> tuple[int, int]:
    # _default inlined: this runs on every metered get.
    default = kwargs["default"] if "default" in kwargs else (args[1] if len(args) > 1 else None)
    return (0, 1) if result is default else (1, 0)


def _bool_outcome(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> tuple[int, int]:
    return (1, 0) if result else (0, 1)


def _many_outcome(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> tuple[int, int]:
    # _arg inlined: this runs on every metered get_many.
    keys = args[0] if args else kwargs.get("keys", ())
    found = len(result)
    asked = len(keys) if hasattr(keys, "__len__") else found
    return found, asked - found if asked > found else 0


@dataclass(frozen=True)
class Op:
    side: int  # READ, WRITE or NEITHER: which breaker
    fallback: Fallback  # the fail-soft answer
    outcome: Outcome | None = None  # (hits, misses) of a read, for the metrics
    transparent: bool = False  # metrics only; the operations it is made of are guarded themselves


OPERATIONS: dict[str, Op] = {
    "get": Op(READ, _default, _get_outcome),
    "get_many": Op(READ, _empty_dict, _many_outcome),
    "has_key": Op(READ, constant(False), _bool_outcome),
    "set": Op(WRITE, constant(None)),
    "add": Op(WRITE, constant(False)),
    "touch": Op(WRITE, constant(False)),
    "delete": Op(WRITE, constant(False)),
    "set_many": Op(WRITE, _keys_of_data),
    "delete_many": Op(WRITE, constant(None)),
    "clear": Op(WRITE, constant(False)),
    "incr": Op(WRITE, unavailable),
    "decr": Op(WRITE, unavailable),
    "incr_version": Op(WRITE, unavailable),
    "decr_version": Op(WRITE, unavailable),
    "get_or_set": Op(NEITHER, constant(None), transparent=True),
}


# -- the per-cache state ------------------------------------------------------------------
class Guard:
    """What the guarded methods of one cache share: its outage rules, breakers, log, recorder.

    ``errors``: the library's errors that may mean an outage; ``is_outage`` narrows them (a
    library using one class for several meanings); ``after_outage(exc, probing)`` lets the
    backend act on one (pylibmc renews its clients); ``make_error`` builds the library's own
    exception for an open breaker with fail-soft off.
    """

    __slots__ = ("name", "config", "errors", "is_outage", "after_outage", "make_error", "breakers", "log",
                 "recorder", "tracing", "lean")

    def __init__(self, name: str, config: Resilience, *, errors: tuple[type[BaseException], ...],
                 make_error: Callable[[str], BaseException],
                 is_outage: Callable[[BaseException], bool] | None = None,
                 after_outage: Callable[[BaseException, bool], None] | None = None,
                 breakers: bool = True, recorder: Recorder | None = None) -> None:
        self.name = name
        self.config = config
        self.errors = errors if config.active else ()
        self.is_outage = is_outage
        self.after_outage = after_outage
        self.make_error = make_error
        self.recorder = recorder
        self.tracing = recorder is not None and recorder.tracing
        # Metrics alone (no fail-soft, no breaker): the guarded methods' inline metrics path,
        # with nothing to decide per call (tracing goes through ``run``).
        self.lean = recorder is not None and not config.active
        pair: tuple[CircuitBreaker | None, CircuitBreaker | None] = (None, None)
        if breakers and config.breaker is not None:
            pair = (shared_breaker(f"cache {name} (reads)", config.breaker),
                    shared_breaker(f"cache {name} (writes)", config.breaker))
            if recorder is not None:
                for side, breaker in zip(SIDES, pair):
                    if breaker is not None:
                        _listen(breaker, recorder, side)
        self.breakers = (*pair, None)  # indexed by Op.side
        self.log: RateLimitedLog = shared_log(f"cache {name}", config.log_interval if config.ignore_exceptions else None)

    def states(self) -> dict[str, str]:
        return {side: breaker.state for side, breaker in zip(SIDES, self.breakers[:2]) if breaker is not None}

    # -- the two ways a call can fail ------------------------------------------------------
    def skipped(self, op: str, spec: Op, breaker: CircuitBreaker, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        """The breaker is open: the fallback with fail-soft on, else the library's error."""
        if self.config.ignore_exceptions:
            return spec.fallback(args, kwargs)
        raise self.make_error(breaker.skip_message())

    def failed(self, op: str, spec: Op, breaker: CircuitBreaker | None, exc: BaseException,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """One of the library's errors: the fallback for an outage with fail-soft on, else re-raised."""
        if self.is_outage is not None and not self.is_outage(exc):
            if breaker is not None:
                breaker.release()  # says nothing about the server: let another probe
            raise exc
        probing = breaker is not None and breaker.is_open
        if breaker is not None:
            breaker.failure(exc)
        if self.after_outage is not None:
            self.after_outage(exc, probing)
        if not self.config.ignore_exceptions:
            raise exc
        self.log(logging.WARNING, "cache %s: %s failed, answered as a miss (IGNORE_EXCEPTIONS): %s: %s",
                 self.name, op, type(exc).__name__, exc)
        return spec.fallback(args, kwargs)

    # -- one call --------------------------------------------------------------------------
    # ``impl`` is the class's method (a function: called with ``cache``) or whatever a test
    # patched onto the class (called as Python would call it through an instance: without it).
    def run(self, op: str, spec: Op, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
        # Off the common path only (breaker not closed, or metrics on): the guarded method runs
        # the common case inline (_sync_method), so one path here serves every other case.
        recorder = self.recorder if _quiet.get() is not cache else None
        breaker = self.breakers[spec.side]
        started = time.perf_counter() if recorder is not None and recorder.timed else 0.0
        error: type[BaseException] | None = None
        fallback = False
        try:
            if breaker is not None and not breaker.allow():
                fallback = True
                result = self.skipped(op, spec, breaker, args, kwargs)
            else:
                try:
                    result = impl(cache, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
                except self.errors as exc:
                    error, fallback = type(exc), True
                    result = self.failed(op, spec, breaker, exc, args, kwargs)
                else:
                    if breaker is not None:
                        breaker.success()
        except BaseException as exc:
            if breaker is not None and error is None:
                breaker.release()
            if recorder is not None:
                self._record(recorder, op, started, None, args, kwargs, type(exc), False)
            raise
        if recorder is not None:
            self._record(recorder, op, started, spec.outcome, args, kwargs, error, fallback, result)
        return result

    async def arun(self, op: str, spec: Op, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
        recorder = self.recorder if _quiet.get() is not cache else None
        breaker = self.breakers[spec.side]
        if recorder is None and (breaker is None or not breaker._open_until):
            try:
                if type(impl) is FunctionType:
                    result = await impl(cache, *args, **kwargs)
                else:
                    result = await impl(*args, **kwargs)
            except self.errors as exc:
                return self.failed(op, spec, breaker, exc, args, kwargs)
            if breaker is not None and breaker._count:
                breaker.success()
            return result
        started = time.perf_counter() if recorder is not None and recorder.timed else 0.0
        error: type[BaseException] | None = None
        fallback = False
        try:
            if breaker is not None and not breaker.allow():
                fallback = True
                result = self.skipped(op, spec, breaker, args, kwargs)
            else:
                try:
                    if type(impl) is FunctionType:
                        result = await impl(cache, *args, **kwargs)
                    else:
                        result = await impl(*args, **kwargs)
                except self.errors as exc:
                    error, fallback = type(exc), True
                    result = self.failed(op, spec, breaker, exc, args, kwargs)
                else:
                    if breaker is not None:
                        breaker.success()
        except BaseException as exc:
            if breaker is not None and error is None:
                breaker.release()
            if recorder is not None:
                self._record(recorder, "a" + op, started, None, args, kwargs, type(exc), False)
            raise
        if recorder is not None:
            self._record(recorder, "a" + op, started, spec.outcome, args, kwargs, error, fallback, result)
        return result

    # -- get_or_set with metrics: one call, a hit when the caller's callable did not run -----
    def metered(self, op: str, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if self.tracing:
            with self.recorder.span(op, args, kwargs) as span:  # type: ignore[union-attr]
                result = self._metered(op, impl, cache, args, kwargs)
                span.set_result(result)
                return result
        return self._metered(op, impl, cache, args, kwargs)

    def _metered(self, op: str, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        recorder: Any = self.recorder
        args, kwargs, ran = _watch_default(args, kwargs)
        started = time.perf_counter() if recorder.timed else 0.0
        token = _quiet.set(cache)
        try:
            result = impl(cache, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
        except BaseException as exc:
            self._record(recorder, op, started, None, args, kwargs, type(exc), False)
            raise
        finally:
            _quiet.reset(token)
        self._record(recorder, op, started, _ran_outcome(ran), args, kwargs, None, False, result)
        return result

    async def ametered(self, op: str, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        if self.tracing:
            with self.recorder.span("a" + op, args, kwargs) as span:  # type: ignore[union-attr]
                result = await self._ametered(op, impl, cache, args, kwargs)
                span.set_result(result)
                return result
        return await self._ametered(op, impl, cache, args, kwargs)

    async def _ametered(self, op: str, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
        recorder: Any = self.recorder
        args, kwargs, ran = _watch_default(args, kwargs)
        started = time.perf_counter() if recorder.timed else 0.0
        token = _quiet.set(cache)
        try:
            if type(impl) is FunctionType:
                result = await impl(cache, *args, **kwargs)
            else:
                result = await impl(*args, **kwargs)
        except BaseException as exc:
            self._record(recorder, "a" + op, started, None, args, kwargs, type(exc), False)
            raise
        finally:
            _quiet.reset(token)
        self._record(recorder, "a" + op, started, _ran_outcome(ran), args, kwargs, None, False, result)
        return result

    def traced(self, op: str, spec: Op, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
        """The call inside the recorder's span (OpenTelemetry): current while the call runs."""
        with self.recorder.span(op, args, kwargs) as span:  # type: ignore[union-attr]
            result = self.run(op, spec, impl, cache, args, kwargs)
            span.set_result(result)
            return result

    async def atraced(self, op: str, spec: Op, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        with self.recorder.span("a" + op, args, kwargs) as span:  # type: ignore[union-attr]
            result = await self.arun(op, spec, impl, cache, args, kwargs)
            span.set_result(result)
            return result

    @staticmethod
    def _record(recorder: Recorder, op: str, started: float, outcome: Outcome | None, args: tuple[Any, ...],
                kwargs: dict[str, Any], error: type[BaseException] | None, fallback: bool,
                result: Any = None) -> None:
        seconds = time.perf_counter() - started if started else -1.0
        hits, misses = outcome(args, kwargs, result) if outcome is not None and error is None else (0, 0)
        try:
            recorder.record(op, seconds, hits, misses, error, fallback)
        except Exception:  # noqa: BLE001 - metrics must never break a cache call
            logger.exception("django_altcache: the metrics recorder failed")


def _watch_default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any],
                                                                         list[bool] | None]:
    """get_or_set's arguments with a callable default wrapped to note that it ran (a miss);
    ``None`` as the note when the default is a plain value (the outcome cannot be told)."""
    if "default" in kwargs:
        default, where = kwargs["default"], "kwargs"
    elif len(args) > 1:
        default, where = args[1], "args"
    else:
        return args, kwargs, None
    if not callable(default):
        return args, kwargs, None
    ran: list[bool] = []

    def watched() -> Any:
        ran.append(True)
        return default()

    if where == "kwargs":
        return args, {**kwargs, "default": watched}, ran
    return (args[0], watched, *args[2:]), kwargs, ran


def _ran_outcome(ran: list[bool] | None) -> Outcome | None:
    if ran is None:
        return None
    return lambda args, kwargs, result: (0, 1) if ran else (1, 0)


class _BreakerListener:
    """Tells a recorder when a breaker opens or closes."""

    __slots__ = ("recorder", "side")

    def __init__(self, recorder: Recorder, side: str) -> None:
        self.recorder, self.side = recorder, side

    def __call__(self, opened: bool) -> None:
        self.recorder.breaker(self.side, "open" if opened else "closed")


def _listen(breaker: CircuitBreaker, recorder: Recorder, side: str) -> None:
    """One listener per recorder and side: the breaker is shared by every instance of the cache
    (Django builds one per thread, and per task under ASGI), and each builds a Guard."""
    if any(isinstance(listener, _BreakerListener) and listener.recorder is recorder and listener.side == side
           for listener in breaker.listeners):
        return
    breaker.listeners.append(_BreakerListener(recorder, side))
    recorder.breaker(side, breaker.state)  # the state it starts from, before any change


# -- the guarded variant of a class -----------------------------------------------------------
_variants: dict[type, type] = {}


def _counted(recorder: Any, op: str, started: float, outcome: Outcome | None, args: tuple[Any, ...],
             kwargs: dict[str, Any], result: Any) -> None:
    """Report a call that returned, for a guard with metrics alone (``Guard.lean``)."""
    hits, misses = outcome(args, kwargs, result) if outcome is not None else (0, 0)
    try:
        recorder.record(op, time.perf_counter() - started if started else -1.0, hits, misses, None, False)
    except Exception:  # noqa: BLE001 - metrics must never break a cache call
        logger.exception("django_altcache: the metrics recorder failed")


def leaf_function(cls: type, name: str) -> FunctionType | None:
    """The function ``cls.<name>`` when the class defining it declares it a leaf, else None."""
    owner = next((klass for klass in cls.__mro__ if name in vars(klass)), None)
    if owner is None or name not in vars(owner).get("leaf_operations", ()):
        return None
    function = vars(owner)[name]
    return function if type(function) is FunctionType else None


def _dispatch(guard: Guard, op: str, spec: Op, impl: Callable[..., Any], cache: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
    """A guarded call off the inline paths: tracing on, metrics with fail-soft or a breaker, or
    the breaker not closed."""
    if guard.tracing and _quiet.get() is not cache:
        return guard.traced(op, spec, impl, cache, args, kwargs)
    return guard.run(op, spec, impl, cache, args, kwargs)


def _sync_method(bare: type, name: str, op: str, spec: Op) -> Callable[..., Any]:
    transparent = spec.transparent
    side = spec.side
    outcome = spec.outcome
    leaf: Any = None if transparent else leaf_function(bare, name)  # compared by identity only
    inside = _inside.get

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        impl = getattr(bare, name)  # looked up per call: a patch of the class is honoured
        if transparent:
            guard = self._guard
            if guard.recorder is not None and _quiet.get() is not self:
                return guard.metered(op, impl, self, args, kwargs)
            return impl(self, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
        if inside() is self:
            return impl(self, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
        guard = self._guard
        # A leaf calls no other operation of this cache: nothing to mark as inside (the
        # ContextVar set and reset are most of the guard's cost per call).
        token = None if impl is leaf else _inside.set(self)
        try:
            breaker = guard.breakers[side]
            if guard.recorder is not None or (breaker is not None and breaker._open_until):
                if guard.lean and not guard.tracing and _quiet.get() is not self:
                    # Metrics alone (nothing answers instead of the call), inline as in the async
                    # method: what ``Guard.run`` does for such a guard, two calls fewer.
                    recorder: Any = guard.recorder
                    started = time.perf_counter() if recorder.timed else 0.0
                    try:
                        result = impl(self, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
                    except BaseException as exc:
                        guard._record(recorder, op, started, None, args, kwargs, type(exc), False)
                        raise
                    _counted(recorder, op, started, outcome, args, kwargs, result)
                    return result
                return _dispatch(guard, op, spec, impl, self, args, kwargs)
            # The common case (breaker closed, no metrics), inline: the least work per call.
            try:
                result = impl(self, *args, **kwargs) if type(impl) is FunctionType else impl(*args, **kwargs)
            except guard.errors as exc:
                return guard.failed(op, spec, breaker, exc, args, kwargs)
            if breaker is not None and breaker._count:
                breaker.success()
            return result
        finally:
            if token is not None:
                _inside.reset(token)

    method.__name__ = name
    return method


# -- checking the leaf declarations (the test suite) --------------------------------------------
class LeafViolation(BaseException):
    """An operation entered from inside one that its class declared a leaf (``leaf_operations``).
    A BaseException, so that a backend's ``except Exception`` cannot hide it."""


leaf_violations: list[str] = []


@dataclass(frozen=True)
class _InLeaf:
    """``_inside``'s value during a checked leaf call: not the cache, so the call is still guarded."""

    cache: object
    name: str


def _checking(bare: type, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, refusing to be entered from inside a leaf, and marking its own leaf calls."""
    is_async = inspect.iscoroutinefunction(method)
    leaf = None if is_async else leaf_function(bare, name)

    def refuse(self: Any) -> None:
        current = _inside.get()
        if type(current) is _InLeaf and current.cache is self:
            message = (f"{bare.__module__}.{bare.__qualname__}.{current.name} is declared in leaf_operations "
                       f"but called {name} on the same cache")
            leaf_violations.append(message)
            raise LeafViolation(message)

    if is_async:
        async def checked_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            refuse(self)
            return await method(self, *args, **kwargs)

        return functools.wraps(method)(checked_async)

    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse(self)
        if leaf is None or getattr(bare, name) is not leaf or _inside.get() is self:
            return method(self, *args, **kwargs)
        token = _inside.set(_InLeaf(self, name))
        try:
            return method(self, *args, **kwargs)
        finally:
            _inside.reset(token)

    return functools.wraps(method)(checked)


def _async_method(bare: type, name: str, op: str, spec: Op) -> Callable[..., Any]:
    transparent = spec.transparent
    outcome = spec.outcome
    aop = "a" + op
    # An inline twin (twins.py: the sync method on the event loop) is run as its sync method,
    # called here: no coroutine and no second pass through the guard per call. Only while the
    # class still has that twin (a patched ``aget`` is awaited as usual).
    twin = getattr(bare, name, None)
    inline_of: str | None = getattr(twin, "inline_of", None)

    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        impl = getattr(bare, name)
        if transparent:
            guard = self._guard
            if guard.recorder is not None and _quiet.get() is not self:
                return await guard.ametered(op, impl, self, args, kwargs)
            if type(impl) is FunctionType:
                return await impl(self, *args, **kwargs)
            return await impl(*args, **kwargs)
        if _inside.get() is self:
            if type(impl) is FunctionType:
                return await impl(self, *args, **kwargs)
            return await impl(*args, **kwargs)
        token = _inside.set(self)
        try:
            guard = self._guard
            if guard.lean and not guard.tracing and _quiet.get() is not self:
                # Metrics alone, inline (one coroutine less than ``arun``): the sync method's path.
                recorder = guard.recorder
                started = time.perf_counter() if recorder.timed else 0.0  # type: ignore[union-attr]
                try:
                    if impl is twin and inline_of is not None:
                        sync = getattr(bare, inline_of)
                        result = sync(self, *args, **kwargs) if type(sync) is FunctionType else sync(*args, **kwargs)
                    elif type(impl) is FunctionType:
                        result = await impl(self, *args, **kwargs)
                    else:
                        result = await impl(*args, **kwargs)
                except BaseException as exc:
                    guard._record(recorder, aop, started, None, args, kwargs, type(exc), False)  # type: ignore[arg-type]
                    raise
                _counted(recorder, aop, started, outcome, args, kwargs, result)
                return result
            return await (guard.atraced if guard.tracing else guard.arun)(op, spec, impl, self, args, kwargs)
        finally:
            _inside.reset(token)

    method.__name__ = name
    return method


def guarded_variant(cls: type) -> type:
    """The subclass of ``cls`` whose operations run through the instance's ``Guard`` (made once)."""
    variant = _variants.get(cls)
    if variant is not None:
        return variant
    operations: Mapping[str, Op] = {**OPERATIONS, **getattr(cls, "operations", {})}
    namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                 "__doc__": cls.__doc__, "_bare": cls}
    check = os.environ.get("DJANGO_ALTCACHE_CHECK_LEAVES") == "1"
    for op, spec in operations.items():
        for name, make in ((op, _sync_method), ("a" + op, _async_method)):
            if callable(getattr(cls, name, None)):
                method = make(cls, name, op, spec)
                if check:
                    method = _checking(cls, name, method)
                method.__qualname__ = f"{cls.__qualname__}.{name}"
                method.__doc__ = getattr(cls, name).__doc__
                namespace[name] = method
    variant = _variants.setdefault(cls, type(cls.__name__, (cls,), namespace))
    return variant


@contextlib.contextmanager
def bypass(cache: object) -> Iterator[None]:
    """Run the block's operations on ``cache`` unguarded: no breaker, no fallback, no metrics."""
    token = _inside.set(cache)
    try:
        yield
    finally:
        _inside.reset(token)
