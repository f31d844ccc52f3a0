"""Helpers shared by the backends' resilience tests (tests/*/test_resilience.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from django_altcache.exceptions import CacheUnavailable


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def until_hit(cache: Any, within: float) -> float:
    """Seconds until a value set is read back, polling every 10 ms, failing after ``within`` s."""
    started = time.monotonic()
    for attempt in range(int(within / 0.01) + 1):
        cache.set("probe", attempt)
        if cache.get("probe") == attempt:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            break
        time.sleep(0.01)
    raise AssertionError(f"no hit within {within} s of the server coming back")


def every_operation(cache: Any) -> dict[str, Any]:
    """Each API call's answer during an outage with fail-soft on; compare with ``EXPECTED``.
    incr/decr and the version moves must raise ``CacheUnavailable``."""
    answers = {
        "get": cache.get("k", "dflt"),
        "get_kw": cache.get("k", default="kw"),
        "get_many": cache.get_many(["a", "b"]),
        "has_key": cache.has_key("k"),
        "set": cache.set("k", 1),
        "add": cache.add("new", 1),
        "touch": cache.touch("k", 10),
        "delete": cache.delete("k"),
        "set_many": cache.set_many({"a": 1, "b": 2}),
        "delete_many": cache.delete_many(["a", "b"]),
        "get_or_set": cache.get_or_set("gos", lambda: "computed"),
    }
    for op in ("incr", "decr", "incr_version", "decr_version"):
        with pytest.raises(CacheUnavailable):
            getattr(cache, op)("k")
    return answers


EXPECTED = {"get": "dflt", "get_kw": "kw", "get_many": {}, "has_key": False, "set": None, "add": False,
            "touch": False, "delete": False, "set_many": ["a", "b"], "delete_many": None,
            "get_or_set": "computed"}
