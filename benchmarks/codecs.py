"""Codecs: stored size and encode/decode time per codec on realistic payloads, the
codec layer's cost on small values through real backends, and the cost of signing.

    python -m benchmarks.codecs [--quick] [--no-instructions]

Writes benchmarks/results/codecs-py<major><minor>.md. Nothing here asserts a speed;
the targets of issue 12 are stated next to the figures, met or not.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(USE_TZ=True, CACHES={}, SECRET_KEY="benchmark-secret-key",
                       INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"])
    django.setup()

from benchmarks.harness import Result, environment, table  # noqa: E402
from django_altcache.codecs import build_codec  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
rng = random.Random(12)
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
         "labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco").split()


def sentence(n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def html_fragment(rows: int) -> str:
    """A rendered list page: a table of rows with links, classes, dates and prices."""
    from django.utils.safestring import mark_safe

    parts = ['<section class="results"><table class="table table-striped"><thead><tr><th>Name</th>'
             "<th>Owner</th><th>Updated</th><th>Price</th><th></th></tr></thead><tbody>"]
    for i in range(rows):
        parts.append(
            f'<tr id="row-{i}" class="{"odd" if i % 2 else "even"}"><td><a href="/products/{1000 + i}/">'
            f"{sentence(4)}</a></td><td>{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}</td>"
            f"<td><time datetime=\"2024-0{1 + i % 9}-1{i % 10}\">{1 + i % 28} May 2024</time></td>"
            f'<td class="num">{rng.randint(1, 9999) / 100:.2f} €</td><td><a class="btn btn-sm" '
            f'href="/products/{1000 + i}/edit/">Edit</a></td></tr>')
    parts.append("</tbody></table></section>")
    return mark_safe("".join(parts))


def api_response(items: int) -> dict[str, Any]:
    return {"count": items, "next": "https://example.com/api/v1/orders/?page=2", "previous": None,
            "results": [{"id": 5000 + i, "status": rng.choice(["paid", "shipped", "refunded"]),
                         "total": round(rng.uniform(5, 500), 2), "currency": "EUR",
                         "customer": {"id": rng.randint(1, 10 ** 6), "name": sentence(2),
                                      "email": f"user{i}@example.com"},
                         "lines": [{"sku": f"SKU-{rng.randint(1, 99999):05d}", "qty": rng.randint(1, 5),
                                    "unit_price": round(rng.uniform(1, 100), 2)} for _ in range(3)],
                         "created": f"2024-05-{1 + i % 28:02d}T12:{i % 60:02d}:00Z", "notes": sentence(8)}
                        for i in range(items)]}


def model_instances(count: int) -> list[Any]:
    from django.contrib.auth.models import User

    return [User(id=i, username=f"user{i}", email=f"user{i}@example.com", first_name=sentence(1)[:-1],
                 last_name=sentence(1)[:-1], is_staff=i % 7 == 0) for i in range(count)]


CODECS: dict[str, dict[str, Any]] = {
    "django (pickle)": {},
    "pickle+zlib": {"compressor": "zlib"},
    "pickle+zstd": {"compressor": "zstd"},
    "pickle+lz4": {"compressor": "lz4"},
    "json": {"serializer": "json"},
    "json+zstd": {"serializer": "json", "compressor": "zstd"},
    "msgpack": {"serializer": "msgpack"},
    "msgpack+zstd": {"serializer": "msgpack", "compressor": "zstd"},
    "pickle+zstd signed": {"compressor": "zstd", "sign_values": True},
}


def best_of(fn: Callable[[], object], number: int, rounds: int,
            clock: Callable[[], float] = time.perf_counter) -> float:
    """Per-call minimum over rounds: on a shared machine other load only ever adds time.
    ``clock=time.thread_time``: this thread's CPU time, the waiting for a server left out."""
    samples = []
    for _ in range(rounds):
        start = clock()
        for _ in range(number):
            fn()
        samples.append((clock() - start) / number)
    return min(samples)


