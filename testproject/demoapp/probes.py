"""Round trip through one cache alias: what the backends page and the demo report show.

Each operation's result is compared with what Django's contract says it returns, so a
broken backend shows up as a red cell, not as a 500 page.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches

TIMING_ROUNDS = 20
VALUE = {"greeting": "hello", "numbers": [1, 2, 3]}


@dataclass
class Step:
    op: str
    result: str
    ok: bool
    micros: float


@dataclass
class Probe:
    alias: str
    backend: str  # the configured BACKEND path
    loaded: str  # the class Django actually instantiated
    location: str
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # median microseconds
    holds: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(step.ok for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1e6


def _median_micros(call: Callable[[], Any]) -> float:
    return round(statistics.median(_timed(call)[1] for _ in range(TIMING_ROUNDS)), 1)


def probe(alias: str, demo_keys: Iterable[str] = ()) -> Probe:
    params = settings.CACHES[alias]
    cache = caches[alias]
    result = Probe(
        alias=alias,
        backend=str(params["BACKEND"]),
        loaded=f"{type(cache).__module__}.{type(cache).__qualname__}",
        location=str(params.get("LOCATION", "")),
    )
    # A key of its own per probe, so two page loads never see each other's values.
    key, number = f"probe:{uuid.uuid4().hex[:12]}", f"probe-n:{uuid.uuid4().hex[:12]}"
    expectations: list[tuple[str, Callable[[], Any], Any]] = [
        ("set", lambda: cache.set(key, VALUE, 60), None),
        ("get", lambda: cache.get(key), VALUE),
        ("add existing", lambda: cache.add(key, "other", 60), False),
        ("set int", lambda: cache.set(number, 41, 60), None),
        ("incr", lambda: cache.incr(number), 42),
        ("get_many", lambda: cache.get_many([key, number]), {key: VALUE, number: 42}),
        ("delete", lambda: cache.delete(key), True),
        ("get deleted", lambda: cache.get(key, "<miss>"), "<miss>"),
    ]
    try:
        for op, call, expected in expectations:
            value, micros = _timed(call)
            result.steps.append(Step(op, repr(value), value == expected, round(micros, 1)))
        cache.set(key, VALUE, 60)
        result.timings = {
            "get": _median_micros(lambda: cache.get(key)),
            "set": _median_micros(lambda: cache.set(key, VALUE, 60)),
        }
        cache.delete_many([key, number])
        result.holds = cache.get_many(list(demo_keys))
    except Exception as exc:  # shown on the page: one broken cache must not hide the others
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def probe_all(demo_keys: Iterable[str] = ()) -> list[Probe]:
    keys = list(demo_keys)
    return [probe(alias, keys) for alias in settings.CACHES]
