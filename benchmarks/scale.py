"""The cost curve: get and set as the database and file caches grow, ours and Django's.

    python -m benchmarks.scale              # 1,000 and 50,000 entries (minutes)
    python -m benchmarks.scale --big        # 1,000, 50,000 and 1,000,000 (an hour or more)

For each size, each cache gets its own table (SQLite, PostgreSQL) or directory (files),
filled with that many live entries; then ``get`` (a hit), ``set`` of an existing key and
``set`` of a new key are timed, interleaved, ours and Django's. ``MAX_ENTRIES`` is above the
size, so nothing is culled, but Django still counts the whole table (database) or lists the
whole directory (files) on every ``set``: that is the growth measured. Writes
benchmarks/results/scale-py3XX.md (``--big``: scale-big-py3XX.md).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}


def db_rows(alias: str, size: int, rounds: int) -> list[Any]:
    from django.core.cache.backends.db import DatabaseCache as DjangoCache

    from benchmarks.db import ROUTE, make_table
    from benchmarks.harness import compare
    from django_altcache.backends.db import DatabaseCache

    ROUTE.alias = alias
    params = {"OPTIONS": {"MAX_ENTRIES": size * 10}}
    make_table(alias, "scale ours", size)
    make_table(alias, "scale django", size)
    caches = {"ours": DatabaseCache("scale ours", params), "django": DjangoCache("scale django", params)}
    keys = itertools.cycle([f"fill{i}" for i in range(0, size, max(1, size // 997))])
    new = itertools.count()
    # Django's set counts the table: few calls at a million rows.
    slow = 3 if size >= 1_000_000 else 20
    out = [
        compare(f"get, {size:,} rows", {n: (lambda c=c: c.get(next(keys))) for n, c in caches.items()},
                number=100, rounds=rounds),
        compare(f"set (existing), {size:,} rows", {n: (lambda c=c: c.set(next(keys), VALUE))
                                                  for n, c in caches.items()}, number=slow, rounds=rounds),
        compare(f"set (new), {size:,} rows", {n: (lambda c=c: c.set(f"new{next(new)}", VALUE))
                                             for n, c in caches.items()}, number=slow, rounds=rounds),
    ]
    from django.db import connections

    with connections[alias].cursor() as cursor:
        for table in ("scale ours", "scale django"):
            cursor.execute(f"DROP TABLE {connections[alias].ops.quote_name(table)}")
    return out


def file_rows(size: int, rounds: int) -> list[Any]:
    from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBased

    from benchmarks.core import fill
    from benchmarks.harness import compare
    from django_altcache.backends.filebased import FileBasedCache

    directory = tempfile.mkdtemp(prefix="altcache-scale-")
    try:
        params = {"TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": size * 10}}
        ours, theirs = FileBasedCache(directory, params), DjangoFileBased(directory, params)
        fill(ours, size)  # both classes on the same directory: the same files
        keys = itertools.cycle([f"fill:{i}" for i in range(0, size, max(1, size // 997))])
        new = itertools.count()
        slow = 2 if size >= 1_000_000 else 5
        caches = {"ours": ours, "django": theirs}
        return [
            compare(f"get, {size:,} files", {n: (lambda c=c: c.get(next(keys))) for n, c in caches.items()},
                    number=100, rounds=rounds),
            compare(f"set (existing), {size:,} files", {n: (lambda c=c: c.set(next(keys), VALUE))
                                                       for n, c in caches.items()}, number=slow, rounds=rounds),
            compare(f"set (new), {size:,} files", {n: (lambda c=c: c.set(f"new{next(new)}", VALUE))
                                                  for n, c in caches.items()}, number=slow, rounds=rounds),
        ]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", action="store_true", help="add 1,000,000 entries (slow)")
    parser.add_argument("--quick", action="store_true", help="1,000 entries, 3 rounds, nothing written")
    args = parser.parse_args(argv)
    sizes = [1_000] if args.quick else [1_000, 50_000] + ([1_000_000] if args.big else [])
    rounds = 3 if args.quick else 7

    from benchmarks.db import configure
    from benchmarks.harness import emit, load_note, pin, table
    from tests._servers import ServerUnavailable
    from tests._servers.postgres import postgres_server

    started = os.getloadavg()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="altcache-scale-") as tmp:
        pinning = pin(1)
        try:
            pg_port: int | None = stack.enter_context(postgres_server()).port
        except ServerUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
            pg_port = None
        configure(os.path.join(tmp, "scale.sqlite3"), pg_port)
        parts = [f"## Cost curve: get and set as the cache grows\n\nMedian µs per call, {rounds} interleaved "
                 f"rounds; ours/django below 1 means ours is cheaper. {pinning}. Generated by "
                 f"`python -m benchmarks.scale{' --big' if args.big else ''}`.\n\n"]
        for title, rows in (
            ("DatabaseCache, SQLite (Django's defaults)", lambda size: db_rows("default", size, rounds)),
            ("DatabaseCache, PostgreSQL", lambda size: db_rows("postgres", size, rounds)),
            ("FileBasedCache (local filesystem)", lambda size: file_rows(size, rounds)),
        ):
            if "PostgreSQL" in title and pg_port is None:
                continue
            results = [result for size in sizes for result in rows(size)]
            parts.append(table(title, results, versus=["django"]) + "\n")
        parts.append(load_note(started) + "\n")
        name = f"scale{'-big' if args.big else ''}-py{sys.version_info[0]}{sys.version_info[1]}.md"
        emit("".join(parts), None if args.quick else str(ROOT / "benchmarks" / "results" / name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
