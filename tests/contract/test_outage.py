"""The outage contract, run against every network configuration (``targets.py``): single Redis,
replicas, Sentinel, Cluster, pymemcache, pylibmc, PostgreSQL and MariaDB.

The scenarios: a kill, a freeze, a restart, the breaker's timing, the log flood, fail-soft
off (Django's answers by default, the library's exception on every call with
``STRICT_ERRORS``), and healing. Each outage takes down every server the configuration
needs; what a configuration does with some of its servers down (a replica, one cluster
node, one server of a memcached pool) is tested in that backend's own tests.

Timeouts are 100 ms (``TIMEOUT``; the database connects within 500 ms). A frozen server
costs a call at most its configuration's timeouts (``Target.bound``) plus ``SLACK`` for
the machine; heal times are measured from the moment the servers accept connections.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from .helpers import (
    EXPECTED,
    HEAL,
    SLACK,
    UNAVAILABLE,
    calls,
    every_async_operation,
    every_operation,
    in_thread,
    median,
    outcome,
    run_async,
    stores,
    timed,
    until,
)
from .targets import TIMEOUT, Target

SOFT = {"IGNORE_EXCEPTIONS": True}
COOLDOWN = 0.5  # the breaker's default


def warm(cache: Any) -> None:
    """Until a round trip works: a first connection on a busy machine may exceed the timeouts."""
    until(stores(cache, "warm"), 30, "a first round trip")


def ignored(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django_altcache" and "answered as a miss" in r.getMessage()]


# -- kill -----------------------------------------------------------------------------------------
def test_kill_every_operation_answers_softly(target: Target) -> None:
    cache = target.cache(**SOFT)
    warm(cache)
    target.kill()
    assert every_operation(cache) == EXPECTED
    assert cache.breaker_states() == {"reads": "open", "writes": "open"}


def test_kill_every_async_operation_answers_softly(target: Target) -> None:
    cache = target.cache(**SOFT)
    warm(cache)
    target.kill()
    assert run_async(lambda: every_async_operation(cache)) == EXPECTED
    assert cache.breaker_states() == {"reads": "open", "writes": "open"}


# -- freeze ---------------------------------------------------------------------------------------
def test_freeze_never_blocks_a_call_past_the_timeouts(target: Target) -> None:
    cache = target.cache(**SOFT)
    warm(cache)

    def frozen() -> tuple[float, int]:
        target.freeze()
        worst, count = 0.0, 0
        began = time.monotonic()
        # Long enough for two cooldowns, so the breaker's probes of the frozen servers are timed too.
        while time.monotonic() - began < 2 * COOLDOWN + 0.3 and count < 20_000:
            value, took = timed(lambda: cache.get("k", "dflt"))
            assert value == "dflt"
            worst, count = max(worst, took), count + 1
            time.sleep(0.002)
        answers, took = timed(lambda: every_operation(cache))
        assert answers == EXPECTED
        return worst, count

    try:
        worst, count = in_thread(frozen)
    finally:
        target.thaw()
    thawed = time.monotonic()
    healed = until(stores(cache), HEAL + COOLDOWN, "a hit after the thaw")
    print(f"[{target.name}] frozen: worst of {count} calls {worst * 1e3:.0f} ms "
          f"(bound {target.bound * 1e3:.0f} ms); hit {healed * 1e3:.0f} ms after the thaw")
    assert worst <= target.bound + SLACK, f"a call took {worst * 1e3:.0f} ms against frozen servers"
    assert time.monotonic() - thawed <= HEAL + COOLDOWN


def test_freeze_never_blocks_an_async_call_past_the_timeouts(target: Target) -> None:
    cache = target.cache(**SOFT)
    warm(cache)

    async def frozen() -> float:
        worst = 0.0
        began = time.monotonic()
        for _ in range(5000):
            if time.monotonic() - began > 2 * COOLDOWN + 0.3:
                break
            started = time.perf_counter()
            assert await cache.aget("k", "dflt") == "dflt"
            worst = max(worst, time.perf_counter() - started)
        assert await every_async_operation(cache) == EXPECTED
        return worst

    target.freeze()
    try:
        worst = run_async(frozen)
    finally:
        target.thaw()
    until(stores(cache), HEAL + COOLDOWN, "a hit after the thaw")
    assert worst <= target.bound + SLACK, f"an async call took {worst * 1e3:.0f} ms against frozen servers"


# -- restart and heal -----------------------------------------------------------------------------
def test_restart_heals_within_the_cooldown(target: Target, caplog: Any) -> None:
    cache = target.cache(**SOFT)
    warm(cache)
    target.kill()
    assert every_operation(cache) == EXPECTED  # the breakers are open
    accepting = target.restart()
    until(stores(cache), HEAL, "a hit after the restart")
    back = time.monotonic() - accepting  # measured from the servers accepting connections
    print(f"[{target.name}] hit {back * 1e3:.0f} ms after the servers accepted connections")
    assert back <= HEAL
    # Healed: every answer real, nothing answered softly, the breakers closed.
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        caplog.clear()
        for i in range(100):
            cache.set(f"after{i}", i)
            target.replicated()
            assert cache.get(f"after{i}") == i
        assert cache.get_many(["after1", "after2"]) == {"after1": 1, "after2": 2}
        assert cache.incr("after1") == 2
    assert ignored(caplog) == []
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}


def test_restart_heals_without_fail_soft(target: Target) -> None:
    """Default options: errors (or Django's answers) during the outage, then the next calls work,
    with no request cycle to replace connections."""
    cache = target.cache()
    warm(cache)
    target.kill()
    for name, call in calls(cache).items():
        outcome(call)  # whatever Django's backend would answer (test_django_parity.py)
    accepting = target.restart()
    within = HEAL + target.retry_window
    until(stores(cache), within, "a hit after the restart")
    assert time.monotonic() - accepting <= within
    assert cache.breaker_states() == {}


# -- the breaker's timing -------------------------------------------------------------------------
def test_open_breaker_answers_without_the_network(target: Target) -> None:
    """Against frozen servers, a call that touched the network would take a whole timeout: while
    the breaker is open only its probes (one per cooldown) may."""
    cooldown = 0.3
    cache = target.cache(IGNORE_EXCEPTIONS=True, CIRCUIT_BREAKER={"failures": 3, "cooldown": cooldown})
    warm(cache)

    def frozen() -> tuple[list[float], float]:
        for _ in range(10):
            cache.get("k")
            if cache.breaker_states()["reads"] == "open":
                break
        assert cache.breaker_states()["reads"] == "open"
        samples: list[float] = []
        began = time.monotonic()
        while time.monotonic() - began < 1.0 and len(samples) < 20_000:
            samples.append(timed(lambda: cache.get("k", "dflt"))[1])
            time.sleep(0.001)
        return samples, time.monotonic() - began

    target.freeze()
    try:
        samples, elapsed = in_thread(frozen)
    finally:
        target.thaw()
    waited = [s for s in samples if s >= 0.8 * TIMEOUT]
    print(f"[{target.name}] open breaker: {len(samples)} calls, median {median(samples) * 1e6:.0f} µs, "
          f"{len(waited)} waited (probes)")
    assert len(waited) <= elapsed / cooldown + 2, f"{len(waited)} calls waited on frozen servers"
    assert median(samples) < 0.005


def test_a_breaker_without_fail_soft_raises_at_once_then_probes(target: Target) -> None:
    cache = target.cache(CIRCUIT_BREAKER={"failures": 2, "cooldown": 0.3})
    warm(cache)
    target.kill()
    for _ in range(2):
        with pytest.raises(target.errors):
            cache.get("k")
    samples = []
    for _ in range(50):
        _, error, took = outcome(lambda: cache.get("k"))
        assert isinstance(error, target.errors) and "circuit breaker open" in str(error)
        samples.append(took)
    assert median(samples) < 0.005
    accepting = target.restart()
    until(stores(cache), HEAL, "a hit after the restart (the probe)")
    assert time.monotonic() - accepting <= HEAL


# -- the log --------------------------------------------------------------------------------------
def test_ignored_errors_are_logged_without_a_flood(target: Target, caplog: Any) -> None:
    cache = target.cache(IGNORE_EXCEPTIONS=True, CIRCUIT_BREAKER=False)  # every call reaches the servers
    warm(cache)
    target.kill()
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        caplog.clear()
        began, count = time.monotonic(), 0
        while count < 300 and time.monotonic() - began < 8:  # well inside one 10 s log interval
            assert cache.get("k", "dflt") == "dflt"
            count += 1
    records = [r for r in caplog.records if r.name == "django_altcache"]
    assert count >= 50
    assert 1 <= len(ignored(caplog)) <= 2, [r.getMessage() for r in records]
    assert len(records) <= 4, [r.getMessage() for r in records]


# -- fail-soft off --------------------------------------------------------------------------------
@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_strict_errors_raise_the_library_error_every_time(target: Target, outage: str) -> None:
    """STRICT_ERRORS: no silent answer, ever; each call within the timeouts."""
    cache = target.cache(STRICT_ERRORS=True)
    warm(cache)
    cache.set("n", 1)

    def run() -> None:
        getattr(target, outage)()
        for _ in range(2):  # the call that finds the outage, then one in any retry window
            for name, call in calls(cache).items():
                result, error, took = outcome(call)
                assert isinstance(error, target.errors), f"{name} answered {result!r} ({error!r})"
                assert took <= target.bound + SLACK, f"{name} took {took * 1e3:.0f} ms"

    try:
        in_thread(run)
    finally:
        target.thaw()


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_by_default_calls_fail_as_djangos_within_the_timeouts(target: Target, outage: str) -> None:
    """Default options: what Django's backend answers or raises (test_django_parity.py holds the
    values), never hanging: every call within the timeouts."""
    cache = target.cache()
    warm(cache)

    def run() -> None:
        getattr(target, outage)()
        for name, call in calls(cache).items():
            for _ in range(2):  # the call that finds the outage, then one in any retry window
                result, error, took = outcome(call)
                if error is not None and not isinstance(error, target.errors):
                    # Django's answer: a version move or incr of a key its server could not read.
                    assert isinstance(error, ValueError) and name in UNAVAILABLE, repr(error)
                assert took <= target.bound + SLACK, f"{name} took {took * 1e3:.0f} ms"

    try:
        in_thread(run)
    finally:
        target.thaw()


# -- a real caller: django-ratelimit's pattern ---------------------------------------------------
def rate_limited_count(cache: Any, key: str) -> Any:
    """django-ratelimit's get_usage (RATELIMIT_FAIL_OPEN): add, else incr; ValueError, None or
    False mean the cache failed and the request is let through."""
    if cache.add(key, 1, 60):
        return 1
    try:
        return cache.incr(key)
    except ValueError:
        return None


def test_a_rate_limiter_fails_open_with_fail_soft(target: Target) -> None:
    cache = target.cache(**SOFT)
    warm(cache)
    assert [rate_limited_count(cache, "rl") for _ in range(3)] == [1, 2, 3]
    target.kill()
    for _ in range(5):  # never an exception: the limiter lets the request through
        assert rate_limited_count(cache, "rl") in (None, False)
