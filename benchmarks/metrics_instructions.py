"""What OPTIONS["METRICS"] adds to a call, counted in instructions (issue 14's Redis rows).

    python -m benchmarks.metrics_instructions [--jobs N] [--reuse]

On this virtual machine a loopback Redis round trip moves between 25 and 140 µs with how idle
the machine is, so neither the wall clock nor the client thread's CPU time resolves a
microsecond next to it (benchmarks/metrics.py). The instructions the client process executes
do not move: each configuration runs in its own process under valgrind's callgrind, once with
1000 calls and once with 3000 after the same warm-up, with the cyclic garbage collector off
during the calls (else a full collection lands in one run and not the other), and the
difference divided by 2000 is the instructions per call (start-up and warm-up cancel out). METRICS on minus off is the work it
adds. That work is converted to time at the rate measured on LocMemCache in the same Python's
benchmarks/results/metrics-*.md (µs added ÷ instructions added, the slowest of its get and set
rows; get_many's difference is smaller than that row's noise in wall-clock time): the
same guard and recorder code runs on every backend, so the rate carries over; the server's own
work and the network are outside the client process and the same in every configuration.
Needs ``valgrind``. Writes ``benchmarks/results/metrics-instructions-py3XX.md``, and the raw
counts to ``metrics-instructions-py3XX.json``: ``--reuse`` converts those again (after
benchmarks/metrics.py was re-run) without counting again.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"off": {}, "counters": {"METRICS": True}, "latency": {"METRICS": {"latency": True}}}
OPS = ("get (hit)", "set", "get_many(20)")
RATE_OPS = ("get (hit)", "set")  # the rows whose wall-clock difference the rate is taken from
COUNTS = (1000, 3000)

# The child: one backend, one configuration, one operation, n calls after a 200-call warm-up.
CHILD = r"""
import sys
sys.path.insert(0, {root!r})
import django
from django.conf import settings
settings.configure(CACHES={{}}, USE_TZ=True)
django.setup()
from benchmarks.metrics import MANY, VALUE
backend, op, n, location = {backend!r}, {op!r}, {n}, {location!r}
params = {{"KEY_PREFIX": "bench", "TIMEOUT": 300, "OPTIONS": {options!r}}}
if backend == "redis":
    from django_altcache.backends.redis import RedisCache
    cache = RedisCache(location, params)
else:
    from django_altcache.backends.locmem import LocMemCache
    cache = LocMemCache(location, params)
cache.set("hit", VALUE)
cache.set_many({{key: VALUE for key in MANY}})
call = {{"get (hit)": lambda: cache.get("hit"), "set": lambda: cache.set("k", VALUE),
         "get_many(20)": lambda: cache.get_many(MANY)}}[op]
for _ in range(200):
    call()
import gc
gc.collect()
gc.disable()  # a full collection lands in one run and not the other: thousands of instructions per call
for _ in range(n):
    call()
"""


def instructions(backend: str, config: str, op: str, n: int, location: str) -> int:
    from benchmarks.harness import instructions as count

    return count(CHILD.format(root=str(ROOT), backend=backend, op=op, n=n, location=location, options=CONFIGS[config]))


def locmem_added(version: str) -> dict[tuple[str, str], float]:
    """µs METRICS adds per call on LocMemCache, by (operation, column), from this Python's
    metrics-*.md (its `counters − off` and `latency − off` cells)."""
    text = (ROOT / "benchmarks" / "results" / f"metrics-{version}.md").read_text()
    added: dict[tuple[str, str], float] = {}
    for row in re.finditer(r"^\| locmem: ([^|]+?) \|(.+)\|$", text, re.MULTILINE):
        cells = [cell.strip() for cell in row.group(2).split("|")]
        # off, guard, counters, latency, guard − off, counters − off, latency − off
        added[(row.group(1), "counters")] = float(cells[5])
        added[(row.group(1), "latency")] = float(cells[6])
    return added


def main(argv: list[str]) -> None:
    from benchmarks.harness import emit, environment
    from tests._servers.redis import redis_server

    jobs = int(argv[argv.index("--jobs") + 1]) if "--jobs" in argv else 2
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    raw = ROOT / "benchmarks" / "results" / f"metrics-instructions-{version}.json"
    tasks = [(backend, config, op, n) for backend in ("locmem", "redis") for config in CONFIGS for op in OPS
             for n in COUNTS]
    if "--reuse" in argv:
        saved = json.loads(raw.read_text())
        counts = {task: saved["|".join(map(str, task))] for task in tasks}
        when = saved["environment"]
    else:
        if shutil.which("valgrind") is None:
            raise SystemExit("needs valgrind (apt install valgrind)")
        with redis_server() as server:
            locations = {"locmem": "bench-instructions", "redis": server.url}
            with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
                counts = dict(zip(tasks, pool.map(lambda t: instructions(t[0], t[1], t[2], t[3], locations[t[0]]),
                                                  tasks)))
        when = environment()
        raw.write_text(json.dumps({"environment": when, **{"|".join(map(str, task)): count
                                                           for task, count in counts.items()}}, indent=1) + "\n")
    per_call = {(b, c, o): (counts[(b, c, o, COUNTS[1])] - counts[(b, c, o, COUNTS[0])]) / (COUNTS[1] - COUNTS[0])
                for (b, c, o, _) in tasks}
    added_us = locmem_added(version)
    # µs per added instruction: the slowest of the LocMemCache single-key rows. Not get_many(20):
    # its ~1 µs difference on a 20-27 µs call is inside that row's own spread here (+0.8 to
    # +3.5 µs over seven runs of one package tree, 3.11 and 3.12, one day), so dividing it by an
    # instruction count gives the noise, not a rate.
    rate = {column: max(added_us[(op, column)] / (per_call[("locmem", column, op)] - per_call[("locmem", "off", op)])
                        for op in RATE_OPS) for column in ("counters", "latency")}
    lines = [
        "# METRICS: instructions added per call\n",
        __doc__.split("\n\n", 2)[2].split("Needs ``valgrind``")[0].strip().replace("``", "`") + "\n",
        f"_counted: {when}_\n",
        ("| operation | off (instructions) | counters − off | latency − off "
         "| counters − off (µs, at the locmem rate) | latency − off (µs, at the locmem rate) |"),
        "|---|---|---|---|---|---|",
    ]
    for backend in ("locmem", "redis"):
        for op in OPS:
            off = per_call[(backend, "off", op)]
            added = {c: per_call[(backend, c, op)] - off for c in ("counters", "latency")}
            lines.append(f"| {backend}: {op} | {off:,.0f} | {added['counters']:+,.0f} | {added['latency']:+,.0f} | "
                         f"{added['counters'] * rate['counters']:+.2f} | {added['latency'] * rate['latency']:+.2f} |")
    lines.append("")
    lines.append(f"Rates from metrics-{version}.md's LocMemCache single-key rows (get, set; the slowest): counters "
                 f"{rate['counters'] * 1e6:.1f} ps per instruction, latency {rate['latency'] * 1e6:.1f} ps. "
                 "Targets: counters ≤ 1.5 µs, latency ≤ 3 µs.\n")
    emit("\n".join(lines), str(ROOT / "benchmarks" / "results" / f"metrics-instructions-{version}.md"))


if __name__ == "__main__":
    main(sys.argv[1:])
