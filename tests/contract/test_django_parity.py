"""During an outage an application observes what Django's own backend gives it, by default.

For every configuration Django has a backend for (one Redis, a leader with a replica,
pymemcache, pylibmc, PostgreSQL, MariaDB), each operation is called on Django's backend and
on ours side by side, in the same outage, with the same timeouts: while the server is
unreachable (refused: a client that never connected), killed under clients that were
connected, and frozen. Each call is sampled as the outage is found, right after (inside any
client library's retry window), and after that window (``SCHEDULES``). A test per row
(configuration, phase, operation) asserts the two agree on every call: the same value, or an
exception where Django's raises one, of the same class (or a subclass: what catches Django's
catches ours), or, on the edge of a retry window, of a class Django's raised on another call
of the same outage (``agree``).
docs/compat.md ("During an outage") is this table.

Where Django cannot be measured: with a frozen database server its backend never returns
(no timeout of its own); ours raises ``OperationalError`` within the timeouts (``clear()``
within its own, at least 60 s: not run here).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connections

from .fixtures import target_fixture
from .helpers import SLACK, stores, until
from .targets import TIMEOUT, Target

PHASES = ("refused", "killed", "frozen")
OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "get": lambda c: c.get("k", "dflt"),
    "get_many": lambda c: c.get_many(["k", "n"]),
    "has_key": lambda c: c.has_key("k"),
    "set": lambda c: c.set("k", 2),
    "add": lambda c: c.add("new", 1),
    "touch": lambda c: c.touch("k", 10),
    "delete": lambda c: c.delete("k"),
    "set_many": lambda c: c.set_many({"a": 1, "b": 2}),
    "delete_many": lambda c: c.delete_many(["a", "b"]),
    "incr": lambda c: c.incr("n"),
    "decr": lambda c: c.decr("n"),
    "incr_version": lambda c: c.incr_version("n"),
    "get_or_set": lambda c: c.get_or_set("g", "computed"),
    "clear": lambda c: c.clear(),
}
# Seconds to wait after the previous call before each sample: the call that finds the outage,
# one at once (inside a retry window), then past the library's window. pymemcache: its 1 s
# window, retried until HashClient gives the server up (retry_attempts=2), then once more.
# pylibmc: libmemcached's 2 s retry_timeout.
SCHEDULES = {
    "pymemcache": (0, 0, 1.3, 0, 1.3, 1.3, 0),
    "pylibmc": (0, 0, 2.4, 0),
}
DEFAULT_SCHEDULE = (0, 0, 1.3)

parity_target = target_fixture(["redis", "redis-replicas", "pymemcache", "pylibmc", "postgresql", "mysql"])
_measured: dict[tuple[str, str], dict[str, dict[str, list[tuple[Any, ...]]]]] = {}


def distinct(target: Target, index: int) -> dict[str, Any]:
    """Options that give each operation its own client (retry windows are per client), as
    each of Django's backend instances has; ours are shared per process and settings."""
    if target.name.startswith("redis"):
        return {"socket_timeout": TIMEOUT + index * 1e-6}
    if target.name == "pymemcache":
        return {"timeout": TIMEOUT + index * 1e-6}
    if target.name == "pylibmc":
        options = target.fast()
        options["behaviors"] = {**options["behaviors"], "_poll_timeout": int(TIMEOUT * 1000) + index}
        return options
    return {}


def sample(call: Callable[[], Any]) -> tuple[Any, ...]:
    started = time.perf_counter()
    try:
        result: tuple[Any, ...] = ("value", call())
    except Exception as exc:  # noqa: BLE001 - what the application would see
        result = ("raise", type(exc))
    return (*result, time.perf_counter() - started)


