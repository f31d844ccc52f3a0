"""What the outage contract measures with: timing, bounded waits, every operation's answer.

Every loop here is bounded in time and in count. Timing assertions bound the product's
promise, measured from the moment that matters (the kill, the freeze, the servers accepting
connections again), with margins for a slow, shared machine.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from django_altcache.exceptions import CacheUnavailable

# Scheduling on a busy 2-core machine: added to every "within the timeouts" bound. The
# promise these tests hold is "no hang", and a call that really waited for a frozen
# server would take the timeouts plus this much at least once in a run.
SLACK = 0.5
# Heal: hits again within the breaker's cooldown (0.5 s) plus a round trip after the servers
# accept connections; this bound leaves the machine 2 s more.
HEAL = 2.5


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def outcome(call: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """``call()``'s result or exception, and how long it took."""
    started = time.perf_counter()
    try:
        result, error = call(), None
    except Exception as exc:  # noqa: BLE001 - the tests inspect what was raised
        result, error = None, exc
    return result, error, time.perf_counter() - started


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else 0.0


def until(check: Callable[[], Any], within: float, what: str, pause: float = 0.01) -> float:
    """Seconds until ``check()`` is true (exceptions count as not yet), failing after ``within``."""
    started = time.monotonic()
    for _ in range(int(within / pause) + 100):
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - a server still coming back
            pass
        if time.monotonic() - started > within:
            break
        time.sleep(pause)
    raise AssertionError(f"{what}: not within {within} s")


def stores(cache: Any, key: str = "probe") -> Callable[[], bool]:
    """A check: a value set is read back (a fresh value each time)."""
    counter = iter(range(10**9))

    def check() -> bool:
        value = next(counter)
        cache.set(key, value)
        return bool(cache.get(key) == value)

    return check


def in_thread(call: Callable[[], Any], within: float = 120) -> Any:
    """Run ``call`` in a new thread, so a regression that hangs fails the test instead of the
    run; the thread's database connections are closed after."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"a call hung for {within} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def run_async(scenario: Callable[[], Awaitable[Any]], within: float = 120) -> Any:
    """``asyncio.run`` in a thread (see ``in_thread``), closing the database connection of
    asgiref's thread, which the database cache's async twins use."""

    async def main() -> Any:
        try:
            return await scenario()
        finally:
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    return in_thread(lambda: asyncio.run(main()), within)


# -- every operation, fail-soft on ------------------------------------------------------------
EXPECTED = {"get": "dflt", "get_kw": "kw", "get_many": {}, "has_key": False, "set": None, "add": False,
            "touch": False, "delete": False, "set_many": ["a", "b"], "delete_many": None,
            "get_or_set": "computed", "clear": False}
UNAVAILABLE = ("incr", "decr", "incr_version", "decr_version")


def every_operation(cache: Any) -> dict[str, Any]:
    """Each call's answer during an outage with fail-soft on; compare with ``EXPECTED``.
    incr/decr and the version moves must raise ``CacheUnavailable`` (a ValueError)."""
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
        "clear": cache.clear(),
    }
    for op in UNAVAILABLE:
        with pytest.raises(CacheUnavailable):
            getattr(cache, op)("k")
    return answers


async def every_async_operation(cache: Any) -> dict[str, Any]:
    answers = {
        "get": await cache.aget("k", "dflt"),
        "get_kw": await cache.aget("k", default="kw"),
        "get_many": await cache.aget_many(["a", "b"]),
        "has_key": await cache.ahas_key("k"),
        "set": await cache.aset("k", 1),
        "add": await cache.aadd("new", 1),
        "touch": await cache.atouch("k", 10),
        "delete": await cache.adelete("k"),
        "set_many": await cache.aset_many({"a": 1, "b": 2}),
        "delete_many": await cache.adelete_many(["a", "b"]),
        "get_or_set": await cache.aget_or_set("gos", lambda: "computed"),
        "clear": await cache.aclear(),
    }
    for op in UNAVAILABLE:
        with pytest.raises(CacheUnavailable):
            await getattr(cache, "a" + op)("k")
    return answers


# -- every operation, fail-soft off -------------------------------------------------------------
def calls(cache: Any) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: cache.get("k"), "get_many": lambda: cache.get_many(["k", "n"]),
        "has_key": lambda: cache.has_key("k"), "set": lambda: cache.set("k", 1),
        "add": lambda: cache.add("k", 1), "touch": lambda: cache.touch("k"), "delete": lambda: cache.delete("k"),
        "set_many": lambda: cache.set_many({"k": 1}), "delete_many": lambda: cache.delete_many(["k"]),
        "incr": lambda: cache.incr("n"), "decr": lambda: cache.decr("n"),
        "incr_version": lambda: cache.incr_version("n"), "get_or_set": lambda: cache.get_or_set("g", 1),
        "clear": lambda: cache.clear(),
    }
