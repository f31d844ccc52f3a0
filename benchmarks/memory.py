"""Memory: RSS per process with each backend in use, and per 1,000 pooled connections/clients.

    python -m benchmarks.memory

Each figure comes from a fresh process (``--one KIND``): its resident set size (VmRSS) after
Django's set-up, then after the measured thing is built and has done one round trip. Per
1,000: ``N`` connections are opened the way each backend would hold them under load (ours:
pooled connections or per-thread clients; Django's: one backend instance per thread or task,
each with its client), and the RSS growth is scaled to 1,000. PostgreSQL and memcached run
with enough connection slots. Writes benchmarks/results/memory-py3XX.md.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def setup_django(databases: dict[str, Any] | None = None) -> None:
    import django
    from django.conf import settings

    settings.configure(CACHES={}, USE_TZ=True, DATABASES=databases or {}, INSTALLED_APPS=["django_altcache"])
    django.setup()


def one(kind: str, count: int, env: dict[str, str]) -> dict[str, Any]:
    """In a fresh process: RSS before and after ``count`` of ``kind``."""
    pg = {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
          "HOST": "127.0.0.1", "PORT": env.get("PG_PORT", "")}
    setup_django({"default": pg} if " pg " in kind else {})
    mc = env.get("MC", "")
    gc.collect()
    before = rss_kib()
    keep: list[Any] = []
    if kind == "process: ours pymemcache":
        from django_altcache.backends.memcached import PyMemcacheCache

        keep.append(PyMemcacheCache(mc, {}))
        keep[0].set("k", VALUE) or keep[0].get("k")
    elif kind == "process: django pymemcache":
        from django.core.cache.backends.memcached import PyMemcacheCache

        keep.append(PyMemcacheCache(mc, {}))
        keep[0].set("k", VALUE) or keep[0].get("k")
    elif kind == "pooled: ours pymemcache":
        from django_altcache.backends.memcached import PyMemcacheCache

        pool = PyMemcacheCache(mc, {})._cache._only
        clients = [pool._create_client() for _ in range(count)]
        for client in clients:
            client.get("k")
        keep.extend(clients)
    elif kind == "pooled: django pymemcache":
        from django.core.cache.backends.memcached import PyMemcacheCache

        for _ in range(count):  # one backend instance per thread, each its own client
            cache = PyMemcacheCache(mc, {})
            cache.get("k")
            keep.append(cache)
    elif kind == "pooled: ours pylibmc":
        from django_altcache.backends.memcached import PyLibMCCache

        shared = PyLibMCCache(mc, {})._handle._shared()
        for _ in range(count):  # each thread's clone
            clone = shared.clone()
            clone.get("k")
            keep.append(clone)
    elif kind == "pooled: django pylibmc":
        from django.core.cache.backends.memcached import PyLibMCCache

        for _ in range(count):
            cache = PyLibMCCache(mc, {})
            cache.get("k")
            keep.append(cache)
    elif kind == "pooled: pg sync (Django connections)":
        from django.db import connections

        for _ in range(count):  # the cache runs on the thread's Django connection, as Django's does
            wrapper = connections.create_connection("default")
            wrapper.ensure_connection()
            keep.append(wrapper)
    elif kind == "pooled: pg async (ours)":
        import asyncio

        import psycopg

        from django.db import connections

        params = dict(connections["default"].get_connection_params())
        params.pop("cursor_factory", None)

        async def open_all() -> None:
            for _ in range(count):
                conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
                await conn.execute("SELECT 1")
                keep.append(conn)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(open_all())
    else:
        raise ValueError(kind)
    gc.collect()
    return {"before": before, "after": rss_kib(), "count": count}


KINDS = [
    ("process: ours pymemcache", 1), ("process: django pymemcache", 1),
    ("pooled: ours pymemcache", 1000), ("pooled: django pymemcache", 1000),
    ("pooled: ours pylibmc", 1000), ("pooled: django pylibmc", 1000),
    ("pooled: pg sync (Django connections)", 150), ("pooled: pg async (ours)", 150),
]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(one(argv[1], int(argv[2]), dict(os.environ))))
        return 0
    from contextlib import ExitStack

    from benchmarks.harness import emit, environment
    from tests._servers.memcached import memcached_server
    from tests._servers.postgres import postgres_server

    rows = []
    with ExitStack() as stack:
        mc = stack.enter_context(memcached_server(extra_args=["-c", "4096", "-t", "1"]))
        pg = stack.enter_context(postgres_server())
        env = {**os.environ, "MC": mc.location, "PG_PORT": str(pg.port)}
        baseline = json.loads(subprocess.run([sys.executable, "-m", "benchmarks.memory", "--one",
                                              "process: ours pymemcache", "1"], capture_output=True, text=True,
                                             env=env, check=True, cwd=ROOT).stdout)
        for kind, count in KINDS:
            done = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--one", kind, str(count)],
                                  capture_output=True, text=True, env=env, cwd=ROOT)
            if done.returncode != 0:
                rows.append(f"| {kind} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'} | | |")
                continue
            figures = json.loads(done.stdout)
            grown = figures["after"] - figures["before"]
            per = grown * 1000 / count if kind.startswith("pooled") else grown
            rows.append(f"| {kind} | {figures['before'] / 1024:.1f} | {figures['after'] / 1024:.1f} | "
                        f"{per / 1024:.1f}{' (per 1,000; measured ' + str(count) + ')' if count != 1 else ''} |")
    text = "\n".join([
        "## Memory (RSS, MiB)\n",
        f"_{environment()}_\n",
        "Each row is a fresh process: RSS after Django's set-up, after building the thing measured, and "
        "the growth (for pooled rows, per 1,000 connections or clients, scaled from the count measured). "
        f"A bare process with Django set up: {baseline['before'] / 1024:.1f} MiB. Generated by "
        "`python -m benchmarks.memory`.\n",
        "| what | RSS before | RSS after | growth |",
        "|---|---|---|---|",
        *rows,
        "",
    ])
    emit(text, str(ROOT / "benchmarks" / "results" / f"memory-py{sys.version_info[0]}{sys.version_info[1]}.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
