"""Memcached outages that are not the contract's (tests/contract/test_outage.py runs the kill,
freeze, restart, breaker, log and fail-soft-off scenarios on one server of each library):
one server of a pool down, the async twins' probes, composed operations, and ping().

Every loop is bounded by a count and a deadline. Timeouts are ``TIMEOUT`` (100 ms); a call
against a frozen server is bounded by the timeout plus ``SLACK`` for the machine.
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
from tests.contract.helpers import HEAL, SLACK, median
from tests.contract.targets import TIMEOUT

from .stats import server_stats

KEYS = [f"key-{i}" for i in range(90)]
FROZEN_CALL_LIMIT = TIMEOUT + SLACK


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    # Breakers are shared per process by server address; a restarted server keeps its port.
    reset_breakers()
    yield
    reset_breakers()


def short_timeouts(library: str) -> dict[str, Any]:
    if library == "pymemcache":
        return {"connect_timeout": TIMEOUT, "timeout": TIMEOUT}
    ms = int(TIMEOUT * 1000)
    return {"behaviors": {"connect_timeout": ms, "_poll_timeout": ms, "send_timeout": ms * 1000,
                          "receive_timeout": ms * 1000}}


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


# -- pools ------------------------------------------------------------------------------------
def shares_of(cache_for: Any, servers: list[Any]) -> list[set[str]]:
    return [set(cache_for(s.location, KEY_PREFIX="resilience").get_many(KEYS)) for s in servers]


def test_pool_fail_soft_one_dead_server_costs_only_its_share(cache_for, library, three_memcached, caplog):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=True)
    assert wait_for(lambda: cache.set_many({key: key for key in KEYS}) == [], timeout=30) is not None
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
        assert median(latencies) < 0.005  # the dead server's breaker answers at once
        assert set(cache.set_many({key: "again" for key in KEYS})) == dead
        assert cache.get_many(sorted(alive)[:5]) == {key: "again" for key in sorted(alive)[:5]}
        cache.delete_many(KEYS)
        assert cache.get_many(KEYS) == {}
        cache.clear()
    assert len(caplog.records) <= 10, f"{len(caplog.records)} log records for one dead server"

    victim.start()
    back = wait_for(stores(cache, min(dead), "back"), timeout=HEAL)
    assert back is not None, f"the restarted server was not used again within {HEAL} s"
    assert cache.set_many({key: "back" for key in KEYS}) == []
    assert cache.get_many(KEYS) == {key: "back" for key in KEYS}


def test_pool_strict_errors_raise_for_the_dead_servers_keys_only(cache_for, library, three_memcached):
    locations = [s.location for s in three_memcached]
    cache = build(cache_for, locations, library, fail_soft=False, STRICT_ERRORS=True)
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
        assert median(latencies) < 0.005
        # A multi-get still reads the live servers, but no longer waits for the frozen one,
        # except the calls that probe it when a cooldown is over.
        began = time.monotonic()
        waited = [t for t in (timed(lambda: cache.get_many(KEYS))[0] for _ in range(50)) if t > 0.8 * TIMEOUT]
        probes = (time.monotonic() - began) / 0.5 + 1  # one per cooldown
        assert len(waited) <= probes, f"{len(waited)} of 50 get_many calls waited: {waited}"
    finally:
        three_memcached[1].thaw()
    assert wait_for(stores(cache, min(dead), "thawed"), timeout=HEAL) is not None


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
        began = time.monotonic()
        for _ in range(1000):
            await cache.aset("k", "back")
            if await cache.aget("k") == "back" or time.monotonic() - began > HEAL:
                break
            await asyncio.sleep(0.01)
        assert await cache.aget("k") == "back"
        assert await cache.aincr_version("k") == 2

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_async_twins_with_strict_errors_raise_the_library_error(cache_for, library, own_memcached):
    cache = build(cache_for, own_memcached.location, library, fail_soft=False, STRICT_ERRORS=True)

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
    # Two waits, not ``add(...) and has_key(...)``: once an ``add`` has stored the key it
    # answers False, so a ``has_key`` still inside its breaker's cooldown at that moment would
    # never be asked again.
    assert wait_for(lambda: cache.add("k", 1), timeout=HEAL) is not None
    assert wait_for(lambda: cache.has_key("k"), timeout=HEAL) is not None
    assert cache.incr_version("k") == 2
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}


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
