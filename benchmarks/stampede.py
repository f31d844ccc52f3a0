"""The hit path of get_or_set with OPTIONS["STAMPEDE"] on vs off.

    python -m benchmarks.stampede [--quick]

Same backend class, same server, one interleaved run (benchmarks/harness.py): ``off``
is the default configuration (our get_or_set hands over to Django's
``BaseCache.get_or_set``: one ``get``), ``on`` is ``STAMPEDE: True`` (single flight;
the hit is one ``get``), ``early`` is ``STAMPEDE: {"early_refresh": True}`` (the hit is
one ``get`` plus this process's copy of the entry's metadata and one XFetch draw; the
entry expires in an hour, so no draw fires). The first rows use an in-process
LocMemCache, where there is no round trip to hide the layer's own cost. Writes
``benchmarks/results/stampede-py3XX.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import emit, environment

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
VARIANTS: dict[str, dict[str, Any]] = {
    "off": {},
    "on": {"STAMPEDE": True},
    "early": {"STAMPEDE": {"early_refresh": True}},
}


def _compute() -> Any:
    raise AssertionError("the benchmark only measures hits")


def _setup_django(sqlite_path: str, pg_port: int | None, mysql_port: int | None) -> None:
    databases: dict[str, Any] = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path}}
    if pg_port is not None:
        databases["postgres"] = {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres",
                                 "USER": "postgres", "HOST": "127.0.0.1", "PORT": str(pg_port)}
    if mysql_port is not None:
        databases["mysql"] = {"ENGINE": "django.db.backends.mysql", "NAME": "altcache", "USER": "root",
                              "HOST": "127.0.0.1", "PORT": str(mysql_port), "OPTIONS": {"charset": "utf8mb4"}}
    settings.configure(DATABASES=databases, CACHES={}, USE_TZ=True)
    django.setup()


def variants(make: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {name: make(dict(options)) for name, options in VARIANTS.items()}


@dataclass
class Paired:
    """Per-call medians, and the median over rounds of each variant's ratio to ``off``
    measured in the same round (back to back, order alternating): drift on a shared
    machine hits both sides of a ratio alike, where it would move two separate medians."""

    operation: str
    medians: dict[str, float]
    ratios: dict[str, tuple[float, float, float]]  # variant: (median, p25, p75) of per-round ratios


def paired(operation: str, impls: dict[str, Callable[[int], float]], number: int, rounds: int) -> Paired:
    names = list(impls)
    for name in names:  # warm-up
        impls[name](max(1, number // 5))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        for name in (names if round_no % 2 == 0 else names[::-1]):
            samples[name].append(impls[name](number))
    ratios = {}
    for name in names[1:]:
        per_round = sorted(on / off for on, off in zip(samples[name], samples["off"]))
        q = statistics.quantiles(per_round, n=4)
        ratios[name] = (statistics.median(per_round), q[0], q[2])
    return Paired(operation, {name: statistics.median(values) for name, values in samples.items()}, ratios)


def timed_sync(cache: Any) -> Callable[[int], float]:
    get_or_set = cache.get_or_set

    def run(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            get_or_set("hot", _compute, 3600)
        return (time.perf_counter() - start) / number

    return run


def timed_async(cache: Any, loop: asyncio.AbstractEventLoop) -> Callable[[int], float]:
    async def batch(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            await cache.aget_or_set("hot", _compute, 3600)
        return (time.perf_counter() - start) / number

    return lambda number: loop.run_until_complete(batch(number))


def timed_direct(cache: Any) -> Callable[[int], float]:
    """Django's ``BaseCache.get_or_set`` called directly on the ``off`` instance: what
    ``off`` costs over it is our mixin's hand-over."""
    from django.core.cache.backends.base import BaseCache

    get_or_set = BaseCache.get_or_set

    def run(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            get_or_set(cache, "hot", _compute, 3600)
        return (time.perf_counter() - start) / number

    return run


def hits(caches: dict[str, Any], number: int, rounds: int, label: str, *, with_async: bool = True) -> list[Paired]:
    for cache in caches.values():
        # Through get_or_set once, so early refresh has its metadata (and this process knows it).
        cache.delete("hot")
        assert cache.get_or_set("hot", lambda: VALUE, 3600) == VALUE
        assert cache.get_or_set("hot", _compute, 3600) == VALUE
    sync = {n: timed_sync(c) for n, c in caches.items()}
    results = [paired(f"{label}: get_or_set (hit)", {**sync, "django": timed_direct(caches["off"])}, number, rounds)]
    if with_async:
        loop = asyncio.new_event_loop()
        try:
            results.append(paired(f"{label}: aget_or_set (hit)", {n: timed_async(c, loop) for n, c in caches.items()},
                                  number, rounds))
        finally:
            loop.close()
    return results


def render(results: list[Paired]) -> str:
    head = ["operation", *[f"{name} (µs)" for name in VARIANTS], "on/off", "early/off", "off/django"]
    lines = [f"_{environment()}_", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        cells = [result.operation, *[f"{result.medians[name] * 1e6:.1f}" for name in VARIANTS]]
        for name in ("on", "early"):
            median, low, high = result.ratios[name]
            cells.append(f"{median:.3f} ({low:.3f}–{high:.3f})")
        if "django" in result.ratios:
            median, low, high = result.ratios["django"]  # django/off: shown inverted, off/django
            cells.append(f"{1 / median:.3f} ({1 / high:.3f}–{1 / low:.3f})")
        else:
            cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    from django_altcache.backends.db import DatabaseCache
    from django_altcache.backends.locmem import LocMemCache
    from django_altcache.backends.memcached import PyLibMCCache, PyMemcacheCache
    from django_altcache.backends.redis import RedisCache
    from tests._servers.base import ServerUnavailable
    from tests._servers.mariadb import mariadb_server
    from tests._servers.memcached import memcached_server
    from tests._servers.postgres import postgres_server
    from tests._servers.redis import redis_server

    quick = "--quick" in argv
    number, rounds = (50, 11) if quick else (50, 301)
    results: list[Paired] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        ports: dict[str, int | None] = {}
        for name, factory in (("postgres", postgres_server), ("mysql", mariadb_server)):
            try:
                ports[name] = stack.enter_context(factory()).port
            except ServerUnavailable:
                ports[name] = None
        _setup_django(f"{tmp}/bench.sqlite3", ports["postgres"], ports["mysql"])
        from django.core.management import call_command
        from django.db import router

        redis_url = stack.enter_context(redis_server()).url
        memcached = stack.enter_context(memcached_server(extra_args=["-t", "1"])).location

        def params(options: dict[str, Any]) -> dict[str, Any]:
            return {"KEY_PREFIX": "bench", "TIMEOUT": 3600, "OPTIONS": options}

        results += hits(variants(lambda o: LocMemCache("bench-stampede", params(o))), number * 10, rounds,
                        "locmem (no I/O)")
        results += hits(variants(lambda o: RedisCache(redis_url, params(o))), number, rounds, "redis")
        results += hits(variants(lambda o: PyMemcacheCache(memcached, params(o))), number, rounds, "pymemcache",
                        with_async=False)
        results += hits(variants(lambda o: PyLibMCCache(memcached, params(o))), number, rounds, "pylibmc",
                        with_async=False)

        class To:
            def __init__(self, alias: str) -> None:
                self.alias = alias

            def db_for_read(self, model: Any, **hints: Any) -> str:
                return self.alias

            db_for_write = db_for_read

        for alias, label in (("default", "db sqlite"), ("postgres", "db postgres"), ("mysql", "db mariadb")):
            if alias != "default" and ports[alias] is None:
                continue
            call_command("createcachetable", "bench_cache", database=alias, verbosity=0)
            router.routers.insert(0, To(alias))
            try:
                results += hits(variants(lambda o: DatabaseCache("bench_cache", params(o))), number, rounds,
                                label, with_async=False)
            finally:
                router.routers.pop(0)

    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    text = "\n".join([
        "# Stampede protection: the hit path of get_or_set\n",
        "A hit of `get_or_set` on one cache instance per variant, same backend class and server, one "
        f"run: {rounds} rounds, each timing {number} calls of every variant back to back (order "
        f"alternating; locmem {number * 10} calls). `off` = no STAMPEDE option (our get_or_set hands "
        "over to Django's `BaseCache.get_or_set`: one `get`); `on` = `STAMPEDE: True` (single flight; "
        "a hit is one `get`); `early` = `STAMPEDE: {\"early_refresh\": True}` (a hit is one `get`, a "
        "lookup of this process's copy of the entry's metadata and one float comparison; the entry "
        "expires in an hour, so no XFetch draw is made). Columns: per-call medians over the rounds, then "
        "the median (and quartiles) over rounds of each round's own ratio to `off`, which drift on the "
        "shared 2-core machine moves far less than it moves separate medians. Above 1 is the cost over "
        "Django's get_or_set. `off/django` (sync rows): `off` against Django's `BaseCache.get_or_set` "
        "called directly on the same instance, i.e. the cost of the mixin's hand-over without the "
        "option. The locmem rows have no round trip: they show the layer's own cost in µs. "
        "Regenerate: `python -m benchmarks.stampede`.\n",
        "### get_or_set hit: STAMPEDE on and with early refresh, vs off\n",
        render(results),
    ])
    out = Path(__file__).resolve().parent / "results" / f"stampede-{version}.md"
    emit(text, None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
