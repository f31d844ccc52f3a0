"""PyMemcacheCache and PyLibMCCache: ours vs Django's vs the raw client, one server, one run.

    python -m benchmarks.memcached [--quick]

"raw" is the floor: the library client configured as our backend configures it
(pymemcache HashClient with pooling and pickle serde; pylibmc with our behaviors),
called with precomputed keys, so the gap to it is exactly what the backend adds
(key making and validation, timeout conversion, result mapping). Django's backends
run on the same server in the same process. Writes
``benchmarks/results/memcached-py3XX.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, table

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
MANY = 100
TIMEOUT = 300


def _setup_django() -> None:
    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)
        django.setup()


def results_for(library: str, location: str, number: int, rounds: int) -> list[Result]:
    from django.core.cache.backends import memcached as django_memcached

    from django_altcache.backends import memcached as ours_memcached

    name = {"pymemcache": "PyMemcacheCache", "pylibmc": "PyLibMCCache"}[library]
    params = {"KEY_PREFIX": "bench", "TIMEOUT": TIMEOUT}
    ours = getattr(ours_memcached, name)(location, dict(params))
    theirs = getattr(django_memcached, name)(location, dict(params))
    # A separate client built exactly like ours, so "raw" never shares ours' sockets.
    raw = ours._driver.new_client(ours.client_servers, dict(ours._options))
    caches = {"ours": ours, "django": theirs}
    key, miss, counter = "bench:1:k", "bench:1:absent", "bench:1:n"
    data = {f"m{i}": VALUE for i in range(MANY)}
    names = list(data)
    raw_data = {f"bench:1:{k}": v for k, v in data.items()}
    raw_names = list(raw_data)
    ours.set("k", VALUE)
    ours.set("n", 0, timeout=None)
    ours.set_many(data)

    def impls(cache_op: Callable[[Any], object], raw_op: Callable[[], object]) -> dict[str, Callable[[], object]]:
        ops = {label: (lambda c=c: cache_op(c)) for label, c in caches.items()}
        ops["raw"] = raw_op
        return ops

    operations: list[tuple[str, dict[str, Callable[[], object]], int]] = [
        ("get (hit)", impls(lambda c: c.get("k"), lambda: raw.get(key)), number),
        ("get (miss)", impls(lambda c: c.get("absent"), lambda: raw.get(miss)), number),
        ("set", impls(lambda c: c.set("k", VALUE), lambda: raw.set(key, VALUE, TIMEOUT)), number),
        ("add (exists)", impls(lambda c: c.add("k", VALUE), lambda: raw.add(key, VALUE, TIMEOUT)), number),
        ("incr", impls(lambda c: c.incr("n"), lambda: raw.incr(counter, 1)), number),
        ("touch", impls(lambda c: c.touch("k"), lambda: raw.touch(key, TIMEOUT)), number),
        ("delete (miss)", impls(lambda c: c.delete("absent"), lambda: raw.delete(miss)), number),
        (f"get_many({MANY})", impls(lambda c: c.get_many(names), lambda: raw.get_multi(raw_names)), number // 4),
        (f"set_many({MANY})", impls(lambda c: c.set_many(data), lambda: raw.set_multi(raw_data, TIMEOUT)),
         max(1, number // 20)),
    ]
    # Django calls close() on every request_finished; its pymemcache backend then drops
    # every connection, so each request reconnects. Ours keeps them (close() is a no-op).
    operations.append(("request: 3 gets + close()",
                       impls(lambda c: (c.get("k"), c.get("k"), c.get("k"), c.close()),
                             lambda: (raw.get(key), raw.get(key), raw.get(key))),
                       max(1, number // 2)))
    if library == "pymemcache":
        # pymemcache's own delete_multi is one command per key; raw is its per-server pipeline.
        def raw_delete_many() -> None:
            for server, batch in ours._driver._each_server(raw, raw_names)[0].items():
                server.delete_many(batch)
    else:
        def raw_delete_many() -> None:
            raw.delete_multi(raw_names)
    operations.append((f"delete_many({MANY})", impls(lambda c: c.delete_many(names), raw_delete_many),
                       max(1, number // 20)))
    return [compare(op, ops, number=n, rounds=rounds) for op, ops, n in operations]


def main(argv: list[str]) -> None:
    from tests._servers.memcached import memcached_server

    quick = "--quick" in argv
    # Many short interleaved rounds: the medians resist bursts of load on a shared machine.
    number, rounds = (100, 3) if quick else (200, 41)
    _setup_django()
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    out = Path(__file__).parent / "results" / f"memcached-{version}.md"
    parts = ["## Memcached\n\n",
             "Per-call medians on one local memcached (loopback, `-t 1`), interleaved rounds. ",
             "`raw` is the library client configured as our backend configures it, with precomputed keys. ",
             "pylibmc's `set_multi`/`delete_multi` are one command per key inside libmemcached, for every column.\n\n"]
    # One worker thread: memcached assigns connections to its threads round-robin, and on
    # a small loaded machine the thread a connection lands on skewed one column by 2x.
    with memcached_server(extra_args=["-t", "1"]) as server:
        for library in ("pymemcache", "pylibmc"):
            results = results_for(library, server.location, number, rounds)
            parts.append(table(f"{library}", results, ours="ours", versus=["django", "raw"]) + "\n")
    emit("".join(parts), None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
