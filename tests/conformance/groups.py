"""Which of Django's cache test classes belong to which conformance group.

Classes are read from the (rewritten) sources with ``ast`` rather than listed by hand,
so a class added in a newer Django is run too: it lands in ``core`` unless its name
says it is about a server or the database.
"""

from __future__ import annotations

import ast
from pathlib import Path

GROUPS = ("core", "db", "redis", "memcached")
MODULES = ("tests", "tests_async")
# runtests.py groups without classes of Django's suite (our own tests only).
NO_CONFORMANCE = ("project",)
# Django's base test classes a test class derives from.
_TEST_BASES = {"SimpleTestCase", "TestCase", "TransactionTestCase", "LiveServerTestCase"}

# First match wins; a name is checked for these substrings.
_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("db", ("DBCache", "CacheTable", "DatabaseCache")),
    ("redis", ("Redis",)),
    ("memcached", ("Memcache", "PyLibMC")),
)


def backend_of(test_class: str) -> str:
    """The backend (``module.Class`` under the prefix) a test class exercises."""
    name = test_class.rsplit(".", 1)[-1]
    group = group_of(name)
    if group == "db":
        return "db.DatabaseCache"
    if group == "redis":
        return "redis.RedisCache"
    if group == "memcached":
        return "memcached.PyLibMCCache" if "PyLibMC" in name else "memcached.PyMemcacheCache"
    if "Dummy" in name:
        return "dummy.DummyCache"
    if "FileBased" in name:
        return "filebased.FileBasedCache"
    return "locmem.LocMemCache"  # the generic classes (middleware, utils, ...) run on locmem


def group_of(class_name: str) -> str:
    for group, markers in _MARKERS:
        if any(marker in class_name for marker in markers):
            return group
    return "core"


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def test_classes(app_dir: Path) -> dict[str, str]:
    """``{"cache.tests.DBCacheTests": "db", ...}`` for every runnable test class."""
    found: dict[str, str] = {}
    for module in MODULES:
        path = app_dir / f"{module}.py"
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        is_test: dict[str, bool] = {}
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = _base_names(node)
            is_test[node.name] = bool(bases & _TEST_BASES) or any(is_test.get(b, False) for b in bases)
            if is_test[node.name]:
                found[f"cache.{module}.{node.name}"] = group_of(node.name)
    return found


def parse_groups(text: str | None) -> list[str]:
    """``--groups core,db``; runtests.py's groups without conformance classes are ignored."""
    if not text:
        return list(GROUPS)
    chosen = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS and g not in NO_CONFORMANCE]
    if unknown:
        raise ValueError(f"--groups: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return [g for g in GROUPS if g in chosen]
