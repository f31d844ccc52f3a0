"""Serverless backends, ours against Django's, interleaved in one run.

    python -m benchmarks.core [--quick]

LocMemCache: each class on its own in-process store, same keys and values. FileBasedCache:
both classes on the same directory, pre-filled with 50,000 entries (MAX_ENTRIES above that,
so neither culls: Django's ``set`` still lists the whole directory to decide). Writes the
table to benchmarks/results/core-py<major><minor>.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import django
from django.conf import settings

if not settings.configured:
    settings.configure(USE_TZ=True, CACHES={})
    django.setup()

from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBased  # noqa: E402
from django.core.cache.backends.locmem import LocMemCache as DjangoLocMem  # noqa: E402

from benchmarks.harness import Result, compare, emit, table  # noqa: E402
from django_altcache.backends.filebased import FileBasedCache  # noqa: E402
from django_altcache.backends.locmem import LocMemCache  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VALUE = {"id": 1234, "name": "a cached row", "tags": ["x", "y"], "score": 9.5}
MANY = [f"many:{i}" for i in range(20)]


def locmem_results(number: int, rounds: int) -> list[Result]:
    caches = {"ours": LocMemCache("bench-ours", {"TIMEOUT": 3600}),
              "django": DjangoLocMem("bench-django", {"TIMEOUT": 3600})}
    for cache in caches.values():
        cache.set("obj", VALUE)
        cache.set("text", "some cached fragment of html")
        cache.set_many({key: VALUE for key in MANY})
    counter = itertools.count()

    def ops(op: str):  # noqa: ANN202 - a dict of callables per implementation
        if op == "get (dict)":
            return {n: (lambda c=c: c.get("obj")) for n, c in caches.items()}
        if op == "get (str)":
            return {n: (lambda c=c: c.get("text")) for n, c in caches.items()}
        if op == "get (miss)":
            return {n: (lambda c=c: c.get("missing")) for n, c in caches.items()}
        if op == "set (dict)":
            return {n: (lambda c=c: c.set(f"k{next(counter) % 200}", VALUE)) for n, c in caches.items()}
        if op == "set (str)":
            return {n: (lambda c=c: c.set(f"k{next(counter) % 200}", "fragment")) for n, c in caches.items()}
        if op == "get_many (20 dicts)":
            return {n: (lambda c=c: c.get_many(MANY)) for n, c in caches.items()}
        if op == "incr":
            for c in caches.values():
                c.set("n", 0, timeout=None)
            return {n: (lambda c=c: c.incr("n")) for n, c in caches.items()}
        raise ValueError(op)

    names = ["get (dict)", "get (str)", "get (miss)", "set (dict)", "set (str)", "get_many (20 dicts)", "incr"]
    # More rounds than the filebased part: sub-microsecond differences need them on a busy machine.
    return [compare(f"locmem {op}", ops(op), number=number, rounds=rounds + 4) for op in names]


def fill(cache: FileBasedCache, entries: int) -> None:
    """Write ``entries`` valid entries straight to new files: the same bytes as ``set``, without
    its lock and rename, so that preparing 50,000 files stays a small part of the run."""
    from django_altcache.backends import _files

    data = _files.encode(None, VALUE)
    for i in range(entries):
        fd = os.open(cache._key_to_file(f"fill:{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def filebased_results(entries: int, number: int, rounds: int) -> list[Result]:
    directory = tempfile.mkdtemp(prefix="altcache-bench-")
    try:
        params = {"TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": entries * 10}}
        ours, theirs = FileBasedCache(directory, params), DjangoFileBased(directory, params)
        fill(ours, entries)
        ours.set("obj", VALUE)
        counter = itertools.count()
        # Django's set lists the whole directory (~0.1 s a call at 50,000 entries): few calls.
        slow_number = 5
        results = [
            compare(f"filebased set ({entries:,} entries)", {
                "ours": lambda: ours.set(f"w{next(counter) % 100}", VALUE),
                "django": lambda: theirs.set(f"w{next(counter) % 100}", VALUE),
            }, number=slow_number, rounds=rounds + 4),
            compare(f"filebased get ({entries:,} entries)", {
                "ours": lambda: ours.get("obj"),
                "django": lambda: theirs.get("obj"),
            }, number=number // 4, rounds=rounds),
            compare("filebased get (miss)", {
                "ours": lambda: ours.get("missing"),
                "django": lambda: theirs.get("missing"),
            }, number=number // 4, rounds=rounds),
            compare("filebased has_key", {
                "ours": lambda: ours.has_key("obj"),
                "django": lambda: theirs.has_key("obj"),
            }, number=number // 4, rounds=rounds),
        ]
        ours.set("n", 0, timeout=None)
        results.append(compare("filebased incr (ours: locked, keeps TTL)", {
            "ours": lambda: ours.incr("n"),
            "django": lambda: theirs.incr("n"),
        }, number=slow_number, rounds=rounds + 4))
        return results
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer entries and rounds (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update results/")
    args = parser.parse_args(argv)
    entries, number, rounds = (5_000, 2_000, 3) if args.quick else (50_000, 20_000, 5)
    text = table("LocMemCache: ours vs Django's", locmem_results(number, rounds), versus=["django"])
    text += "\n" + table("FileBasedCache: ours vs Django's, same directory",
                         filebased_results(entries, number, rounds), versus=["django"])
    text += ("\nPer-call medians; ratio below 1 means ours is faster (0.5 = twice as fast). "
             "Filebased figures are on the local filesystem of the machine above.\n")
    path = None if args.quick or args.no_write else str(
        RESULTS / f"core-py{sys.version_info.major}{sys.version_info.minor}.md")
    if path:
        os.makedirs(RESULTS, exist_ok=True)
    emit(text, path)


if __name__ == "__main__":
    main()
