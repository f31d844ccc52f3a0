"""Leaf operations: guarded without marking the call as inside one, and the declarations checked.

A class lists in ``leaf_operations`` the operations it defines that call no other operation of
the cache; the guard then skips the ``ContextVar`` mark that composed operations need. The
suite runs with ``DJANGO_ALTCACHE_CHECK_LEAVES=1`` (tests/conftest.py), so every guarded call in
every test checks the declarations; these tests check the mechanism itself.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from django_altcache.backends._shared import guard
from django_altcache.backends._shared.guard import LeafViolation, guarded_variant, leaf_function
from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache

FAIL_SOFT = {"OPTIONS": {"IGNORE_EXCEPTIONS": True}}


def guarded(cls: type, *args: Any) -> Any:
    """An in-process cache made guarded with fail-soft on, as a network backend would be (the
    in-process backends are guarded only for METRICS: they have no outage to answer)."""
    cache = guarded_variant(cls)(*args)
    cache._init_guard("leaves", errors=(ConnectionError,), make_error=ConnectionError)
    return cache


def test_checks_are_on_in_this_suite() -> None:
    assert os.environ.get("DJANGO_ALTCACHE_CHECK_LEAVES") == "1"


def test_a_leaf_is_the_declared_function_only() -> None:
    assert leaf_function(LocMemCache, "get") is vars(LocMemCache)["get"]
    assert leaf_function(LocMemCache, "decr") is None  # Django's decr calls incr: not declared

    class Inherits(LocMemCache):
        pass

    class Overrides(LocMemCache):
        def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
            return super().get(key, default, version)

    assert leaf_function(Inherits, "get") is vars(LocMemCache)["get"]
    assert leaf_function(Overrides, "get") is None  # its own get declares nothing
    assert leaf_function(Overrides, "set") is vars(LocMemCache)["set"]


class Liar(LocMemCache):
    """Declares has_key a leaf, but builds it on get."""

    leaf_operations = frozenset({"has_key"})

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self.get(key, version=version) is not None


def test_a_wrong_declaration_is_caught() -> None:
    cache = guarded(Liar, "leaves-liar", FAIL_SOFT)
    assert type(cache) is guarded_variant(Liar)
    before = len(guard.leaf_violations)
    try:
        with pytest.raises(LeafViolation, match=r"Liar.has_key is declared in leaf_operations but called get"):
            cache.has_key("k")
        assert len(guard.leaf_violations) == before + 1
    finally:
        del guard.leaf_violations[before:]  # expected here: not a failure of the run


def test_inside_a_composed_operation_a_leaf_is_not_guarded_again() -> None:
    """Django's decr is incr: one guarded call, and incr (a leaf) inside it runs unguarded."""
    cache = guarded(LocMemCache, "leaves-decr", FAIL_SOFT)
    seen: list[object] = []
    real = vars(LocMemCache)["incr"]

    def incr(self: Any, key: Any, delta: int = 1, version: Any = None) -> Any:
        seen.append(guard._inside.get())
        return real(self, key, delta, version)

    cache.set("n", 5)
    LocMemCache.incr = incr  # a patch: not the declared function, so the full path
    try:
        assert cache.decr("n") == 4
        assert seen == [cache]  # decr marked the call; incr ran inside it
        assert cache.incr("n") == 5
        assert seen[-1] is cache  # a patched leaf is marked like any operation
    finally:
        LocMemCache.incr = real


def test_a_leaf_called_alone_is_not_marked() -> None:
    cache = guarded(LocMemCache, "leaves-alone", FAIL_SOFT)
    marks: list[object] = []

    class Spy:
        def __reduce__(self) -> Any:
            marks.append(guard._inside.get())
            return (int, (7,))

    cache.set("spy", Spy())
    assert cache.get("spy") == 7
    # Under the checks the leaf runs with its checking mark, never with the cache itself.
    assert len(marks) == 1 and marks[0] is not cache
    assert isinstance(marks[0], guard._InLeaf) and marks[0].cache is cache and marks[0].name == "set"


@pytest.mark.parametrize("make", [
    lambda tmp: guarded(LocMemCache, "leaves-every-locmem", FAIL_SOFT),
    lambda tmp: guarded(DummyCache, "leaves-every-dummy", FAIL_SOFT),
    lambda tmp: guarded(FileBasedCache, str(tmp), FAIL_SOFT),
    lambda tmp: LocMemCache("leaves-every-metered", {"OPTIONS": {"METRICS": True}}),
], ids=["locmem", "dummy", "filebased", "locmem-metrics"])
def test_every_declared_leaf_of_the_in_process_backends_holds(make: Any, tmp_path: Any) -> None:
    """Each declared leaf, called through the checking variant; the network backends' are held
    by the outage contract and the backend suites, which run every operation guarded."""
    cache = make(tmp_path)
    assert "_bare" in vars(type(cache))  # a guarded variant
    calls = {
        "add": lambda: cache.add("a", 1), "get": lambda: cache.get("a"), "set": lambda: cache.set("n", 1),
        "touch": lambda: cache.touch("n", 30), "incr": lambda: cache.incr("n"),
        "has_key": lambda: cache.has_key("n"), "delete": lambda: cache.delete("a"),
        "get_many": lambda: cache.get_many(["n", "x"]), "set_many": lambda: cache.set_many({"x": 1, "y": 2}),
        "delete_many": lambda: cache.delete_many(["x", "y"]), "incr_version": lambda: cache.incr_version("n"),
        "clear": lambda: cache.clear(),
    }
    declared = type(cache).leaf_operations
    assert declared <= set(calls)
    before = len(guard.leaf_violations)
    for name in sorted(declared, key=list(calls).index):
        try:
            calls[name]()
        except ValueError:
            pass  # DummyCache's incr_version of a missing key: Django's answer
    assert guard.leaf_violations[before:] == []