def interleaved(fns: dict[str, Callable[[], object]], number: int, rounds: int,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Per-call minimum of each function, rounds alternating between them."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_no in range(rounds):
        names = list(fns) if round_no % 2 == 0 else list(reversed(fns))
        for name in names:
            samples[name].append(best_of(fns[name], number, 1, clock))
    return {name: min(values) for name, values in samples.items()}


def payload_table(quick: bool) -> tuple[str, dict[str, float]]:
    import pickle

    payloads = {
        "HTML fragment, 20 KB": html_fragment(60),
        "HTML fragment, 200 KB": html_fragment(600),
        "API response (JSON-like), 40 KB": api_response(100),
        "100 model instances (auth.User)": model_instances(100),
    }
    rounds = 3 if quick else 9
    lines = ["### Stored size and time per value", "", f"_{environment()}_", "",
             "| payload | codec | stored bytes | % of pickle | encode (µs) | decode (µs) |",
             "|---|---|---|---|---|---|"]
    ratios: dict[str, float] = {}
    for label, value in payloads.items():
        base = len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        for name, kwargs in CODECS.items():
            codec = build_codec(**kwargs)
            if codec is None:
                encode: Callable[[Any], bytes] = lambda v: pickle.dumps(v, pickle.HIGHEST_PROTOCOL)  # noqa: E731
                decode: Callable[[bytes], Any] = pickle.loads
            else:
                encode, decode = codec.encode, codec.decode
            try:
                data = encode(value)
            except TypeError:
                lines.append(f"| {label} | {name} | refused (TypeError) | | | |")
                continue
            number = max(3, int(2_000_000 / max(len(data), base)))
            enc = best_of(lambda: encode(value), number, rounds)
            dec = best_of(lambda: decode(data), number, rounds)
            ratios[f"{label}|{name}"] = len(data) / base
            lines.append(f"| {label} | {name} | {len(data):,} | {100 * len(data) / base:.1f}% | "
                         f"{enc * 1e6:.1f} | {dec * 1e6:.1f} |")
    return "\n".join(lines) + "\n", ratios


def signing_table(quick: bool) -> tuple[str, float]:
    plain = build_codec(serializer="json")
    signed = build_codec(serializer="json", sign_values=True)
    assert plain is not None and signed is not None
    number, rounds = (2000, 3) if quick else (5000, 21)
    lines = ["### Signing (HMAC-SHA256, json serializer, no compression)", "",
             "| value size | encode unsigned (µs) | encode signed (µs) | decode unsigned (µs) | "
             "decode signed (µs) | signing cost per value, write + read (µs) |", "|---|---|---|---|---|---|"]
    worst = 0.0
    for size in (64, 256, 512, 1000):
        value = "s" * (size - 2)
        pdata, sdata = plain.encode(value), signed.encode(value)
        t = interleaved({"pe": lambda: plain.encode(value), "se": lambda: signed.encode(value),
                         "pd": lambda: plain.decode(pdata), "sd": lambda: signed.decode(sdata)}, number, rounds)
        pe, se, pd, sd = t["pe"], t["se"], t["pd"], t["sd"]
        worst = max(worst, (se - pe), (sd - pd))
        lines.append(f"| {size} B | {pe * 1e6:.2f} | {se * 1e6:.2f} | {pd * 1e6:.2f} | {sd * 1e6:.2f} | "
                     f"{(se - pe) * 1e6:.2f} + {(sd - pd) * 1e6:.2f} |")
    return "\n".join(lines) + "\n", worst


SMALL = {"id": 1234, "name": "a cached row", "tags": ["x", "y"], "score": 9.5}


def layer_cost(quick: bool) -> tuple[str, float]:
    """The codec layer alone on a small value: encode + decode, against pickle's dumps + loads."""
    import pickle

    codec = build_codec(compressor="zstd")
    assert codec is not None
    data, pdata = codec.encode(SMALL), pickle.dumps(SMALL, pickle.HIGHEST_PROTOCOL)
    number, rounds = (5000, 3) if quick else (20000, 21)
    t = interleaved({"dumps": lambda: pickle.dumps(SMALL, pickle.HIGHEST_PROTOCOL), "encode": lambda: codec.encode(SMALL),
                     "loads": lambda: pickle.loads(pdata), "decode": lambda: codec.decode(data)}, number, rounds)
    extra = (t["encode"] - t["dumps"]) + (t["decode"] - t["loads"])
    text = ("### The codec layer alone on a small value (in process)\n\n"
            "| pickle.dumps | codec.encode | pickle.loads | codec.decode | layer's extra per set + get |\n"
            "|---|---|---|---|---|\n"
            f"| {t['dumps'] * 1e6:.3f} µs | {t['encode'] * 1e6:.3f} µs | {t['loads'] * 1e6:.3f} µs | "
            f"{t['decode'] * 1e6:.3f} µs | {extra * 1e6:.3f} µs |\n")
    return text, extra


def backend_results(url: str, quick: bool) -> list[Result]:
    from django_altcache.backends.locmem import LocMemCache
    from django_altcache.backends.redis import RedisCache

    number, rounds = (200, 3) if quick else (300, 31)
    small = {"OPTIONS": {"COMPRESSOR": "zstd"}}  # SMALL pickles to ~90 bytes: below 1024, not compressed
    redis = {"today": RedisCache(url, {"KEY_PREFIX": "b0"}),
             "codec": RedisCache(url, {"KEY_PREFIX": "b1", **small})}
    locmem = {"today": LocMemCache("bench-codec-0", {}), "codec": LocMemCache("bench-codec-1", small)}
    results = []
    for backend, caches in (("RedisCache", redis), ("LocMemCache", locmem)):
        for cache in caches.values():
            cache.set("obj", SMALL)
        results.append(Result(f"{backend} get (small dict)", interleaved(
            {n: (lambda c=c: c.get("obj")) for n, c in caches.items()}, number, rounds)))
        results.append(Result(f"{backend} set (small dict)", interleaved(
            {n: (lambda c=c: c.set("obj", SMALL)) for n, c in caches.items()}, number, rounds)))
    # The layer is CPU work in the client; a round trip's wall clock moves by more than 2%
    # between rounds here. The client's CPU time leaves the waiting out (it still moves with
    # the machine's load and clock speed: the committed files show by how much).
    for op, call in (("get", lambda c: c.get("obj")), ("set", lambda c: c.set("obj", SMALL))):
        results.append(Result(f"RedisCache {op} (small dict), client CPU time", interleaved(
            {n: (lambda c=c: call(c)) for n, c in redis.items()}, number * 3, rounds, time.thread_time)))
    return results


# The instruction counts' child: one backend, today or codec, one operation, n calls after a
# warm-up, the cyclic collector off during the calls (a collection lands in one run, not the other).
CHILD = r"""
import os, sys, tempfile
sys.path.insert(0, {root!r})
import django
from django.conf import settings
backend, op, n, location, options = {backend!r}, {op!r}, {n}, {location!r}, {options!r}
scratch = tempfile.mkdtemp(prefix="codec-instructions-")
settings.configure(USE_TZ=True, SECRET_KEY="benchmark-secret-key", INSTALLED_APPS=["django_altcache"],
                   DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                            "NAME": os.path.join(scratch, "db.sqlite3")}}}}, CACHES={{}})
django.setup()
from benchmarks.codecs import SMALL
params = {{"KEY_PREFIX": {prefix!r}, "OPTIONS": options}}  # one per configuration: they run side by side
if backend == "RedisCache":
    from django_altcache.backends.redis import RedisCache as Cache
elif backend == "LocMemCache":
    from django_altcache.backends.locmem import LocMemCache as Cache
elif backend == "PyMemcacheCache":
    from django_altcache.backends.memcached import PyMemcacheCache as Cache
elif backend == "PyLibMCCache":
    from django_altcache.backends.memcached import PyLibMCCache as Cache
elif backend == "FileBasedCache":
    from django_altcache.backends.filebased import FileBasedCache as Cache
    location = os.path.join(scratch, "files")
else:
    from django.core.management import call_command
    from django_altcache.backends.db import DatabaseCache as Cache
    call_command("createcachetable", location, verbosity=0)
cache = Cache(location, params)
cache.set("obj", SMALL)
call = {{"get": lambda: cache.get("obj"), "set": lambda: cache.set("obj", SMALL)}}[op]
for _ in range(200):
    call()
import gc
gc.collect()
gc.disable()
for _ in range(n):
    call()
"""
COUNTS = (1000, 3000)
CONFIGS = {"today": {}, "codec": {"COMPRESSOR": "zstd"}}


def instruction_table(locations: dict[str, str]) -> tuple[str, dict[str, float]]:
    """Instructions per call, today and with the codec, counted by callgrind: they do not move
    with the machine's load as the wall clock does (each figure is the count of 3000 calls
    minus that of 1000, over 2000). What they leave out is the kernel's work (a round trip's
    socket calls, a file's reads and writes), so the share is of the client's own work only."""
    import concurrent.futures
    import shutil

    from benchmarks.harness import instructions

    if shutil.which("valgrind") is None:
        return "### Instructions per call\n\nNot counted: needs valgrind.\n", {}
    root = str(Path(__file__).resolve().parent.parent)
    tasks = [(b, c, o, n) for b in locations for c in CONFIGS for o in ("get", "set") for n in COUNTS]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        counts = dict(zip(tasks, pool.map(lambda t: instructions(CHILD.format(
            root=root, backend=t[0], op=t[2], n=t[3], location=locations[t[0]], prefix=f"bench-{t[1]}",
            options=CONFIGS[t[1]])), tasks)))
    lines = ["### Instructions per call (callgrind)", "", f"_{environment()}_", "",
             "| operation | today | codec | codec − today | codec/today |", "|---|---|---|---|---|"]
    ratios: dict[str, float] = {}
    for backend in locations:
        for op in ("get", "set"):
            per = {c: (counts[(backend, c, op, COUNTS[1])] - counts[(backend, c, op, COUNTS[0])])
                   / (COUNTS[1] - COUNTS[0]) for c in CONFIGS}
            name = f"{backend} {op}"
            ratios[name] = per["codec"] / per["today"]
            lines.append(f"| {name} (small dict) | {per['today']:,.0f} | {per['codec']:,.0f} | "
                         f"{per['codec'] - per['today']:+,.0f} | {ratios[name]:.4f} |")
    if "PyLibMCCache" in locations:
        lines += ["", "PyLibMCCache: pylibmc serializes in C; with a codec it calls the codec's Python hooks "
                  "(`serialize`/`deserialize` on a client subclass: its API has no other way in) once per value, "
                  "and the driver checks each read for an unreadable marker. FileBasedCache and PyMemcacheCache "
                  "`set` cost less with a codec: Django's file format zlib-compresses every value, and pymemcache's "
                  "own serde pickles through a `Pickler` object."]
    return "\n".join(lines) + "\n", ratios


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests._servers.memcached import memcached_server
    from tests._servers.redis import redis_server

    quick = "--quick" in argv
    sizes, ratios = payload_table(quick)
    signing, worst_sign = signing_table(quick)
    layer, extra = layer_cost(quick)
    with redis_server() as server, memcached_server() as memcached:
        backends = backend_results(server.url, quick)
        locations = {"LocMemCache": "bench-codec-instructions", "RedisCache": server.url,
                     "PyMemcacheCache": memcached.location, "PyLibMCCache": memcached.location,
                     "DatabaseCache": "bench_codec_table", "FileBasedCache": ""}
        counted, counted_ratios = instruction_table(locations) if "--no-instructions" not in argv else ("", {})
    overheads = {r.operation: r.medians["codec"] / r.medians["today"] - 1 for r in backends}
    # One set + one get of RedisCache, the client's CPU time: what the layer's own work adds to.
    redis_pair = sum(r.medians["today"] for r in backends if r.operation.startswith("RedisCache") and "CPU" in r.operation)
    html = [ratios[k] for k in ratios if k.startswith("HTML") and k.endswith("|pickle+zstd")]
    met = [f"{name} ({100 * (ratio - 1):+.1f}%)" for name, ratio in counted_ratios.items() if ratio < 1.02]
    missed = [f"{name} ({100 * (ratio - 1):+.1f}%)" for name, ratio in counted_ratios.items() if ratio >= 1.02]
    targets = [
        "### Targets (issue 12)", "",
        f"- zstd stores HTML at ≤ 25% of its pickled size: {', '.join(f'{100 * r:.1f}%' for r in html)} "
        f"→ {'met' if all(r <= 0.25 for r in html) else 'NOT met'}.",
        "- codec layer on small values (below COMPRESS_MIN_LENGTH, no signing) costs < 2% over today: "
        + (f"counted in instructions per call (the table below), met on {', '.join(met) or 'no row'}; "
           f"NOT met on {', '.join(missed) or 'no row'}. " if counted_ratios else "instructions not counted. ")
        + "Wall clock (below; single-key round trips here move by more than 2% between rounds): "
        f"{', '.join(f'{k} {100 * v:+.1f}%' for k, v in overheads.items() if 'CPU' not in k)}; the Redis client's "
        f"CPU time per call: {', '.join(f'{100 * v:+.1f}%' for k, v in overheads.items() if 'CPU' in k)} (kernel "
        f"work included, and as noisy). The general codec calls alone, in process: +{extra * 1e6:.2f} µs per "
        f"set + get ({100 * extra / redis_pair:.2f}% of a RedisCache set + get's client CPU time here, "
        f"{redis_pair * 1e6:.0f} µs); the backends write and read an unsigned pickle inline instead, and "
        "LocMemCache keeps one as a plain pickle (docs/codecs.md).",
        f"- signing < 3 µs per value under 1 KB: worst {worst_sign * 1e6:.2f} µs (one HMAC per write or read) "
        f"→ {'met' if worst_sign < 3e-6 else 'NOT met'}.",
    ]
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    text = "\n".join([
        "# Codec benchmarks\n",
        "Stored size and per-value time of each codec on realistic payloads (no server), signing cost, "
        "and the codec layer's cost on a small value through real backends (`today` = no codec options, "
        "`codec` = COMPRESSOR zstd with a value below COMPRESS_MIN_LENGTH, so only the layer runs). "
        "Per-call minimums over interleaved rounds (other load on the machine only ever adds time); "
        "one run on a shared 2-core machine. "
        "Regenerate: `python -m benchmarks.codecs`.\n",
        "\n".join(targets) + "\n",
        sizes,
        signing,
        layer,
        counted,
        table("The codec layer on a small value (RedisCache: one local redis-server)", backends, ours="codec",
              versus=["today"]),
    ])
    out = RESULTS / f"codecs-{version}.md"
    sys.stdout.write(text)
    if not quick:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
