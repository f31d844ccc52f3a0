"""RedisCache's local tier (OPTIONS["LOCAL_CACHE"]): hot reads, writes, a Zipf workload and
two-process coherence, against a local redis-server (and valkey-server when one is found).

    python -m benchmarks.local [--quick]

- Hot key: ``get`` of a key held locally, with the tier ("tier"), without it ("no tier": a
  round trip each time), and raw redis-py (GET + pickle.loads, precomputed key: the floor of a
  network read). Targets: tier <= 3 µs and <= 0.05 x raw.
- Writes: what the tier adds to a write (two local invalidations, and the server's report of the
  write applied by the channel). Target: <= 5% more than without the tier.
- Misses: a read that goes to the server with the tier on is GET + PTTL in one round trip.
- Zipf: 10,000 keys, Zipf(0.99) popularity, 95% reads / 5% writes in one process; the share of
  reads that never reached the server (INFO commandstats). Target: >= 90% removed.
- Coherence: tests/redis/coherence.py's two processes (a writer, a reader in a tight loop with
  the tier): staleness per write (p50/p99/max), in steady state and across CLIENT KILL and a
  kill -9 + restart. Target: p99 <= 5 ms, max <= 50 ms.

Writes ``benchmarks/results/local-py3XX.md``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, environment, table

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
TEXT = "a short string value"
KEYS = 10_000
ZIPF_S = 0.99
READ_SHARE = 0.95
PERSISTENT = ["--appendonly", "yes", "--appendfsync", "always"]  # acknowledged writes survive kill -9
BATCH = 100  # awaits per event-loop run in the async row


def _setup_django() -> None:
    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)
        django.setup()


def _caches(url: str) -> dict[str, Any]:
    from django_altcache.backends.redis import RedisCache

    tier = RedisCache(url, {"KEY_PREFIX": "bench", "OPTIONS": {"LOCAL_CACHE": True}})
    plain = RedisCache(url, {"KEY_PREFIX": "bench"})
    return {"tier": tier, "no tier": plain}


def _settle(cache: Any) -> None:
    assert cache._cache.local.wait_live(10) and cache._cache.local.synced(10)


def hot(url: str, number: int, rounds: int) -> list[Result]:
    import redis
    import redis.asyncio

    caches = _caches(url)
    tier = caches["tier"]
    raw = redis.Redis.from_url(url)
    loads = pickle.loads
    for cache in caches.values():
        cache.set("text", TEXT)
        cache.set("dict", VALUE)
        cache.set_many({f"m{i}": VALUE for i in range(10)})
    _settle(tier)
    for key in ("text", "dict"):
        tier.get(key)
    tier.get_many([f"m{i}" for i in range(10)])
    names = [f"m{i}" for i in range(10)]
    raw_keys = [f"bench:1:m{i}" for i in range(10)]
    loop = asyncio.new_event_loop()
    araw = redis.asyncio.Redis.from_url(url)
    ops: dict[str, dict[str, Callable[[], Any]]] = {
        "get (hot, str)": {**{n: (lambda c=c: c.get("text")) for n, c in caches.items()},
                           "raw": lambda: loads(raw.get("bench:1:text"))},
        "get (hot, dict)": {**{n: (lambda c=c: c.get("dict")) for n, c in caches.items()},
                            "raw": lambda: loads(raw.get("bench:1:dict"))},
        "get_many (10 hot)": {**{n: (lambda c=c: c.get_many(names)) for n, c in caches.items()},
                              "raw": lambda: [loads(v) for v in raw.mget(raw_keys)]},
        "has_key (hot)": {**{n: (lambda c=c: c.has_key("dict")) for n, c in caches.items()},
                          "raw": lambda: raw.exists("bench:1:dict")},
    }
    batched = {**{n: (lambda c=c: loop.run_until_complete(_batch(lambda: c.aget("dict")))) for n, c in caches.items()},
               "raw": lambda: loop.run_until_complete(_batch(lambda: _araw_get(araw, "bench:1:dict")))}
    try:
        results = [compare(op, impls, number=number * 5, rounds=rounds) for op, impls in ops.items()]
        # One event-loop run per BATCH awaits: the loop's own cost is not the tier's.
        per_batch = compare("aget (hot, dict)", batched, number=max(10, number // 20), rounds=rounds)
        per_batch.medians = {name: seconds / BATCH for name, seconds in per_batch.medians.items()}
        return [*results, per_batch]
    finally:
        loop.run_until_complete(araw.aclose())
        loop.close()
        raw.close()


async def _araw_get(client: Any, key: str) -> Any:
    return pickle.loads(await client.get(key))


async def _batch(make: Callable[[], Any]) -> None:
    for _ in range(BATCH):
        await make()


def writes(url: str, number: int, rounds: int) -> list[Result]:
    """Per-call latencies, the two columns interleaved call by call: on a shared machine a burst
    of load then hits both alike, and the median of all calls ignores it (the round means the
    harness uses move by 10-30% here when another job runs)."""
    caches = _caches(url)
    for cache in caches.values():
        cache.set("n", 0)
    _settle(caches["tier"])
    counter = itertools.count()
    ops: dict[str, dict[str, Callable[[], Any]]] = {
        "set (dict)": {n: (lambda c=c: c.set("w", VALUE)) for n, c in caches.items()},
        "set (str)": {n: (lambda c=c: c.set("w", TEXT)) for n, c in caches.items()},
        "incr": {n: (lambda c=c: c.incr("n")) for n, c in caches.items()},
        "delete (miss)": {n: (lambda c=c: c.delete("nothing")) for n, c in caches.items()},
        "set then get (the get misses)": {n: (lambda c=c: (c.set("sg", VALUE), c.get("sg"))) for n, c in caches.items()},
        "get (miss, key never seen)": {n: (lambda c=c: c.get(f"miss{next(counter)}")) for n, c in caches.items()},
    }
    return [interleaved(op, impls, number * rounds) for op, impls in ops.items()]


def interleaved(operation: str, impls: dict[str, Callable[[], Any]], calls: int) -> Result:
    clock = time.perf_counter
    samples: dict[str, list[float]] = {name: [] for name in impls}
    pairs = list(impls.items())
    for name, impl in pairs:  # warm-up
        for _ in range(max(1, calls // 20)):
            impl()
    for index in range(calls):
        for name, impl in (pairs if index % 2 == 0 else pairs[::-1]):
            started = clock()
            impl()
            samples[name].append(clock() - started)
    return Result(operation, {name: statistics.median(values) for name, values in samples.items()})


# -- Zipf -------------------------------------------------------------------------------------
def zipf_sequence(count: int, seed: int) -> list[tuple[bool, str]]:
    weights = [1 / (rank + 1) ** ZIPF_S for rank in range(KEYS)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    rng = random.Random(seed)
    return [(rng.random() < READ_SHARE, f"z{bisect.bisect_left(cumulative, rng.random() * total)}")
            for _ in range(count)]


def zipf(url: str, ops: int) -> list[dict[str, Any]]:
    import redis

    from django_altcache.backends.redis import RedisCache

    raw = redis.Redis.from_url(url)
    rows = []
    for label, options, warm in (("no tier", {}, False), ("tier, cold start", {"LOCAL_CACHE": True}, False),
                                 ("tier, after a warm-up run", {"LOCAL_CACHE": True}, True)):
        cache = RedisCache(url, {"KEY_PREFIX": "zipf", "OPTIONS": options})
        cache.set_many({f"z{i}": {"id": i, "name": f"item {i}"} for i in range(KEYS)})
        if options:
            _settle(cache)
            cache._cache.local.store.flush()
        if warm:
            _run_zipf(cache, zipf_sequence(ops, seed=1))
        sequence = zipf_sequence(ops, seed=2)
        raw.config_resetstat()
        seconds, reads = _run_zipf(cache, sequence)
        stats = raw.info("commandstats")
        server_reads = sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("get", "mget"))
        rows.append({"run": label, "ops": len(sequence), "reads": reads, "server_reads": server_reads,
                     "removed": 1 - server_reads / reads, "ops_per_s": len(sequence) / seconds})
        if options:
            cache._cache.local.close()
    raw.close()
    return rows


def _run_zipf(cache: Any, sequence: list[tuple[bool, str]]) -> tuple[float, int]:
    get, set_ = cache.get, cache.set
    reads = 0
    started = time.perf_counter()
    for is_read, key in sequence:
        if is_read:
            get(key)
            reads += 1
        else:
            set_(key, {"id": -1, "name": "updated"})
    return time.perf_counter() - started, reads


# -- coherence ----------------------------------------------------------------------------------
def coherence(server: Any) -> list[tuple[str, Any]]:
    from tests.redis.coherence import Config, run, wait_progress

    admin_url = server.raw_url

    def client_kill(config: Config) -> None:
        import redis

        admin = redis.Redis.from_url(admin_url)
        for at in (250, 500, 750):
            wait_progress(config, at)
            admin.client_kill_filter(_type="normal", skipme=True)
        admin.close()

    def restart(config: Config) -> None:
        for at in (300, 650):
            wait_progress(config, at)
            server.kill()
            time.sleep(0.1)
            server.start()

    return [(label, run(Config(location=server.url, writer_url=server.raw_url), disrupt))
            for label, disrupt in (("steady", None), ("CLIENT KILL x3", client_kill),
                                   ("kill -9 + restart x2", restart))]


# -- the report -------------------------------------------------------------------------------------
def _zipf_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| run | operations | reads | reads that reached the server | reads removed | operations/s |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['run']} | {row['ops']} | {row['reads']} | {row['server_reads']} | "
                     f"{row['removed'] * 100:.1f}% | {row['ops_per_s']:.0f} |")
    return "\n".join(lines) + "\n"


def _coherence_table(reports: list[tuple[str, Any]]) -> str:
    lines = ["| run | reads | failed reads | staleness p50 (ms) | p99 (ms) | max (ms) | read runs > 5 ms | "
             "channel losses |", "|---|---|---|---|---|---|---|---|"]
    for label, report in reports:
        data = sorted(report.staleness_ms)
        lines.append(f"| {label} | {report.reads} | {report.read_errors} | {report.pct(50):.3f} | "
                     f"{report.pct(99):.3f} | {max(data):.3f} | {report.stale_reads(5)} | "
                     f"{sum(c['losses'] for c in report.channels)} |")
    return "\n".join(lines) + "\n"


def _targets(hot_results: list[Result], write_results: list[Result], zipf_rows: list[dict[str, Any]],
             reports: list[tuple[str, Any]]) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines = ["| target | measured | |", "|---|---|---|"]
    for result in hot_results:
        if not result.operation.startswith(("get (", "aget (")):
            continue
        tier, raw = result.medians["tier"] * 1e6, result.medians["raw"] * 1e6
        lines.append(f"| {result.operation}: <= 3 µs and <= 0.05 x raw | {tier:.2f} µs, {tier / raw:.3f} x raw | "
                     f"{verdict(tier <= 3 and tier / raw <= 0.05)} |")
    for result in write_results[:4]:
        ratio = result.medians["tier"] / result.medians["no tier"]
        lines.append(f"| {result.operation}: <= 1.05 x no tier | {ratio:.3f} | {verdict(ratio <= 1.05)} |")
    for row in zipf_rows[1:]:
        lines.append(f"| Zipf, {row['run']}: >= 90% of server reads removed | {row['removed'] * 100:.1f}% | "
                     f"{verdict(row['removed'] >= 0.9)} |")
    for label, report in reports:
        worst = max(report.staleness_ms)
        lines.append(f"| coherence, {label}: p99 <= 5 ms, max <= 50 ms | p99 {report.pct(99):.2f} ms, max "
                     f"{worst:.2f} ms | {verdict(report.pct(99) <= 5 and worst <= 50)} |")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _servers(flavour: str) -> Iterator[Any]:
    """A plain server, and one whose acknowledged writes survive kill -9 (for the restart run)."""
    from tests._servers.redis import FLAVOURS, redis_server

    kind = FLAVOURS[flavour]
    with redis_server(flavour=kind) as server, redis_server(PERSISTENT, flavour=kind) as persistent:
        yield server, persistent


def _has_valkey() -> bool:
    from tests._servers.base import ServerUnavailable
    from tests._servers.redis import find_valkey_server

    try:
        find_valkey_server()
    except ServerUnavailable:
        return False
    return True


def _server_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    info = client.info("server")
    client.close()
    name = "Valkey" if "valkey_version" in info else "Redis"
    return f"{name} {info.get('valkey_version') or info.get('redis_version')}"


def main(argv: list[str]) -> None:
    _setup_django()
    quick = "--quick" in argv
    number, rounds = (200, 3) if quick else (1000, 15)
    zipf_ops = 20_000 if quick else 200_000
    flavours = ["redis"] + (["valkey"] if _has_valkey() else [])
    sections = ["# Local tier benchmarks (RedisCache, OPTIONS['LOCAL_CACHE'])\n",
                "Per-call medians on a local server over loopback, all clients with hiredis, one shared 2-core "
                "machine (single rows move by about ±10% between runs). `tier` = `LOCAL_CACHE: True`, "
                "`no tier` = the same backend without it, `raw` = redis-py itself with a precomputed key "
                "(GET + pickle.loads for the dict). The dict is "
                f"`{VALUE!r}`: a local hit hands out a fresh copy of it (copy-out: a dict and a list "
                "copied, see local/store.py). `raw` is a loopback round trip, which takes 25-30 µs on this "
                "machine while it is busy and 100-120 µs when it is idle (the server's wake-up), so the "
                "ratios to it move with the load; the µs of the hits do not. "
                "Regenerate: `python -m benchmarks.local`.\n"]
    for flavour in flavours:
        load_before = os.getloadavg()[0]
        with _servers(flavour) as (server, persistent):
            url = server.raw_url  # redis:// for every client (ours takes valkey:// too, redis-py does not)
            version = _server_version(url)
            hot_results = hot(url, number, rounds)
            write_results = writes(url, max(100, number // 5), rounds)  # calls = number/5 x rounds
            zipf_rows = zipf(url, zipf_ops)
            reports = coherence(persistent)
        load = f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
        sections += [
            f"## {version}\n",
            f"_Machine {load}: CPU-bound rows (hits) scale with it._\n",
            table("Hot key (held locally)", hot_results, ours="tier", versus=["raw", "no tier"]),
            table("Writes and misses (median of per-call latencies, interleaved call by call)", write_results,
                  ours="tier", versus=["no tier"]),
            f"### Zipf workload\n\n_{environment()}_\n\n{KEYS} keys, Zipf({ZIPF_S}) popularity, "
            f"{READ_SHARE:.0%} reads / {1 - READ_SHARE:.0%} writes (`set`) in one process; reads removed = "
            "1 - GET calls on the server / reads issued. The cold run starts with an empty local store, the "
            "warm one after a first run of the same length (different sequence).\n",
            _zipf_table(zipf_rows),
            f"### Coherence (two processes)\n\n_{environment()}_\n\nA writer writes 1..1000 with pauses of "
            "0-2 ms (Django's own RedisCache); a reader reads the key in a tight loop with the tier. "
            "Staleness of a write = how long after its acknowledgement a read still returned an older value.\n",
            _coherence_table(reports),
            "### Targets\n",
            _targets(hot_results, write_results, zipf_rows, reports),
        ]
    out = Path(__file__).resolve().parent / "results" / f"local-py{sys.version_info.major}{sys.version_info.minor}.md"
    emit("\n".join(sections), None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
