"""The counters of one cache alias in this process, fed by the operation pipeline.

The pipeline calls ``record`` once per public cache operation, so it must be cheap:
one dict lookup for the operation's slot, then a few integer additions under one
lock. The lock makes counts exact under threads (``+=`` on a list item is a read,
an add and a write that another thread can interleave), and an uncontended
``threading.Lock`` costs less than anything lock-free we could build in Python.

Exporters (Prometheus, cachestats, the demo dashboard) never touch the live slots:
they read a ``Snapshot``, taken under the same lock, so one scrape sees one instant.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .settings import MetricsSettings
from .snapshot import BreakerStats, OpStats, Snapshot

# Every public operation of the cache API, as the pipeline names it. The async twin
# is the same name with an "a" in front ("aget"); both map to the same operation with
# api="sync"/"async", so no string work happens per call.
OPERATIONS = (
    "get", "get_many", "has_key", "get_or_set",
    "set", "add", "touch", "delete", "set_many", "delete_many",
    "incr", "decr", "incr_version", "decr_version", "clear",
)
# Slot layout: a flat list per (operation, api), numbers only.
CALLS, HITS, MISSES, ERRORS, FALLBACKS, SECONDS, BUCKET0 = range(7)


def error_name(error: type[BaseException]) -> str:
    """Builtins by their name, others fully qualified (OTel's ``error.type`` rule):
    ``redis.exceptions.ConnectionError`` is not the builtin ``ConnectionError``."""
    module = error.__module__
    return error.__qualname__ if module == "builtins" else f"{module}.{error.__qualname__}"


class Recorder:
    """Counts for one alias. ``record``/``breaker`` are called by the pipeline;
    ``snapshot`` by exporters. One per alias per process (``recorder_for``)."""

    tracing = False  # True on recorders whose ``span`` the pipeline must call (otel.py)

    def __init__(self, alias: str, backend: str, settings: MetricsSettings) -> None:
        self.alias = alias
        self.backend = backend
        self.settings = settings
        self.timed = settings.latency  # the pipeline times calls (and passes seconds >= 0) only then
        self._bounds = settings.buckets
        self._width = BUCKET0 + len(self._bounds) + 1  # the last bucket is +Inf
        self._reset()

    def _reset(self) -> None:
        """Empty counters and a fresh lock (also after fork: the parent's lock may be held)."""
        self._lock = threading.Lock()
        self.started = time.time()
        self._slots: dict[str, list[Any]] = {}
        self._names: dict[int, tuple[str, str]] = {}  # id(slot) -> (op, api)
        self._errors: dict[tuple[int, type[BaseException]], int] = {}
        self._breakers: dict[str, list[Any]] = {}  # side -> [state, opens, since]
        for op in OPERATIONS:
            self._add_slot(op, op, "sync")
            self._add_slot("a" + op, op, "async")

    def _add_slot(self, name: str, op: str, api: str) -> list[Any]:
        slot: list[Any] = [0] * self._width
        slot[SECONDS] = 0.0
        self._names[id(slot)] = (op, api)
        self._slots[name] = slot
        return slot

    def _unknown(self, name: str) -> list[Any]:
        # Backend extras (ttl, expire, delete_pattern...) get a slot on first use.
        with self._lock:
            slot = self._slots.get(name)
            if slot is None:
                slot = self._add_slot(name, name, "sync")
        return slot

    # -- called by the pipeline ----------------------------------------------------------
    def record(self, op: str, seconds: float, hits: int, misses: int,
               error: type[BaseException] | None, fallback: bool) -> None:
        """One finished call of ``op`` ("get", or "aget" for the async twin)."""
        slot = self._slots.get(op)
        if slot is None:
            slot = self._unknown(op)
        with self._lock:
            slot[CALLS] += 1
            if hits:
                slot[HITS] += hits
            if misses:
                slot[MISSES] += misses
            if error is not None:
                slot[ERRORS] += 1
                key = (id(slot), error)
                self._errors[key] = self._errors.get(key, 0) + 1
            if fallback:
                slot[FALLBACKS] += 1
            if seconds >= 0.0:
                # le semantics: the first bound >= seconds; past the last one, +Inf.
                slot[BUCKET0 + bisect_left(self._bounds, seconds)] += 1
                slot[SECONDS] += seconds

    def breaker(self, side: str, state: str) -> None:
        """A circuit breaker of this cache changed state ("open"/"closed")."""
        with self._lock:
            entry = self._breakers.setdefault(side, ["closed", 0, self.started])
            if state == "open" and entry[0] != "open":
                entry[1] += 1
            entry[0] = state
            entry[2] = time.time()

    def span(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AbstractContextManager[Any]:
        """Only meaningful when ``tracing`` is True (otel.py); the pipeline checks first."""
        return nullcontext()

    # -- read by exporters ---------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            slots = [(self._names[id(slot)], list(slot)) for slot in self._slots.values()]
            errors = [(self._names[slot_id], error, count) for (slot_id, error), count in self._errors.items()]
            breakers = {side: BreakerStats(state, opens, since)
                        for side, (state, opens, since) in self._breakers.items()}
        by_op: dict[tuple[str, str], dict[str, int]] = {}
        for name, error, count in errors:
            by_op.setdefault(name, {})[error_name(error)] = count
        ops = [OpStats(op, api, values[CALLS], values[HITS], values[MISSES], values[ERRORS],
                       values[FALLBACKS], values[SECONDS], tuple(values[BUCKET0:]),
                       by_op.get((op, api), {}))
               for (op, api), values in slots]
        return Snapshot(self.alias, self.backend, time.time(), self.started, self._bounds,
                        self.settings.latency, ops, breakers)


# -- one recorder per alias per process -----------------------------------------------------
_recorders: dict[str, Recorder] = {}
_registry_lock = threading.Lock()


def recorder_for(alias: str, backend_label: str, settings: MetricsSettings) -> Recorder:
    """The recorder of ``alias``: every instance of the cache (Django builds one per
    thread) shares it. A different configuration for the alias (``override_settings``)
    replaces it, and its counts start from zero."""
    recorder = _recorders.get(alias)
    if recorder is not None and recorder.backend == backend_label and recorder.settings == settings:
        return recorder
    with _registry_lock:
        recorder = _recorders.get(alias)
        if recorder is None or recorder.backend != backend_label or recorder.settings != settings:
            recorder = _build(alias, backend_label, settings)
            _recorders[alias] = recorder
    return recorder


def _build(alias: str, backend_label: str, settings: MetricsSettings) -> Recorder:
    cls: type[Recorder] = Recorder
    if settings.otel:
        from .otel import TracingRecorder

        cls = TracingRecorder
    recorder = cls(alias, backend_label, settings)
    if settings.prometheus:
        from . import prometheus

        prometheus.install()
    return recorder


def recorder_of(alias: str) -> Recorder | None:
    """The recorder counting ``alias`` in this process, if the alias has recorded anything."""
    return _recorders.get(alias)


def recorders() -> list[Recorder]:
    """Every alias that records in this process, in alias order."""
    return [_recorders[alias] for alias in sorted(_recorders)]


def snapshots(aliases: list[str] | None = None) -> list[Snapshot]:
    return [r.snapshot() for r in recorders() if aliases is None or r.alias in aliases]


def forget_recorders() -> None:
    """Drop every recorder (tests)."""
    with _registry_lock:
        _recorders.clear()


def _after_fork_in_child() -> None:
    # A forked worker (gunicorn --preload) counts its own calls from zero: the parent's
    # counts are the parent's, and a parent thread may have held a lock at fork time.
    global _registry_lock
    _registry_lock = threading.Lock()
    for recorder in list(_recorders.values()):
        recorder._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
