"""RedisCache: ours vs Django's vs django-redis vs raw redis-py (hiredis), one server, one run.

    python -m benchmarks.redis [--quick]

"raw" is the floor: the same redis-py call on the same server with the same value
encoding (pickle, ints raw) and a precomputed key, so the gap to it is exactly what a
cache backend adds (key making and validation, routing, decoding). Writes
``benchmarks/results/redis-py3XX.md``.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, table

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
MANY = 100
CONCURRENT = 200
HIGHEST = pickle.HIGHEST_PROTOCOL


def _setup_django() -> None:
    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)
        django.setup()


def backends(url: str) -> dict[str, Any]:
    import django_redis.cache
    from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

    from django_altcache.backends.redis import RedisCache

    params = {"KEY_PREFIX": "bench", "TIMEOUT": 300}
    return {
        "ours": RedisCache(url, dict(params)),
        "django": DjangoRedisCache(url, dict(params)),
        "django-redis": django_redis.cache.RedisCache(url, dict(params)),
    }


def sync_results(url: str, number: int, rounds: int) -> list[Result]:
    import redis

    from django_altcache.backends.redis.protocol import INCR

    caches = backends(url)
    raw = redis.Redis.from_url(url)  # hiredis is picked automatically when installed
    key, many_keys = "bench:1:k", [f"bench:1:m{i}" for i in range(MANY)]
    data = {f"m{i}": VALUE for i in range(MANY)}
    names = list(data)
    for cache in caches.values():
        cache.set("k", VALUE)
        cache.set("n", 0)
        cache.set_many(data)
    raw.set("bench:1:rawn", 0)
    raw.script_load(INCR.source)
    dumps, loads = pickle.dumps, pickle.loads

    def raw_get_many() -> Any:
        return {k: loads(v) for k, v in zip(names, raw.mget(many_keys)) if v is not None}

    def raw_set_many() -> Any:
        pipe = raw.pipeline(transaction=False)
        for k in many_keys:
            pipe.set(k, dumps(VALUE, HIGHEST), ex=300)
        return pipe.execute()

    ops: dict[str, dict[str, Callable[[], Any]]] = {
        "get (hit)": {**{n: (lambda c=c: c.get("k")) for n, c in caches.items()},
                      "raw": lambda: loads(raw.get(key))},
        "get (miss)": {**{n: (lambda c=c: c.get("missing")) for n, c in caches.items()},
                       "raw": lambda: raw.get("bench:1:missing")},
        "set": {**{n: (lambda c=c: c.set("k", VALUE)) for n, c in caches.items()},
                "raw": lambda: raw.set(key, dumps(VALUE, HIGHEST), ex=300)},
        "add (exists)": {**{n: (lambda c=c: c.add("k", VALUE)) for n, c in caches.items()},
                         "raw": lambda: raw.set(key, dumps(VALUE, HIGHEST), ex=300, nx=True)},
        "incr": {**{n: (lambda c=c: c.incr("n")) for n, c in caches.items()},
                 "raw": lambda: raw.incr("bench:1:rawn")},
        # The same atomic script through redis-py: what ours adds on top of the server's Lua cost.
        "incr (raw: same script)": {**{n: (lambda c=c: c.incr("n")) for n, c in caches.items()},
                                    "raw": lambda: raw.evalsha(INCR.sha, 1, "bench:1:rawn", 1)},
        "has_key": {**{n: (lambda c=c: c.has_key("k")) for n, c in caches.items()},
                    "raw": lambda: raw.exists(key)},
        "delete (miss)": {**{n: (lambda c=c: c.delete("missing")) for n, c in caches.items()},
                          "raw": lambda: raw.delete("bench:1:missing")},
        f"get_many({MANY})": {**{n: (lambda c=c: c.get_many(names)) for n, c in caches.items()},
                              "raw": raw_get_many},
        f"set_many({MANY})": {**{n: (lambda c=c: c.set_many(data)) for n, c in caches.items()},
                              "raw": raw_set_many},
    }
    results = []
    for op, impls in ops.items():
        scale = 10 if "many" in op else 1
        results.append(compare(op, impls, number=max(10, number // scale), rounds=rounds))
    return results


def async_results(url: str, number: int, rounds: int) -> list[Result]:
    import redis.asyncio

    caches = backends(url)
    loop = asyncio.new_event_loop()
    # redis.asyncio's default pool raises past 100 connections; 200 concurrent
    # tasks need the blocking pool (at redis-py's default size) to run at all.
    raw = redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=100))
    loads = pickle.loads
    for cache in caches.values():
        cache.set("k", VALUE)

    async def raw_one() -> Any:
        return loads(await raw.get("bench:1:k"))

    def gather(make: Callable[[], Any]) -> Callable[[], Any]:
        async def run() -> Any:
            return await asyncio.gather(*(make() for _ in range(CONCURRENT)))

        return lambda: loop.run_until_complete(run())

    impls = {n: gather(lambda c=c: c.aget("k")) for n, c in caches.items() if n != "django-redis"}
    impls["raw"] = gather(raw_one)
    single = {"ours": lambda: loop.run_until_complete(caches["ours"].aget("k")),
              "django": lambda: loop.run_until_complete(caches["django"].aget("k")),
              "raw": lambda: loop.run_until_complete(raw_one())}
    try:
        return [
            compare(f"{CONCURRENT} concurrent aget", impls, number=max(2, number // 100), rounds=rounds),
            compare("aget (one at a time)", single, number=number, rounds=rounds),
        ]
    finally:
        loop.run_until_complete(raw.aclose())
        loop.close()


def main(argv: list[str]) -> None:
    from tests._servers.redis import redis_server

    _setup_django()
    quick = "--quick" in argv
    # Many short rounds: the harness alternates implementations per round, so on a
    # shared machine drift hits all of them alike.
    number, rounds = (200, 3) if quick else (400, 25)
    with redis_server() as server:
        sync = sync_results(server.url, number, rounds)
        asyncs = async_results(server.url, number, rounds)
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    text = "\n".join([
        "# RedisCache benchmarks\n",
        "Per-call medians on one local redis-server (loopback), all clients with hiredis. "
        "`raw` = redis-py itself with the same value encoding and a precomputed key. "
        "Ratios below 1 mean ours is faster. `incr` is one atomic Lua script (existence check + "
        "INCRBY, as Django's semantics need) against raw's plain INCR; the next row runs the same "
        "script through redis-py as the floor. One run on a shared 2-core "
        "machine: single-key ratios move by about ±10% between runs. "
        "Regenerate: `python -m benchmarks.redis`.\n",
        table("Sync operations", sync, versus=["raw", "django", "django-redis"]),
        table("Async (ours: native redis.asyncio; Django: sync_to_async)", asyncs,
              versus=["raw", "django"]),
    ])
    out = Path(__file__).resolve().parent / "results" / f"redis-{version}.md"
    out.parent.mkdir(exist_ok=True)
    emit(text, None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
