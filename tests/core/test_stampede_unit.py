"""Single-flight get_or_set: the option, Django's behaviour without it, the protocol's steps
(sync and async twins held to the same calls), faults, stale copies and early refresh.

In-process caches only (tests/core/stampede_doubles.py); the real servers' tests are in
each backend's group (tests/*/test_stampede.py) and tests/core/test_stampede_backends.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache

from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from django_altcache.conf import CacheConfigError
from django_altcache.stampede import StampedeMixin, StampedeSettings, listen, parse_stampede
from django_altcache.stampede.keys import LOCK, META, STALE, derived, granularity, lock_ttl
from django_altcache.stampede.settings import WAIT_MARGIN

from .stampede_doubles import Down, Recording

# -- the option -----------------------------------------------------------------------------


def test_parse_values() -> None:
    assert parse_stampede(None) is None
    assert parse_stampede(False) is None
    assert parse_stampede(True) == StampedeSettings()
    settings = parse_stampede({"lock_timeout": 3, "wait": 1.5, "early_refresh": True, "beta": 2,
                               "stale": 30, "poll": 0.02})
    assert settings == StampedeSettings(3.0, 1.5, True, 2.0, 30.0, 0.02)
    assert StampedeSettings().wait_seconds == StampedeSettings().lock_timeout + WAIT_MARGIN
    assert parse_stampede({"lock_timeout": 4}).wait_seconds == 4 + WAIT_MARGIN  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "error", "message"), [
    ("yes", TypeError, "expected True, False or a dict"),
    (1, TypeError, "expected True, False or a dict"),
    ({"lock_timeuot": 1}, ValueError, "did you mean 'lock_timeout'?"),
    ({"lock_timeout": "10"}, TypeError, "'lock_timeout' must be a number of seconds"),
    ({"lock_timeout": True}, TypeError, "'lock_timeout' must be a number"),
    ({"lock_timeout": 0}, ValueError, "'lock_timeout' must be >= 0.1"),
    ({"wait": -1}, ValueError, "'wait' must be >= 0"),
    ({"beta": 0}, ValueError, "'beta' must be > 0"),
    ({"stale": float("nan")}, ValueError, "'stale' must be a finite number"),
    ({"early_refresh": "on"}, TypeError, "'early_refresh' must be True or False"),
    ({"poll": 10}, ValueError, "'poll' must be <= 5"),
])
def test_parse_errors(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")) as info:
        parse_stampede(value)
    assert "STAMPEDE" not in str(info.value)  # the caller names the setting


def test_backend_error_names_the_setting(tmp_path: Any) -> None:
    with pytest.raises(CacheConfigError, match=r"\['OPTIONS'\]\['STAMPEDE'\].*'wait' must be"):
        LocMemCache("bad", {"OPTIONS": {"STAMPEDE": {"wait": "long"}}})
    with pytest.raises(CacheConfigError, match="STAMPEDE"):
        FileBasedCache(str(tmp_path), {"OPTIONS": {"STAMPEDE": 3}})


def test_option_is_taken_out_of_options() -> None:
    from django_altcache.backends.redis import RedisCache

    cache = RedisCache("redis://127.0.0.1:1", {"OPTIONS": {"STAMPEDE": True, "socket_timeout": 1}})
    assert "STAMPEDE" not in cache._parsed.rest and cache._parsed.rest["socket_timeout"] == 1
    assert cache._stampede is not None and cache._stampede.settings == StampedeSettings()


def test_every_backend_has_the_mixin() -> None:
    from django_altcache.backends.db import DatabaseCache
    from django_altcache.backends.memcached import PyLibMCCache, PyMemcacheCache
    from django_altcache.backends.redis import RedisCache

    for cls in (RedisCache, PyMemcacheCache, PyLibMCCache, DatabaseCache, FileBasedCache, LocMemCache, DummyCache):
        assert cls.__mro__[1] is StampedeMixin or StampedeMixin in cls.__mro__, cls
        assert cls.get_or_set is StampedeMixin.get_or_set and cls.aget_or_set is StampedeMixin.aget_or_set


def test_instances_of_one_cache_share_a_runtime() -> None:
    params = {"OPTIONS": {"STAMPEDE": True}}
    one, two = LocMemCache("shared-rt", params), LocMemCache("shared-rt", params)
    assert one._stampede is two._stampede
    assert LocMemCache("other-rt", params)._stampede is not one._stampede


# -- without the option: Django's get_or_set, step for step ------------------------------------


def django_steps(cache: Any) -> list[Any]:
    return [
        cache.get_or_set("k", lambda: "computed"), cache.get_or_set("k", "other"),
        cache.get_or_set("n", None), cache.get_or_set("c", "constant", 0), cache.get("c", "gone"),
    ]


def test_off_is_djangos_get_or_set() -> None:
    ours = Recording.build()
    assert ours._stampede is None
    assert django_steps(ours) == django_steps(DjangoLocMemCache("theirs", {}))
    assert ours.ops() == ["get", "add", "get", "get", "get", "add", "get", "get", "add", "get", "get"]


async def test_off_async_is_djangos_steps() -> None:
    ours = Recording.build()
    assert await ours.aget_or_set("k", lambda: "computed") == "computed"
    assert await ours.aget_or_set("k", "other") == "computed"
    assert ours.ops() == ["get", "add", "get", "get"]  # aget, aadd, aget, aget: no thread hop, no lock


# -- with the option: the steps ---------------------------------------------------------------

ON = {"OPTIONS": {"STAMPEDE": {"lock_timeout": 2, "wait": 2, "poll": 0.01}}}


def run_twin(cache: Any, mode: str, key: Any, default: Any, timeout: Any = 300) -> Any:
    if mode == "sync":
        return cache.get_or_set(key, default, timeout)
    return asyncio.run(cache.aget_or_set(key, default, timeout))


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def test_hit_is_one_get(mode: str) -> None:
    cache = Recording.build(ON)
    cache.set("k", "v")
    cache.calls.clear()
    assert run_twin(cache, mode, "k", lambda: pytest.fail("computed on a hit")) == "v"
    assert cache.ops() == ["get"]


def test_miss_takes_the_lock_computes_and_releases(mode: str) -> None:
    cache = Recording.build(ON)
    assert run_twin(cache, mode, "k", lambda: "computed") == "computed"
    assert cache.calls == [("get", "k"), ("add", f"{LOCK}k"), ("get", "k"), ("set", "k"), ("delete", f"{LOCK}k")]
    assert cache.get("k") == "computed" and cache.get(f"{LOCK}k") is None


def test_a_value_stored_meanwhile_is_found_under_the_lock(mode: str) -> None:
    cache = Recording.build(ON)
    real_add = LocMemCache.add

    def add_then_someone_stores(self: Any, key: Any, *args: Any, **kwargs: Any) -> bool:
        LocMemCache.set(self, "k", "theirs")  # the previous holder finished just now
        return real_add(self, key, *args, **kwargs)

    cache.add = add_then_someone_stores.__get__(cache)  # type: ignore[method-assign]
    cache.aadd = (lambda *a, **k: asyncio.sleep(0, cache.add(*a, **k)))  # type: ignore[method-assign]
    assert run_twin(cache, mode, "k", lambda: pytest.fail("computed twice")) == "theirs"
    assert cache.get(f"{LOCK}k") is None


def test_waiter_gets_the_holders_value(mode: str) -> None:
    cache = Recording.build(ON)
    cache.add(f"{LOCK}k", "someone", 5)

    def holder() -> None:
        time.sleep(0.2)
        LocMemCache.set(cache, "k", "theirs")
        LocMemCache.delete(cache, f"{LOCK}k")

    thread = threading.Thread(target=holder)
    thread.start()
    started = time.monotonic()
    assert run_twin(cache, mode, "k", lambda: pytest.fail("computed while another holds the lock")) == "theirs"
    thread.join()
    assert time.monotonic() - started < 1.5
    assert "set" not in cache.ops()[1:]  # the waiter wrote nothing


def test_waiter_computes_unlocked_after_wait(mode: str) -> None:
    cache = Recording.build({"OPTIONS": {"STAMPEDE": {"lock_timeout": 5, "wait": 0.2, "poll": 0.01}}})
    cache.add(f"{LOCK}k", "someone", 5)  # a holder that never finishes within our wait
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        started = time.monotonic()
        assert run_twin(cache, mode, "k", lambda: "mine") == "mine"
    finally:
        stop()
    assert 0.2 <= time.monotonic() - started < 2
    assert seen == ["miss", "timed_out"]
    assert cache.get("k") == "mine"  # stored with add: nobody had stored it
    assert cache.get(f"{LOCK}k") == "someone"  # not ours to delete


def test_dead_holders_lock_expires(mode: str) -> None:
    cache = Recording.build({"OPTIONS": {"STAMPEDE": {"lock_timeout": 0.3, "wait": 5, "poll": 0.01}}})
    cache.add(f"{LOCK}k", "dead holder", 0.3)
    started = time.monotonic()
    assert run_twin(cache, mode, "k", lambda: "mine") == "mine"
    assert 0.25 <= time.monotonic() - started < 2  # within the lock's lifetime (+ polling)
    assert cache.get(f"{LOCK}k") is None


def test_raising_callable_releases_the_lock_and_raises_to_its_caller(mode: str) -> None:
    cache = Recording.build(ON)

    def fail() -> Any:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_twin(cache, mode, "k", fail)
    assert cache.ops()[-1] == "delete" and cache.get(f"{LOCK}k") is None
    assert cache.get("k") is None  # errors are never cached
    assert run_twin(cache, mode, "k", lambda: "next") == "next"


def test_followers_of_a_raising_leader_get_the_next_computation() -> None:
    cache = LocMemCache("followers", ON)
    calls: list[str] = []
    first = threading.Event()

    def compute(who: str) -> Callable[[], str]:
        def run() -> str:
            calls.append(who)
            if len(calls) == 1:
                first.set()
                time.sleep(0.1)
                raise RuntimeError(f"failed in {who}")
            return f"from {who}"
        return run

    results: dict[str, Any] = {}

    def caller(who: str) -> None:
        try:
            results[who] = cache.get_or_set("k", compute(who), 60)
        except RuntimeError as exc:
            results[who] = exc

    threads = [threading.Thread(target=caller, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 2
    failed, succeeded = calls
    assert str(results[failed]) == f"failed in {failed}"
    assert all(value == f"from {succeeded}" for who, value in results.items() if who != failed)


def test_fail_soft_cache_down_computes_without_waiting(mode: str) -> None:
    cache = Down.build({"OPTIONS": {"STAMPEDE": {"lock_timeout": 10, "wait": 10}}})
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        started = time.monotonic()
        assert run_twin(cache, mode, "k", lambda: "computed") == "computed"
    finally:
        stop()
    assert time.monotonic() - started < 1  # not the 10 s wait: nobody holds the lock
    assert seen == ["miss", "refused"]
    assert cache.ops() == ["get", "add", "get_many", "add", "get_many", "add", "get"]


def test_non_callable_default_takes_djangos_steps(mode: str) -> None:
    cache = Recording.build(ON)
    assert run_twin(cache, mode, "k", "constant") == "constant"
    assert cache.ops() == ["get", "add", "get"]


def test_stale_copy_served_while_someone_computes(mode: str) -> None:
    cache = Recording.build({"OPTIONS": {"STAMPEDE": {"stale": 60, "wait": 5, "lock_timeout": 5}}})
    assert run_twin(cache, mode, "k", lambda: "v1", 300) == "v1"
    assert cache.get(f"{STALE}k") == "v1"
    cache.delete("k")  # expired
    cache.add(f"{LOCK}k", "someone", 5)  # and someone is recomputing it
    started = time.monotonic()
    assert run_twin(cache, mode, "k", lambda: pytest.fail("computed"), 300) == "v1"
    assert time.monotonic() - started < 1


def test_timeout_none_keeps_no_metadata_or_stale_copy() -> None:
    cache = Recording.build({"OPTIONS": {"STAMPEDE": {"stale": 60, "early_refresh": True}}})
    assert cache.get_or_set("k", lambda: "v", None) == "v"
    assert cache.get(f"{META}k") is None and cache.get(f"{STALE}k") is None


def test_get_or_set_is_transparent_to_the_guard() -> None:
    from django_altcache.backends._shared.guard import OPERATIONS
    from django_altcache.backends.redis import RedisCache

    cache = RedisCache("redis://127.0.0.1:1", {"OPTIONS": {"STAMPEDE": True, "IGNORE_EXCEPTIONS": True}})
    assert type(cache)._bare is RedisCache  # the guarded variant...
    assert OPERATIONS["get_or_set"].transparent  # ...guards get_or_set's steps, not get_or_set itself
    assert RedisCache.get_or_set is StampedeMixin.get_or_set


# -- async specifics ------------------------------------------------------------------------


async def test_async_callable_is_awaited() -> None:
    cache = LocMemCache("async-callable", ON)

    async def compute() -> str:
        await asyncio.sleep(0.01)
        return "awaited"

    assert await cache.aget_or_set("k", compute) == "awaited"
    assert cache.get("k") == "awaited"


async def test_cancelled_holder_releases_the_lock() -> None:
    cache = LocMemCache("cancelled", ON)
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    task = asyncio.ensure_future(cache.aget_or_set("k", slow))
    await asyncio.wait_for(started.wait(), 5)
    assert cache.get(f"{LOCK}k") is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cache.get(f"{LOCK}k") is None


async def test_tasks_coalesce() -> None:
    cache = LocMemCache("tasks", ON)
    count = [0]

    async def compute() -> str:
        count[0] += 1
        await asyncio.sleep(0.1)
        return "once"

    assert set(await asyncio.gather(*(cache.aget_or_set("k", compute) for _ in range(100)))) == {"once"}
    assert count[0] == 1


# -- keys and clocks --------------------------------------------------------------------------


def test_derived_keys_stay_short() -> None:
    cache = LocMemCache("keys", {"KEY_PREFIX": "p" * 20})
    assert derived(cache, LOCK, "k", None) == f"{LOCK}k"
    long_key = "x" * 240
    name = derived(cache, LOCK, long_key, None)
    assert name.startswith(f"{LOCK}#") and len(cache.make_key(name)) <= 250
    assert name == derived(cache, LOCK, long_key, None)  # stable


def test_memcached_clock() -> None:
    from django_altcache.backends.memcached import PyMemcacheCache

    memcached = PyMemcacheCache("127.0.0.1:1", {})
    assert granularity(memcached) == 1.0 and lock_ttl(memcached, 2.5) == 4.0
    locmem = LocMemCache("clock", {})
    assert granularity(locmem) == 0.0 and lock_ttl(locmem, 2.5) == 2.5


# -- early refresh ----------------------------------------------------------------------------

EARLY = {"OPTIONS": {"STAMPEDE": {"early_refresh": True, "lock_timeout": 2}}}


def test_early_refresh_keeps_djangos_bytes_and_metadata_beside(tmp_path: Any) -> None:
    from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache

    ours = FileBasedCache(str(tmp_path), EARLY)
    assert ours.get_or_set("k", lambda: {"a": 1}, 60) == {"a": 1}
    theirs = DjangoFileBasedCache(str(tmp_path), {})
    assert theirs.get("k") == {"a": 1}  # Django's backend reads the entry as its own
    spent, expiry = theirs.get(f"{META}k")
    assert spent >= 0 and 59 < expiry - time.time() <= 60
    theirs.set("d", "from django", 60)  # and a value Django wrote is a plain hit for us
    assert ours.get_or_set("d", lambda: pytest.fail("computed")) == "from django"


def test_early_refresh_recomputes_near_expiry(mode: str) -> None:
    cache = Recording.build(EARLY)
    assert run_twin(cache, mode, "k", lambda: "v1", 60) == "v1"
    # The entry's metadata says it expires in 1 ms and took 10 s to compute: XFetch fires.
    cache.set(f"{META}k", (10.0, time.time() + 0.001), 60)
    cache._stampede.knowledge.clear()  # type: ignore[union-attr]
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        assert run_twin(cache, mode, "k", lambda: "v2", 60) == "v2"
    finally:
        stop()
    assert seen == ["refreshed"]
    assert cache.get("k") == "v2" and cache.get(f"{LOCK}k") is None
    assert cache.get(f"{META}k")[1] > time.time() + 50


def test_early_refresh_skipped_when_another_process_refreshed(mode: str) -> None:
    cache = Recording.build(EARLY)
    assert run_twin(cache, mode, "k", lambda: "v1", 60) == "v1"
    known = cache._stampede.knowledge.get(("k", None))  # type: ignore[union-attr]
    known.expiry = time.time() + 0.001  # this process's knowledge is older than the cache's
    known.spent, known.draw_from = 10.0, 0.0
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        assert run_twin(cache, mode, "k", lambda: pytest.fail("computed"), 60) == "v1"
    finally:
        stop()
    assert seen == ["skipped"]
    assert cache._stampede.knowledge.get(("k", None)).expiry > time.time() + 50  # type: ignore[union-attr]


def test_failed_early_refresh_serves_the_current_value(mode: str, caplog: Any) -> None:
    cache = Recording.build(EARLY)
    assert run_twin(cache, mode, "k", lambda: "v1", 60) == "v1"
    cache.set(f"{META}k", (10.0, time.time() + 0.001), 60)
    cache._stampede.knowledge.clear()  # type: ignore[union-attr]

    def fail() -> Any:
        raise RuntimeError("backend of the value is down")

    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        assert run_twin(cache, mode, "k", fail, 60) == "v1"
    assert "early refresh of cache key 'k' failed" in caplog.text
    assert cache.get(f"{LOCK}k") is None


def test_hit_reads_metadata_once_per_value() -> None:
    cache = Recording.build(EARLY)
    cache.get_or_set("k", lambda: "v", 60)
    cache._stampede.knowledge.clear()  # type: ignore[union-attr]
    cache.calls.clear()
    for _ in range(5):
        assert cache.get_or_set("k", lambda: "x", 60) == "v"
    assert cache.ops() == ["get_many", "get", "get", "get", "get"]


# -- stale/refresh/invalidate through the engine ------------------------------------------------


def test_refresh_and_invalidate(mode: str) -> None:
    cache = Recording.build({"OPTIONS": {"STAMPEDE": {"early_refresh": True, "stale": 10}}})
    stampede = cache._stampede
    assert stampede is not None
    if mode == "sync":
        assert stampede.refresh(cache, "k", lambda: "fresh", 60) == "fresh"
        assert cache.get("k") == "fresh" and cache.get(f"{META}k") and cache.get(f"{STALE}k") == "fresh"
        stampede.invalidate(cache, "k")
    else:
        assert asyncio.run(stampede.arefresh(cache, "k", lambda: "fresh", 60)) == "fresh"
        assert cache.get("k") == "fresh" and cache.get(f"{META}k") and cache.get(f"{STALE}k") == "fresh"
        asyncio.run(stampede.ainvalidate(cache, "k"))
    assert [cache.get(k) for k in ("k", f"{META}k", f"{STALE}k")] == [None, None, None]


def test_dummy_with_stampede_computes_every_time() -> None:
    cache = DummyCache("", {"OPTIONS": {"STAMPEDE": True}})
    count = [0]

    def compute() -> int:
        count[0] += 1
        return count[0]

    assert [cache.get_or_set("k", compute) for _ in range(3)] == [1, 2, 3]



def test_metadata_survives_a_json_round_trip() -> None:
    """A serializer that has no tuples (JSON, msgpack) gives the metadata back as a list."""
    from django_altcache.stampede.protocol import valid_meta

    meta = (0.25, time.time() + 60)
    assert valid_meta(meta) and valid_meta(list(meta)) and valid_meta([1, 2.5])
    assert not valid_meta((True, 1.0)) and not valid_meta(("a", 1.0)) and not valid_meta((1.0,))
    cache = LocMemCache("json-meta", EARLY)
    assert cache.get_or_set("k", lambda: "v", 60) == "v"
    cache.set(f"{META}k", [10.0, time.time() + 0.001], 60)  # as a JSON codec would return it
    cache._stampede.knowledge.clear()  # type: ignore[union-attr]
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        assert cache.get_or_set("k", lambda: "v2", 60) == "v2"
    finally:
        stop()
    assert seen == ["refreshed"]


def test_with_a_json_codec() -> None:
    """Codecs (docs/codecs.md) encode the lock token and the metadata like any value."""
    cache = LocMemCache("json-codec", {"OPTIONS": {"SERIALIZER": "json",
                                                    "STAMPEDE": {"early_refresh": True, "lock_timeout": 2}}})
    assert cache.get_or_set("k", lambda: {"a": [1, 2]}, 60) == {"a": [1, 2]}
    assert isinstance(cache.get(f"{META}k"), list)  # JSON has no tuples
    cache.set(f"{META}k", [10.0, time.time() + 0.001], 60)
    cache._stampede.knowledge.clear()  # type: ignore[union-attr]
    seen: list[str] = []
    stop = listen(lambda event, key: seen.append(event))
    try:
        assert cache.get_or_set("k", lambda: {"b": 2}, 60) == {"b": 2}
    finally:
        stop()
    assert seen == ["refreshed"] and cache.get(f"{LOCK}k") is None