def measure(target: Target, phase: str) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """{impl: {operation: [(kind, value or class, seconds), ...]}} for one outage."""
    frozen_database = phase == "frozen" and target.name in ("postgresql", "mysql")
    impls = ["ours"] if frozen_database else ["django", "ours"]
    operations = {name: call for name, call in OPERATIONS.items() if not (frozen_database and name == "clear")}
    schedule = SCHEDULES.get(target.name, DEFAULT_SCHEDULE)
    results: dict[str, dict[str, list[tuple[Any, ...]]]] = {impl: {} for impl in impls}
    if phase == "refused":
        target.kill()
    ready = threading.Barrier(len(impls) * len(operations) + 1, timeout=120)
    go = threading.Event()

    def worker(impl: str, index: int, name: str, operation: Callable[[Any], Any]) -> None:
        try:
            options = distinct(target, index)
            cache = target.cache(**options) if impl == "ours" else target.django_cache(**options)
            if phase != "refused":
                until(stores(cache, "warm"), 30, "a first round trip")
                until(lambda: (cache.set("k", "v"), cache.set("n", 1), cache.get("n") == 1)[2], 30, "the values")
                cache.close()  # the end of a request: Django's pymemcache backend disconnects here
            ready.wait()
            go.wait(120)
            samples = []
            for delay in schedule:
                time.sleep(delay)
                samples.append(sample(lambda: operation(cache)))
            results[impl][name] = samples
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    threads = [threading.Thread(target=worker, args=(impl, index, name, operation), daemon=True)
               for impl in impls for index, (name, operation) in enumerate(operations.items())]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
        if phase == "killed":
            target.kill()
        elif phase == "frozen":
            target.freeze()
        go.set()
        for thread in threads:
            thread.join(60 + sum(schedule))
        assert not any(thread.is_alive() for thread in threads), "a call hung"
    finally:
        go.set()
        target.thaw()
    record(target, phase, results)
    return results


def record(target: Target, phase: str, results: dict[str, dict[str, list[tuple[Any, ...]]]]) -> None:
    """ALTCACHE_PARITY_TABLE=path appends the measurements (JSON lines), for docs/compat.md."""
    path = os.environ.get("ALTCACHE_PARITY_TABLE")
    if not path:
        return
    with open(path, "a") as out:
        for impl, operations in results.items():
            for name, samples in operations.items():
                shown = [kind == "raise" and f"{value.__module__}.{value.__qualname__}" or repr(value)
                         for kind, value, _ in samples]
                out.write(json.dumps({"target": target.name, "phase": phase, "impl": impl, "op": name,
                                      "samples": shown}) + "\n")


def agree(django: tuple[Any, ...], ours: tuple[Any, ...], raised: set[type[BaseException]]) -> bool:
    """The same value; or an exception where Django's raises one, of a class that what catches
    Django's catches: a subclass of the one Django's raised on that call, or of one it raised
    on another call of the same outage. The latter because a call on the edge of a client
    library's retry window (libmemcached counts it in whole seconds) may fall inside it for one
    client and past it for the other: an application that survives Django's backend through
    the outage catches both classes, so it survives ours."""
    if django[0] != ours[0]:
        return False
    if django[0] == "raise":
        return any(issubclass(ours[1], cls) for cls in (django[1], *raised))
    return bool(ours[1] == django[1])


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("phase", PHASES)
def test_outage_answers_as_djangos(parity_target: Target, phase: str, operation: str) -> None:
    key = (parity_target.name, phase)
    if key not in _measured:
        _measured[key] = measure(parity_target, phase)
    results = _measured[key]
    if operation not in results["ours"]:
        # clear() on a frozen database: bounded by its own timeout (a big table may need it).
        from django_altcache.backends.db import DatabaseCache

        assert DatabaseCache("t", {})._timeouts.bulk >= 60
        return
    ours = results["ours"][operation]
    for kind, _, took in ours:  # never hanging: each call within the timeouts
        assert took <= parity_target.bound + SLACK, f"a call took {took * 1e3:.0f} ms"
    if "django" not in results:
        # A frozen database: Django's backend never returns; ours raises what it raises when
        # the connection is lost.
        assert all(kind == "raise" and issubclass(value, OperationalError) for kind, value, _ in ours), ours
        return
    django = results["django"][operation]
    show = [(d[:2], o[:2]) for d, o in zip(django, ours)]
    raised = {value for kind, value, _ in django if kind == "raise"}
    assert all(agree(d, o, raised) for d, o in zip(django, ours)), f"(Django's, ours) per call: {show}"
