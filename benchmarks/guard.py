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
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import Result, compare, emit, environment, export_tree, table, write_renamed

ROOT = Path(__file__).resolve().parent.parent
OLD = "django_altcache_before"
PLAIN = "django_altcache_unguarded"
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
            write_renamed(into / member.name.replace("django_altcache", OLD, 1), source.read(), OLD)


def per_call_table(results: list[Result]) -> str:
    """The per-call rows, with the run's own noise beside each ratio: ``A/A`` is ``before
    again``/``before`` (one code, two instances), ``spread`` the widest interquartile range of
    the row's rounds relative to its median; and the guard's own cost in each version (guarded
    minus that version's unguarded backend), since the backend changed too."""
    head = ["operation", "before (µs)", "after (µs)", "after/before", "A/A", "spread",
            "guard alone before (µs)", "guard alone after (µs)", "after/unguarded"]
    lines = ["### Per call, in-process cache", "", f"_{environment()}_", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        m = result.medians
        cells = [result.operation, f"{m['before'] * 1e6:.2f}", f"{m['after'] * 1e6:.2f}",
                 f"{m['after'] / m['before']:.3f}", f"{m['before again'] / m['before']:.3f}",
                 f"±{max(result.spreads.values()) * 50:.1f}%",
                 f"{(m['before'] - m['before unguarded']) * 1e6:.2f}", f"{(m['after'] - m['unguarded']) * 1e6:.2f}",
                 f"{m['after'] / m['unguarded']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
        # The unguarded class from a copy of this tree: were it the same class, its methods'
        # code would serve two types (the variant's and its own), and CPython's per-site
        # attribute specialization would keep switching between them, slowing both columns.
        export_tree(Path(tmp), PLAIN)
        plain = importlib.import_module(f"{PLAIN}.backends.locmem").LocMemCache("bench-guard-plain", {})
        # A second instance of ``before``, timed like the others: what separates two identical
        # contestants in this run (the A/A column) is the noise an after/before ratio must beat.
        again = old_locmem("bench-guard-before-again", params)
        old_resilience.install_resilience(again, params, name="locmem", errors=(ConnectionError,),
                                          make_error=ConnectionError)
        # The backend itself changed since ``before`` too: its own unguarded class separates the
        # guard's cost from the backend's.
        old_plain = old_locmem("bench-guard-before-plain", {})
        caches: dict[str, Any] = {"before": before, "after": after, "unguarded": plain, "before again": again,
                                  "before unguarded": old_plain}
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
        "LocMemCache (no I/O), `unguarded` = the same class with no guard at all, the default; `guard alone` = "
        "each version's guarded call minus its own unguarded LocMemCache (the backend changed between "
        "the two as well); `A/A` = a "
        "second `before` instance over the first (one code: the run's own noise), `spread` = the widest "
        "interquartile range of the row's rounds over the median. "
        "Regenerate: `python -m benchmarks.guard`.\n",
        table("Before vs after", [r for r in results if "construction" in r.operation], ours="after",
              versus=["before"]),
        per_call_table([r for r in results if "construction" not in r.operation]),
    ])
    out = Path(__file__).resolve().parent / "results" / f"guard-{version}.md"
    emit(text, None if quick else str(out))


if __name__ == "__main__":
    main(sys.argv[1:])
