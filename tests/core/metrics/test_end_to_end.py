"""Through the operation pipeline: real cache calls with OPTIONS["METRICS"], counted exactly."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings
from prometheus_client import REGISTRY, generate_latest

from django_altcache.metrics.recorder import _recorders

from .helpers import exposition_values, in_threads, value

GETS_PER_THREAD = 2000  # each thread: keys hit:0..49 exist, miss:* never do; 3 hits then a miss


@pytest.fixture
def metered(alias: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    backend = request.param if hasattr(request, "param") else "locmem"
    entry = {"locmem": {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": alias},
             "filebased": {"BACKEND": "django_altcache.backends.filebased.FileBasedCache",
                           "LOCATION": str(tmp_path / "files")}}[backend]
    entry["OPTIONS"] = {"METRICS": {"latency": True}}
    with override_settings(CACHES={alias: entry}):
        yield alias
        caches[alias].clear()


@pytest.mark.parametrize("metered", ["locmem", "filebased"], indirect=True)
def test_gets_from_four_threads_are_counted_exactly(metered: str) -> None:
    alias = metered
    caches[alias].set_many({f"hit:{i}": i for i in range(50)})

    def work(index: int) -> None:
        cache = caches[alias]  # one instance per thread, as Django gives them
        for i in range(GETS_PER_THREAD):
            cache.get(f"miss:{i}" if i % 4 == 3 else f"hit:{i % 50}")

    in_threads(4, work)
    gets, hits, misses = 4 * GETS_PER_THREAD, 3 * GETS_PER_THREAD, GETS_PER_THREAD
    backend = "locmem" if "locmem" in str(type(caches[alias])) else "filebased"

    samples = exposition_values(generate_latest(REGISTRY).decode())
    labels = {"alias": alias, "backend": backend, "op": "get", "api": "sync"}
    assert value(samples, "django_altcache_operations_total", **labels) == gets
    assert value(samples, "django_altcache_hits_total", **labels) == hits
    assert value(samples, "django_altcache_misses_total", **labels) == misses
    assert value(samples, "django_altcache_operation_seconds_count", **labels) == gets
    assert value(samples, "django_altcache_operations_total", **{**labels, "op": "set_many"}) == 1

    out = io.StringIO()
    call_command("cachestats", alias, "--json", stdout=out)
    metrics = json.loads(out.getvalue())["caches"][0]["metrics"]
    assert (metrics["hits"], metrics["misses"], metrics["calls"]) == (hits, misses, gets + 1)


def test_async_twins_are_counted_as_async(metered: str) -> None:
    cache = caches[metered]

    async def calls() -> None:
        await cache.aset("k", 1)
        await cache.aget("k")
        await cache.aget("nope")
        await cache.aget_many(["k", "nope"])
        with pytest.raises(ValueError):
            await cache.aincr("missing")  # an error is counted, then raised as without metrics

    asyncio.run(calls())
    cache.get("k")
    ops = {(s.op, s.api): s for s in _recorders[metered].snapshot().used()}
    assert (ops[("get", "async")].calls, ops[("get", "async")].hits, ops[("get", "async")].misses) == (2, 1, 1)
    assert (ops[("get_many", "async")].hits, ops[("get_many", "async")].misses) == (1, 1)
    assert ops[("set", "async")].calls == 1 and ops[("get", "sync")].calls == 1
    assert ops[("incr", "async")].errors_by_class == {"ValueError": 1} and ("incr", "sync") not in ops


def test_composite_operations_and_errors(metered: str) -> None:
    cache = caches[metered]
    assert cache.get_or_set("g", 5) == 5
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("n", 1)
    assert cache.decr("n") == 0  # Django's decr is incr(-delta): counted once, as decr
    assert cache.has_key("n")
    ops = {(s.op, s.api): s for s in _recorders[metered].snapshot().used()}
    assert ops[("get_or_set", "sync")].calls == 1
    assert ops[("incr", "sync")].errors_by_class == {"ValueError": 1}
    assert ops[("decr", "sync")].calls == 1 and ("incr", "sync") in ops and ops[("incr", "sync")].calls == 1
    assert ops[("has_key", "sync")].hits == 1


def test_without_metrics_nothing_is_recorded(alias: str) -> None:
    with override_settings(CACHES={alias: {"BACKEND": "django_altcache.backends.locmem.LocMemCache",
                                           "LOCATION": alias}}):
        cache = caches[alias]
        cache.set("a", 1)
        cache.get("a")
        assert alias not in _recorders
        assert type(cache).__dict__.get("_bare") is None  # the plain class: nothing wraps anything


@pytest.mark.parametrize("stampede", [False, True], ids=["djangos-get-or-set", "stampede"])
def test_get_or_set_is_one_call_a_miss_when_its_callable_ran(alias: str, stampede: bool) -> None:
    options: dict = {"METRICS": True, **({"STAMPEDE": True} if stampede else {})}
    entry = {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": alias, "OPTIONS": options}
    with override_settings(CACHES={alias: entry}):
        cache = caches[alias]
        assert cache.get_or_set("k", lambda: "computed") == "computed"  # miss: the callable ran
        assert cache.get_or_set("k", lambda: "again") == "computed"  # hit
        assert asyncio.run(cache.aget_or_set("k", lambda: "async")) == "computed"  # hit
        cache.get_or_set("plain", "value")  # a plain default: neither hit nor miss can be told
        samples = exposition_values(generate_latest(REGISTRY).decode())
        sync = {"alias": alias, "backend": "locmem", "op": "get_or_set", "api": "sync"}
        assert value(samples, "django_altcache_operations_total", **sync) == 3
        assert value(samples, "django_altcache_hits_total", **sync) == 1
        assert value(samples, "django_altcache_misses_total", **sync) == 1
        assert value(samples, "django_altcache_hits_total", **{**sync, "api": "async"}) == 1
        # The lookups, the add and (with STAMPEDE) the lock inside them are not calls of their own.
        for op in ("get", "add", "set", "delete", "get_many", "set_many"):
            for api in ("sync", "async"):
                assert value(samples, "django_altcache_operations_total", **{**sync, "op": op, "api": api}) in (0, None)
        caches[alias].clear()
