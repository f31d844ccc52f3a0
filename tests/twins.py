"""Sync and async twins held to the same behaviour: one scenario table, run against every backend.

Each scenario starts from the same stored state, runs one operation through the sync method
and, from the same state again, through its ``a``-twin, and compares what they return or raise
and what they leave behind (read back through the sync API).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

SEED = {"s": "text", "n": 5, "d": {"a": [1, 2]}, "none": None}
PROBE = ["s", "n", "d", "none", "new", "absent", "x1", "x2"]


def _call(cache: Any, op: str, args: tuple[Any, ...], kwargs: dict[str, Any], asynchronous: bool) -> Any:
    method = getattr(cache, ("a" + op) if asynchronous else op)
    try:
        result = asyncio.run(method(*args, **kwargs)) if asynchronous else method(*args, **kwargs)
        return ("returned", result)
    except Exception as exc:  # noqa: BLE001 - the exception class is part of the behaviour
        return ("raised", type(exc).__name__)


# (operation, args, kwargs); results are compared as returned, state is compared after.
SCENARIOS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("get", ("s",), {}), ("get", ("absent", "dflt"), {}), ("get", ("none", "dflt"), {}),
    ("get_many", (["s", "n", "absent"],), {}), ("get_many", ([],), {}),
    ("has_key", ("s",), {}), ("has_key", ("absent",), {}),
    ("set", ("new", [1, "x"]), {}), ("set", ("s", "replaced", 60), {}), ("set", ("s", "gone", 0), {}),
    ("add", ("s", "no"), {}), ("add", ("new", "yes"), {}), ("add", ("new", "x", 0), {}),
    ("touch", ("s", 100), {}), ("touch", ("absent", 100), {}),
    ("delete", ("s",), {}), ("delete", ("absent",), {}),
    ("set_many", ({"x1": 1, "x2": "two"},), {}), ("set_many", ({"x1": 1}, 0), {}),
    ("delete_many", (["s", "n", "absent"],), {}),
    ("incr", ("n",), {}), ("incr", ("n", 10), {}), ("incr", ("absent",), {}),
    ("decr", ("n", 2), {}), ("decr", ("absent",), {}),
    ("incr_version", ("s",), {}), ("incr_version", ("absent",), {}),
    ("decr_version", ("s",), {"version": 2}),
    ("get_or_set", ("s", "dflt"), {}), ("get_or_set", ("new", "made", 60), {}),
    ("clear", (), {}),
]
# Backends where incr on a stored non-integer raises, and which class (not compared here).
IDS = [f"{op}-{index}" for index, (op, _, _) in enumerate(SCENARIOS)]


def state(cache: Any) -> dict[str, Any]:
    found = cache.get_many(PROBE)
    found.update({f"v2:{key}": value for key, value in cache.get_many(PROBE, version=2).items()})
    return found


def reset(cache: Any) -> None:
    cache.delete_many(PROBE)
    cache.delete_many(PROBE, version=2)
    cache.delete_many(PROBE, version=0)
    cache.set_many(SEED)


def assert_twins_agree(make: Callable[[], Any], scenario: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
    op, args, kwargs = scenario
    outcomes = []
    for asynchronous in (False, True):
        cache = make()
        reset(cache)
        result = _call(cache, op, args, kwargs, asynchronous)
        outcomes.append((result, state(cache)))
        reset(cache)
    (sync_result, sync_state), (async_result, async_state) = outcomes
    assert async_result == sync_result, f"{op}{args}: sync {sync_result!r}, async {async_result!r}"
    assert async_state == sync_state, f"{op}{args}: left {sync_state!r} (sync) vs {async_state!r} (async)"
