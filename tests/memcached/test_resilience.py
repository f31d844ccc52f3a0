"""Fail-soft, circuit breakers, timeouts and ping() against real memcached processes we kill and freeze.

Every loop is bounded by a count and a deadline. Timeouts are 50 ms where a test freezes
a server, so "no call over 100 ms" leaves room for the machine, not for the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_altcache.backends._shared.breaker import reset_breakers
from django_altcache.exceptions import CacheUnavailable
from tests.outage import p99

from .stats import server_stats

KEYS = [f"key-{i}" for i in range(90)]
FAST_PROBE_LIMIT = 0.005  # p99 of a call answered by an open breaker (issue 6)
FROZEN_CALL_LIMIT = 0.100  # with 50 ms timeouts


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    # Breakers are shared per process by server address; a restarted server keeps its port.
    reset_breakers()
    yield
    reset_breakers()


def short_timeouts(library: str) -> dict[str, Any]:
    if library == "pymemcache":
        return {"connect_timeout": 0.05, "timeout": 0.05}
    return {"behaviors": {"connect_timeout": 50, "_poll_timeout": 50, "send_timeout": 50_000,
                          "receive_timeout": 50_000}}


def library_errors(library: str) -> tuple[type[BaseException], ...]:
    if library == "pymemcache":
        import pymemcache.exceptions

        return (OSError, pymemcache.exceptions.MemcacheError)
    import pylibmc

    return (pylibmc.Error,)


def old_libmemcached(library: str) -> bool:
    """libmemcached 1.0 (pylibmc's wheel) reports a get on a dead connection or a read
    timeout as a miss (docs/compat.md); 1.1 raises."""
    if library != "pylibmc":
        return False
    import pylibmc

    return str(pylibmc.libmemcached_version).startswith("1.0")


def first_get_may_miss(library: str, get: Callable[[], Any]) -> None:
    """libmemcached 1.0 answers a get on a connection the server closed as a miss, at
    once (docs/compat.md); the calls after it raise. 1.1 and pymemcache raise every time."""
    if old_libmemcached(library):
        try:
            get()
        except library_errors(library):
            pass


def build(cache_for: Any, location: Any, library: str, *, fail_soft: bool, **options: Any) -> Any:
    return cache_for(location, KEY_PREFIX="resilience",
                     OPTIONS={"IGNORE_EXCEPTIONS": fail_soft, **short_timeouts(library), **options})


def timed(func: Callable[[], Any]) -> tuple[float, Any, BaseException | None]:
    started = time.perf_counter()
    try:
        result, error = func(), None
    except Exception as exc:  # noqa: BLE001 - the tests inspect whatever was raised
        result, error = None, exc
    return time.perf_counter() - started, result, error


def wait_for(check: Callable[[], bool], timeout: float, pause: float = 0.01) -> float | None:
    """Seconds until ``check()`` held, or None after ``timeout``; bounded in time and count."""
    started = time.monotonic()
    for _ in range(int(timeout / pause) + 10):
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(pause)
    return None


def stores(cache: Any, key: str, value: Any) -> Callable[[], bool]:
    def check() -> bool:
        cache.set(key, value)
        return bool(cache.get(key) == value)

    return check


def open_breakers(cache: Any) -> None:
    """Fail reads and writes until both breakers are open (bounded)."""
    for _ in range(20):
        cache.get("k")
        cache.set("k", 1)
        if cache.breaker_states() == {"reads": "open", "writes": "open"}:
            return
    pytest.fail(f"breakers still {cache.breaker_states()} after 20 failing reads and writes")


# -- fail-soft on, one server ---------------------------------------------------------------
def test_killed_server_answers_every_fallback(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True)
    cache.set("k", "v")
    cache.set("n", 1)
    own_memcached.kill()

    assert cache.get("k") is None
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k", "n"]) == {}
    assert cache.has_key("k") is False
    assert cache.add("new", 1) is False
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    assert cache.set("k", "w") is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.delete_many(["a", "b"]) is None
    assert cache.get_or_set("k", "computed") == "computed"
    assert cache.get_or_set("k", lambda: "called") == "called"
    for call in (lambda: cache.incr("n"), lambda: cache.decr("n"), lambda: cache.incr_version("n")):
        with pytest.raises(CacheUnavailable):
            call()
    with pytest.raises(ValueError):  # the "try incr, except ValueError: set" idiom keeps working
        cache.incr("n")
    cache.clear()  # no exception


def test_killed_server_open_breaker_is_fast_and_recovery_within_a_second(cache_for, library, own_memcached, caplog):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True)
    cache.set("k", "before")
    own_memcached.kill()
    open_breakers(cache)

    latencies = []
    for i in range(300):
        for func in (lambda: cache.get("k", "d"), lambda i=i: cache.set(f"w{i}", i)):
            elapsed, _, error = timed(func)
            assert error is None
            latencies.append(elapsed)
    assert p99(latencies) <= FAST_PROBE_LIMIT, f"p99 {p99(latencies) * 1000:.2f} ms with the breaker open"

    own_memcached.start()
    recovered = wait_for(stores(cache, "k", "after"), timeout=1.0)
    assert recovered is not None, f"no hit within 1 s of the restart (breakers {cache.breaker_states()})"

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        for i in range(50):
            cache.set(f"after-{i}", i)
            assert cache.get(f"after-{i}") == i
        cache.get("w")
        assert cache.get_many([f"after-{i}" for i in range(3)]) == {"after-0": 0, "after-1": 1, "after-2": 2}
        assert cache.incr("after-1") == 2
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}
    assert [r for r in caplog.records if "reachable again" not in r.getMessage()] == []


def test_frozen_server_never_blocks_past_the_timeouts(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True)
    cache.set("k", "before")
    own_memcached.freeze()
    try:
        slowest = 0.0
        deadline = time.monotonic() + 1.5
        calls = 0
        while time.monotonic() < deadline and calls < 3000:
            for func in (lambda: cache.get("k", "d"), lambda: cache.set("k", 2), lambda: cache.get_many(["k"])):
                elapsed, _, error = timed(func)
                assert error is None, f"{error!r} reached the caller"
                slowest = max(slowest, elapsed)
                calls += 1
        assert slowest <= FROZEN_CALL_LIMIT, f"a call took {slowest * 1000:.0f} ms"
        assert calls > 100  # the open breaker answered most calls at once
    finally:
        own_memcached.thaw()
    assert wait_for(stores(cache, "k", "thawed"), timeout=1.0) is not None, "no hit within 1 s of the thaw"


# -- fail-soft off (the default) -----------------------------------------------------------
def outage_calls(cache: Any) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: cache.get("k"), "get_many": lambda: cache.get_many(["k", "n"]),
        "has_key": lambda: cache.has_key("k"), "set": lambda: cache.set("k", 1),
        "add": lambda: cache.add("k", 1), "touch": lambda: cache.touch("k"), "delete": lambda: cache.delete("k"),
        "set_many": lambda: cache.set_many({"k": 1}), "delete_many": lambda: cache.delete_many(["k"]),
        "incr": lambda: cache.incr("n"), "clear": lambda: cache.clear(),
    }


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_fail_soft_off_raises_the_library_error_within_the_timeout(cache_for, library, own_memcached, outage):
    cache = build(cache_for, own_memcached.location, library, fail_soft=False)
    cache.set("k", "v")
    cache.set("n", 1)
    if outage == "freeze":
        own_memcached.freeze()
    else:
        own_memcached.kill()
    try:
        calls = outage_calls(cache)
        first_get_may_miss(library, calls["get"])
        for _ in range(3):
            for name, call in calls.items():
                elapsed, result, error = timed(call)
                assert isinstance(error, library_errors(library)), f"{name} returned {result!r} ({error!r})"
                assert not isinstance(error, ValueError)
                assert elapsed <= FROZEN_CALL_LIMIT, f"{name} took {elapsed * 1000:.0f} ms"
    finally:
        own_memcached.thaw()


def test_fail_soft_off_with_a_breaker_raises_at_once_then_recovers(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=False,
                  CIRCUIT_BREAKER={"failures": 2, "cooldown": 0.3})
    cache.set("k", "v")
    own_memcached.kill()
    first_get_may_miss(library, lambda: cache.get("k"))
    for _ in range(10):
        with pytest.raises(library_errors(library)):
            cache.get("k")
        if cache.breaker_states()["reads"] == "open":
            break
    assert cache.breaker_states()["reads"] == "open"
    latencies = []
    for _ in range(200):
        elapsed, _, error = timed(lambda: cache.get("k"))
        assert isinstance(error, library_errors(library))
        latencies.append(elapsed)
    assert p99(latencies) <= FAST_PROBE_LIMIT
    own_memcached.start()

    def hit() -> bool:
        try:
            return stores(cache, "k", "back")()
        except library_errors(library):
            return False

    assert wait_for(hit, timeout=1.0) is not None


# -- pools ------------------------------------------------------------------------------------
def shares_of(cache_for: Any, servers: list[Any]) -> list[set[str]]:
    return [set(cache_for(s.location, KEY_PREFIX="resilience").get_many(KEYS)) for s in servers]


def test_pool_fail_soft_one_dead_server_costs_only_its_share(cache_for, library, three_memcached, caplog):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=True)
    assert cache.set_many({key: key for key in KEYS}) == []
    shares = shares_of(cache_for, three_memcached)
    victim, dead, alive = three_memcached[1], shares[1], shares[0] | shares[2]
    assert dead and alive
    victim.kill()

    cache.get_many(KEYS)  # libmemcached 1.0 may drop live replies in the call that finds the failure
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        latencies = []
        for _ in range(100):
            elapsed, found, error = timed(lambda: cache.get_many(KEYS))
            assert error is None and set(found) == alive
            for key in (min(dead), min(alive)):
                elapsed, value, error = timed(lambda key=key: cache.get(key))
                assert error is None and value == (key if key in alive else None)
                latencies.append(elapsed)
        assert p99(latencies) <= FAST_PROBE_LIMIT
        assert set(cache.set_many({key: "again" for key in KEYS})) == dead
        assert cache.get_many(sorted(alive)[:5]) == {key: "again" for key in sorted(alive)[:5]}
        cache.delete_many(KEYS)
        assert cache.get_many(KEYS) == {}
        cache.clear()
    assert len(caplog.records) <= 10, f"{len(caplog.records)} log records for one dead server"

    victim.start()
    back = wait_for(stores(cache, min(dead), "back"), timeout=1.0)
    assert back is not None, "the restarted server was not used again within 1 s"
    assert cache.set_many({key: "back" for key in KEYS}) == []
    assert cache.get_many(KEYS) == {key: "back" for key in KEYS}


def test_pool_fail_soft_off_raises_for_the_dead_servers_keys_only(cache_for, library, three_memcached):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=False)
    cache.set_many({key: key for key in KEYS})
    shares = shares_of(cache_for, three_memcached)
    dead, alive = shares[1], shares[0] | shares[2]
    three_memcached[1].kill()
    first_get_may_miss(library, lambda: cache.get(min(dead)))
    for key in sorted(dead)[:5]:
        with pytest.raises(library_errors(library)):
            cache.get(key)
        with pytest.raises(library_errors(library)):
            cache.set(key, 1)
    for key in sorted(alive)[:5]:
        assert cache.get(key) == key
        cache.set(key, "new")
        assert cache.get(key) == "new"
    if library == "pymemcache":
        with pytest.raises(library_errors(library)):
            cache.get_many(KEYS)
        with pytest.raises(library_errors(library)):
            cache.set_many({key: 1 for key in KEYS})
    else:
        # libmemcached's multi-get skips a failed server without an error (docs/compat.md).
        assert set(cache.get_many(KEYS)) <= alive
        with pytest.raises(library_errors(library)):
            cache.set_many({key: 1 for key in KEYS})


def test_pool_fail_soft_frozen_member_never_blocks_past_the_timeouts(cache_for, library, three_memcached):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=True)
    cache.set_many({key: key for key in KEYS})
    shares = shares_of(cache_for, three_memcached)
    dead, alive = shares[1], shares[0] | shares[2]
    three_memcached[1].freeze()
    try:
        slowest = 0.0
        for _ in range(20):
            for func in (lambda: cache.get(min(dead)), lambda: cache.get(min(alive)),
                         lambda: cache.get_many(KEYS), lambda: cache.set(sorted(dead)[1], 1)):
                elapsed, _, error = timed(func)
                assert error is None
                slowest = max(slowest, elapsed)
        assert slowest <= FROZEN_CALL_LIMIT, f"a call took {slowest * 1000:.0f} ms"
        assert set(cache.get_many(KEYS)) <= alive
        # The frozen server's own breaker is open: its keys answer at once (libmemcached 1.1
        # alone has no retry window for a server that accepts connections but never answers).
        states = cache.breaker_states()["servers"]
        assert states == {s.location: ("open" if s is three_memcached[1] else "closed") for s in three_memcached}
        latencies = [timed(lambda: cache.get(min(dead)))[0] for _ in range(200)]
        assert p99(latencies) <= FAST_PROBE_LIMIT
        # A multi-get still reads the live servers, but no longer waits for the frozen one (50 ms),
        # except the one call that probes it when the cooldown is over.
        waited = [t for t in (timed(lambda: cache.get_many(KEYS))[0] for _ in range(50)) if t > 0.025]
        assert len(waited) <= 1, f"{len(waited)} of 50 get_many calls waited: {waited}"
    finally:
        three_memcached[1].thaw()
    assert wait_for(stores(cache, min(dead), "thawed"), timeout=1.0) is not None


# -- async twins ------------------------------------------------------------------------------
def test_async_twins_fail_soft_and_share_the_breaker(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True,
                  CIRCUIT_BREAKER={"failures": 3, "cooldown": 0.3})

    async def scenario() -> None:
        await cache.aset("k", "v")
        assert await cache.aget("k") == "v"
        own_memcached.kill()
        assert await cache.aget("k", "d") == "d"
        assert await cache.aget_many(["k"]) == {}
        assert await cache.ahas_key("k") is False
        assert await cache.aadd("x", 1) is False
        assert await cache.aset_many({"a": 1}) == ["a"]
        with pytest.raises(CacheUnavailable):
            await cache.aincr("k")
        for _ in range(5):
            await cache.aget("k")
        # One wrapper per call: the async twin's failures open the breaker, and its probe
        # after the cooldown really tries the (still dead) server instead of closing it.
        assert cache.breaker_states()["reads"] == "open"
        await asyncio.sleep(0.35)
        assert await cache.aget("k", "d") == "d"
        assert cache.breaker_states()["reads"] == "open"
        own_memcached.start()
        for _ in range(150):
            await cache.aset("k", "back")
            if await cache.aget("k") == "back":
                break
            await asyncio.sleep(0.01)
        assert await cache.aget("k") == "back"
        assert await cache.aincr_version("k") == 2

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_async_twins_fail_soft_off_raise_the_library_error(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=False)

    async def scenario() -> None:
        await cache.aset("k", 1)
        own_memcached.kill()
        if old_libmemcached(library):
            with contextlib.suppress(*library_errors(library)):
                await cache.aget("k")
        for call in (cache.aget("k"), cache.aset("k", 2), cache.aincr("k"), cache.aget_many(["k"])):
            with pytest.raises(library_errors(library)):
                await call

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_composed_operations_probe_and_close_the_breaker(cache_for, library, own_memcached):
    """has_key and incr_version are built from get/set/delete: alone they must still probe."""
    cache = build(cache_for, own_memcached.location, library, fail_soft=True,
                  CIRCUIT_BREAKER={"failures": 2, "cooldown": 0.2})
    cache.set("k", 1)
    own_memcached.kill()
    open_breakers(cache)
    own_memcached.start()
    assert wait_for(lambda: cache.add("k", 1) and cache.has_key("k"), timeout=1.0) is not None
    assert cache.incr_version("k") == 2
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}


# -- logging ----------------------------------------------------------------------------------
def test_many_failing_calls_log_a_bounded_number_of_records(cache_for, library, own_memcached, caplog):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True,
                  CIRCUIT_BREAKER={"failures": 3, "cooldown": 0.05})
    own_memcached.kill()
    with caplog.at_level(logging.DEBUG, logger="django_altcache"):
        deadline = time.monotonic() + 1.0
        calls = 0
        while time.monotonic() < deadline and calls < 20000:
            cache.get("k")
            cache.set("k", 1)
            calls += 2
    assert calls > 1000
    # One "answered as a miss" record per 10 s, plus the breakers' open/close transitions
    # (at most one per cooldown and side).
    ignored = [r for r in caplog.records if "IGNORE_EXCEPTIONS" in r.getMessage()]
    assert len(ignored) <= 2, [r.getMessage() for r in ignored]
    assert len(caplog.records) <= 6, [r.getMessage() for r in caplog.records]


# -- ping -------------------------------------------------------------------------------------
def test_ping_reaches_every_server(cache_for, library, three_memcached):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=True)
    before = [server_stats(location)["cmd_set"] for location in locations]
    result = cache.ping()
    assert result.servers == locations == cache.servers_description()
    assert 0 < result.latency < 5
    assert [server_stats(location)["cmd_set"] for location in locations] == [n + 1 for n in before]
    assert [server_stats(location)["curr_items"] for location in locations] == [0, 0, 0]  # probe keys deleted


@pytest.mark.parametrize("outage", ["kill", "freeze"])
def test_ping_raises_naming_the_failed_server_even_with_fail_soft(cache_for, library, three_memcached, outage):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=True)
    victim = three_memcached[2]
    if outage == "freeze":
        victim.freeze()
    else:
        victim.kill()
    try:
        started = time.monotonic()
        with pytest.raises(library_errors(library)) as info:
            cache.ping()
        assert time.monotonic() - started < 2
    finally:
        victim.thaw()
    message = str(info.value)
    assert victim.location in message
    assert all(location not in message for location in locations[:2])
    assert cache.get("k", "default") == "default"  # the cache itself still answers


def test_ping_single_server(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=True)
    assert cache.ping().servers == [own_memcached.location]
    own_memcached.kill()
    with pytest.raises(library_errors(library)):
        cache.ping()
