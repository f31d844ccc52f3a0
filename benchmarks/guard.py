"""The guard's cost before and after it moved from per-instance wrappers to the class (issue 10).

    python -m benchmarks.guard [--before REV] [--quick]

``--before`` (default ``ae37221``, the last commit with per-instance ``install_resilience``)
is exported with ``git archive`` into a temp dir and imported under another package name, so
both versions run in ONE process, interleaved: the construction of a backend instance (Django
builds one per thread, and per task under ASGI) and the per-call cost of the wrapper on an
in-process cache (no I/O to hide it), with fail-soft off and on. Writes
``benchmarks/results/guard-py3XX.md``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, table

ROOT = Path(__file__).resolve().parent.parent
OLD = "django_altcache_before"
VALUE = {"user": 42, "name": "benchmark"}


def export_before(rev: str, into: Path) -> None:
    """``django_altcache`` at ``rev``, as package ``OLD`` (its absolute imports rewritten)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "django_altcache"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            source = tar.extractfile(member)
            assert source is not None
            text = source.read()
            target = into / member.name.replace("django_altcache", OLD, 1)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".py":
                text = re.sub(rb"\bdjango_altcache\b", OLD.encode(), text)
            target.write_bytes(text)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    rev = argv[argv.index("--before") + 1] if "--before" in argv else "ae37221"
    number, rounds = (200, 3) if quick else (2000, 9)
    settings.configure(CACHES={}, DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                                                         "NAME": ":memory:"}})
    django.setup()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack():
        export_before(rev, Path(tmp))
        sys.path.insert(0, tmp)
        versions = {"before": OLD, "after": "django_altcache"}
        redis = {name: importlib.import_module(f"{pkg}.backends.redis").RedisCache for name, pkg in versions.items()}
        memcached = {name: importlib.import_module(f"{pkg}.backends.memcached").PyMemcacheCache
                     for name, pkg in versions.items()}
        db = {name: importlib.import_module(f"{pkg}.backends.db").DatabaseCache for name, pkg in versions.items()}
        results: list[Result] = []
        for label, options in (("off", {}), ("on", {"IGNORE_EXCEPTIONS": True})):
            params = {"KEY_PREFIX": "bench", "OPTIONS": options}
            for backend, classes, location in (("RedisCache", redis, "redis://127.0.0.1:1"),
                                               ("PyMemcacheCache", memcached, "127.0.0.1:1"),
                                               ("DatabaseCache", db, "bench_table")):
                results.append(compare(
                    f"{backend}(...) construction, fail-soft {label}",
                    {name: (lambda cls=cls: cls(location, params)) for name, cls in classes.items()},
                    number=number // 4, rounds=rounds))
        # The wrapper alone: an in-process cache, made guarded in each version's own way.
        old_resilience = importlib.import_module(f"{OLD}.backends.resilience")
        old_locmem = importlib.import_module(f"{OLD}.backends.locmem").LocMemCache
        from django_altcache.backends._shared.guard import guarded_variant
        from django_altcache.backends.locmem import LocMemCache

        params = {"OPTIONS": {"IGNORE_EXCEPTIONS": True}}
        before = old_locmem("bench-guard-before", params)
        old_resilience.install_resilience(before, params, name="locmem", errors=(ConnectionError,),
                                          make_error=ConnectionError)
        after = guarded_variant(LocMemCache)("bench-guard-after", params)
        after._init_guard("locmem", errors=(ConnectionError,), make_error=ConnectionError)
        plain = LocMemCache("bench-guard-plain", {})
        caches: dict[str, Any] = {"before": before, "after": after, "unguarded": plain}
        for cache in caches.values():
            cache.set("hit", VALUE)
        for operation, op in (("get (hit), fail-soft on", lambda c: c.get("hit")),
                              ("set, fail-soft on", lambda c: c.set("k", VALUE)),
                              ("get_many(3), fail-soft on", lambda c: c.get_many(["hit", "a", "b"]))):
            results.append(compare(operation, {name: (lambda c=c: op(c)) for name, c in caches.items()},
                                   number=number * 5, rounds=rounds))
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    text = "\n".join([
        "# The guard before and after (class-level instead of per-instance)\n",
        f"`before` = django_altcache at {rev} (per-instance `install_resilience`), `after` = this tree "
        "(a guarded variant class chosen in `__new__`), imported side by side in one process and run "
        "interleaved. Construction rows: one backend instance (no connection is made). Per-call rows: "
        "LocMemCache (no I/O), `unguarded` = the same class with no guard at all, the default. "
        "Regenerate: `python -m benchmarks.guard`.\n",
        table("Before vs after", [r for r in results if "construction" in r.operation], ours="after",
              versus=["before"]),
        table("Per call, in-process cache", [r for r in results if "construction" not in r.operation],
              ours="after", versus=["before", "unguarded"]),
    ])
    out = Path(__file__).resolve().parent / "results" / f"guard-{version}.md"
    emit(text, None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
