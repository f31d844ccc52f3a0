"""PyMemcacheCache and PyLibMCCache against the bare client, Django's backend and a client
configured like ours, in one run.

    python -m benchmarks.memcached [--quick]

The floor is the bare client doing the same work: one ``pymemcache.Client`` (pickle serde,
as Django's) or one ``pylibmc.Client`` call per operation with the key made in advance; for
several servers, pymemcache's ``HashClient`` and ``pylibmc.Client`` over the same servers
(the bare clients that place keys); for the gathered ``aget`` row, the same 200 gets one
after the other on the bare client. "like ours" is the library client configured as our
backend configures it (the issue's former reference). The asyncio clients evaluated for the
async twins (emcache, aiomcache; not dependencies) get a column in the gathered row when
installed. Memcached runs with one worker thread, pinned to one core, the client to the
other. Writes ``benchmarks/results/memcached-py3XX.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, floor_table, load_note, pin, pin_server

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
MANY = 100
GATHERED = 200
TIMEOUT = 300


def _setup_django() -> None:
    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)
        django.setup()


def bare_client(library: str, servers: list[str]) -> Any:
    if library == "pymemcache":
        import pymemcache
        from pymemcache.serde import pickle_serde

        options = {"serde": pickle_serde, "allow_unicode_keys": True, "default_noreply": False}
        if len(servers) == 1:
            host, port = servers[0].rsplit(":", 1)
            return pymemcache.Client((host, int(port)), **options)
        return pymemcache.HashClient(servers, **options)
    import pylibmc

    return pylibmc.Client(servers)


def results_for(library: str, servers: list[str], number: int, rounds: int,
                loop: asyncio.AbstractEventLoop) -> list[Result]:
    from django.core.cache.backends import memcached as django_memcached

    from django_altcache.backends import memcached as ours_memcached

    name = {"pymemcache": "PyMemcacheCache", "pylibmc": "PyLibMCCache"}[library]
    params = {"KEY_PREFIX": "bench", "TIMEOUT": TIMEOUT}
    location = servers if len(servers) > 1 else servers[0]
    ours = getattr(ours_memcached, name)(location, dict(params))
    theirs = getattr(django_memcached, name)(location, dict(params))
    floor = bare_client(library, servers)
    like_ours = ours._driver.new_client(ours.client_servers, dict(ours._options))
    caches = {"ours": ours, "django": theirs}
    key, miss, counter = "bench:1:k", "bench:1:absent", "bench:1:n"
    data = {f"m{i}": VALUE for i in range(MANY)}
    names = list(data)
    raw_data = {f"bench:1:{k}": v for k, v in data.items()}
    raw_names = list(raw_data)
    ours.set("k", VALUE)
    ours.set("n", 0, timeout=None)
    ours.set_many(data)

    def impls(cache_op: Callable[[Any], object], raw_op: Callable[[Any], object]) -> dict[str, Callable[[], object]]:
        ops: dict[str, Callable[[], object]] = {"floor": lambda: raw_op(floor)}
        ops.update({label: (lambda c=c: cache_op(c)) for label, c in caches.items()})
        ops["like ours"] = lambda: raw_op(like_ours)
        return ops

    def delete_many(client: Any) -> Any:
        if library == "pymemcache" and len(servers) == 1:
            return client.delete_many(raw_names)  # the pipelined command of one server
        return client.delete_multi(raw_names)

    operations: list[tuple[str, dict[str, Callable[[], object]], int]] = [
        ("get (hit)", impls(lambda c: c.get("k"), lambda r: r.get(key)), number),
        ("get (miss)", impls(lambda c: c.get("absent"), lambda r: r.get(miss)), number),
        ("set", impls(lambda c: c.set("k", VALUE), lambda r: r.set(key, VALUE, TIMEOUT)), number),
        ("add (exists)", impls(lambda c: c.add("k", VALUE), lambda r: r.add(key, VALUE, TIMEOUT)), number),
        ("incr", impls(lambda c: c.incr("n"), lambda r: r.incr(counter, 1)), number),
        ("touch", impls(lambda c: c.touch("k"), lambda r: r.touch(key, TIMEOUT)), number),
        ("delete (miss)", impls(lambda c: c.delete("absent"), lambda r: r.delete(miss)), number),
        (f"get_many({MANY})", impls(lambda c: c.get_many(names), lambda r: r.get_multi(raw_names)), number // 4),
        (f"set_many({MANY})", impls(lambda c: c.set_many(data), lambda r: r.set_multi(raw_data, TIMEOUT)),
         max(1, number // 20)),
        (f"delete_many({MANY})", impls(lambda c: c.delete_many(names), delete_many), max(1, number // 20)),
        # Django calls close() on every request_finished; its pymemcache backend then drops every
        # connection, so each request reconnects. Ours keeps them (close() does nothing).
        ("request: 3 gets + close()", impls(lambda c: (c.get("k"), c.get("k"), c.get("k"), c.close()),
                                            lambda r: (r.get(key), r.get(key), r.get(key))), max(1, number // 2)),
    ]
    out = [compare(op, ops, number=n, rounds=rounds) for op, ops, n in operations]
    out.append(compare(f"{GATHERED} × aget gathered", gathered_impls(library, servers, loop, caches, floor, key),
                       number=max(2, number // 50), rounds=rounds))
    return out


def gathered_impls(library: str, servers: list[str], loop: asyncio.AbstractEventLoop, caches: dict[str, Any],
                   floor: Any, key: str) -> dict[str, Callable[[], object]]:
    def gather(make: Callable[[], Any]) -> Callable[[], object]:
        async def run() -> Any:
            return await asyncio.gather(*(make() for _ in range(GATHERED)))

        return lambda: loop.run_until_complete(run())

    impls: dict[str, Callable[[], object]] = {"floor": lambda: [floor.get(key) for _ in range(GATHERED)]}
    impls.update({label: gather(lambda c=c: c.aget("k")) for label, c in caches.items()})
    if len(servers) == 1 and library == "pymemcache":
        impls.update(asyncio_clients(servers[0], loop, key, gather))
    return impls


def asyncio_clients(server: str, loop: asyncio.AbstractEventLoop, key: str,
                    gather: Callable[[Callable[[], Any]], Callable[[], object]]) -> dict[str, Callable[[], object]]:
    """emcache and aiomcache reading the same bytes and flags (pymemcache's pickle serde)."""
    from pymemcache.serde import pickle_serde

    host, port = server.rsplit(":", 1)
    found: dict[str, Callable[[], object]] = {}
    with contextlib.suppress(ImportError):
        import emcache

        client = loop.run_until_complete(emcache.create_client([emcache.MemcachedHostAddress(host, int(port))],
                                                              max_connections=4))

        async def emcache_get() -> Any:
            item = await client.get(key.encode(), return_flags=True)
            return pickle_serde.deserialize(key, item.value, item.flags)

        found["emcache"] = gather(emcache_get)
    with contextlib.suppress(ImportError):
        import aiomcache

        async def on_get(value: bytes, flags: int) -> Any:
            return pickle_serde.deserialize(key, value, flags)

        async def on_set(value: Any) -> tuple[bytes, int]:
            return pickle_serde.serialize(key, value)

        aio = aiomcache.FlagClient(host, int(port), pool_size=4, get_flag_handler=on_get, set_flag_handler=on_set)
        found["aiomcache"] = gather(lambda: aio.get(key.encode()))
    return found


def main(argv: list[str]) -> None:
    from tests._servers.base import descendants
    from tests._servers.memcached import memcached_server

    quick = "--quick" in argv
    number, rounds = (100, 3) if quick else (200, 21)
    _setup_django()
    started = os.getloadavg()
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    out = Path(__file__).parent / "results" / f"memcached-{version}.md"
    pinning = pin(1)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    parts = ["## Memcached: ours and Django's against the bare client\n\n"]
    # One worker thread: memcached assigns connections to its threads round-robin, and on
    # a small loaded machine the thread a connection lands on skewed one column by 2x.
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(memcached_server(extra_args=["-t", "1"])) for _ in range(3)]
        for server in servers:
            for pid in [server.process.pid, *descendants(server.process.pid)]:
                note = pin_server(pid, 0)
        parts.append(f"Median µs per call over {rounds} interleaved rounds, memcached `-t 1` on loopback; "
                     f"{pinning}, {note}. `floor` is the bare client doing the same work (module docstring), "
                     "`like ours` the library client configured as our backend configures it. pylibmc's "
                     "`set_multi`/`delete_multi` are one command per key inside libmemcached, for every "
                     "column. Generated by `python -m benchmarks.memcached`.\n\n")
        for library in ("pymemcache", "pylibmc"):
            for locations, what in (([servers[0].location], "one server"),
                                    ([s.location for s in servers], "three servers")):
                results = results_for(library, locations, number, rounds, loop)
                parts.append(floor_table(f"{library}, {what}", results) + "\n")
    parts.append(load_note(started) + "\n")
    emit("".join(parts), None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
