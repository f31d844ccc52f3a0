"""The same scenarios against Django's backend and ours: every result must be equal."""

from __future__ import annotations

import pickle
import random
import warnings
from collections.abc import Callable
from typing import Any

import django
import pytest

from .conftest import Factory


class Unpicklable:
    def __reduce__(self) -> Any:
        raise pickle.PicklingError("no")


def outcome(call: Callable[[], Any]) -> Any:
    """A call's result, or its exception as (type name, message), so both can be compared."""
    try:
        return ("ok", call())
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


def api_scenario(cache: Any) -> list[Any]:
    out: list[Any] = []
    r = out.append
    r(cache.get("a"))
    r(cache.get("a", "dflt"))
    r(cache.set("a", 1))
    r((cache.get("a"), type(cache.get("a")).__name__))
    r(cache.add("a", 2))
    r(cache.add("b", True))
    r(cache.get("b") is True)
    r(cache.set("c", {"x": [1, 2]}))
    r(cache.get("c"))
    r(cache.set("d", b"raw bytes"))
    r(cache.get("d"))
    r(cache.set("fl", 1.5))
    r(cache.get("fl"))
    r(outcome(lambda: cache.incr("a")))
    r(outcome(lambda: cache.incr("a", 10)))
    r(outcome(lambda: cache.decr("a", 3)))
    r(outcome(lambda: cache.incr("nope")))
    r(outcome(lambda: cache.decr("nope")))
    r(outcome(lambda: cache.incr("c")))
    r(cache.has_key("a"))
    r("a" in cache)
    r(cache.delete("a"))
    r(cache.delete("a"))
    r(cache.has_key("a"))
    r(cache.touch("b", 100))
    r(cache.touch("zz"))
    r(cache.set("e", "x", 0))
    r(cache.get("e"))
    r(cache.add("e", "y"))
    r(cache.get("e"))
    r(cache.set("f", "x", -1))
    r(cache.has_key("f"))
    r(cache.set("g", "forever", None))
    r(cache.get("g"))
    r(cache.set_many({"h": 1, "i": [2]}))
    r(sorted(cache.get_many(["h", "i", "missing"]).items()))
    r(cache.get_many([]))
    r(cache.delete_many(["h", "missing"]))
    r(cache.get_many(["h", "i"]))
    r(cache.get_or_set("j", lambda: "computed"))
    r(cache.get_or_set("j", "other"))
    r(outcome(lambda: cache.incr_version("g")))
    r(cache.get("g"))
    r(cache.get("g", version=2))
    r(outcome(lambda: cache.incr_version("nope")))
    r(cache.set("k", 5, version=3))
    r(cache.get("k"))
    r(cache.get("k", version=3))
    r(cache.touch("b", 0))
    r(cache.get("b"))
    r(outcome(lambda: cache.set("u", Unpicklable())))
    r(outcome(lambda: cache.add("u", Unpicklable())))
    r(cache.has_key("u"))
    r(cache.clear())
    r(cache.get("c"))
    r(cache.get_many(["i", "g"]))
    return out


async def async_api_scenario(cache: Any) -> list[Any]:
    """api_scenario through the async twins (results must equal the sync ones)."""
    out: list[Any] = []
    r = out.append

    async def outcome_async(coro: Any) -> Any:
        try:
            return ("ok", await coro)
        except Exception as exc:
            return ("raised", type(exc).__name__, str(exc))

    r(await cache.aget("a"))
    r(await cache.aget("a", "dflt"))
    r(await cache.aset("a", 1))
    value = await cache.aget("a")
    r((value, type(value).__name__))
    r(await cache.aadd("a", 2))
    r(await cache.aadd("b", True))
    r(await cache.aget("b") is True)
    r(await cache.aset("c", {"x": [1, 2]}))
    r(await cache.aget("c"))
    r(await cache.aset("d", b"raw bytes"))
    r(await cache.aget("d"))
    r(await cache.aset("fl", 1.5))
    r(await cache.aget("fl"))
    r(await outcome_async(cache.aincr("a")))
    r(await outcome_async(cache.aincr("a", 10)))
    r(await outcome_async(cache.adecr("a", 3)))
    r(await outcome_async(cache.aincr("nope")))
    r(await outcome_async(cache.adecr("nope")))
    r(await outcome_async(cache.aincr("c")))
    r(await cache.ahas_key("a"))
    r(await cache.ahas_key("a"))  # `in` has no async twin
    r(await cache.adelete("a"))
    r(await cache.adelete("a"))
    r(await cache.ahas_key("a"))
    r(await cache.atouch("b", 100))
    r(await cache.atouch("zz"))
    r(await cache.aset("e", "x", 0))
    r(await cache.aget("e"))
    r(await cache.aadd("e", "y"))
    r(await cache.aget("e"))
    r(await cache.aset("f", "x", -1))
    r(await cache.ahas_key("f"))
    r(await cache.aset("g", "forever", None))
    r(await cache.aget("g"))
    r(await cache.aset_many({"h": 1, "i": [2]}))
    r(sorted((await cache.aget_many(["h", "i", "missing"])).items()))
    r(await cache.aget_many([]))
    r(await cache.adelete_many(["h", "missing"]))
    r(await cache.aget_many(["h", "i"]))
    r(await cache.aget_or_set("j", lambda: "computed"))
    r(await cache.aget_or_set("j", "other"))
    r(await outcome_async(cache.aincr_version("g")))
    r(await cache.aget("g"))
    r(await cache.aget("g", version=2))
    r(await outcome_async(cache.aincr_version("nope")))
    r(await cache.aset("k", 5, version=3))
    r(await cache.aget("k"))
    r(await cache.aget("k", version=3))
    r(await cache.atouch("b", 0))
    r(await cache.aget("b"))
    r(await outcome_async(cache.aset("u", Unpicklable())))
    r(await outcome_async(cache.aadd("u", Unpicklable())))
    r(await cache.ahas_key("u"))
    r(await cache.aclear())
    r(await cache.aget("c"))
    r(await cache.aget_many(["i", "g"]))
    await cache.aclose()
    return out


def test_api_same_results_as_django(backend_pair: tuple[Factory, Factory]) -> None:
    theirs, ours = backend_pair
    expected = api_scenario(theirs())
    assert api_scenario(ours()) == expected


async def test_async_twins_same_results_as_sync(backend_pair: tuple[Factory, Factory]) -> None:
    theirs, ours = backend_pair
    expected = api_scenario(theirs())
    assert await async_api_scenario(ours()) == expected
    if django.VERSION >= (6, 1):
        # The scenario itself is a faithful twin. (Django 5.2's and 6.0's own aincr() is not: it
        # goes through aget/aset, so its "not found" message names the raw key, unlike incr().)
        assert await async_api_scenario(theirs()) == expected


def test_key_prefix_version_and_key_function(backend_pair: tuple[Factory, Factory]) -> None:
    theirs, ours = backend_pair

    def scenario(cache: Any) -> list[Any]:
        cache.set("x", "v")
        return [cache.make_key("x"), cache.get("x"), cache.get("x", version=1), cache.has_key("x", version=7)]

    for params in ({"KEY_PREFIX": "pre", "VERSION": 7},
                   {"KEY_FUNCTION": lambda key, prefix, version: f"custom|{prefix}|{version}|{key}"},
                   {"KEY_FUNCTION": "tests.core.test_parity.dotted_key_func"}):
        assert scenario(ours(**params)) == scenario(theirs(**params)), params


def dotted_key_func(key: str, prefix: str, version: int) -> str:
    return f"dotted-{version}-{key}"


def recorded_warnings(cache: Any) -> list[tuple[str, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.set("has space", 1)
        cache.get("x" * 260)
        cache.add("tab\there", 1)
        cache.get_many(["ok", "new\nline"])
        cache.set_many({"bad\x7f": 1})
        cache.delete_many(["ctl\x00"])
        cache.has_key("\u00e9 accented and spaced")
        outcome(lambda: cache.incr("in cr"))
        cache.touch("touch me")
        cache.delete("del me")
    # Distinct warnings in order: Django's filebased add() validates the key twice (has_key
    # then set) and so warns twice; ours warns once (listed in docs/compat.md).
    return list(dict.fromkeys((w.category.__name__, str(w.message)) for w in caught))


def test_key_warnings_are_djangos(backend_pair: tuple[Factory, Factory]) -> None:
    theirs, ours = backend_pair
    expected = recorded_warnings(theirs())
    assert len(expected) >= 10 and {category for category, _ in expected} == {"CacheKeyWarning"}
    assert recorded_warnings(ours()) == expected


def test_custom_validate_key_is_honoured(backend_pair: tuple[Factory, Factory]) -> None:
    _, ours = backend_pair
    cache = ours()

    class Liberal(type(cache)):  # type: ignore[misc]
        def validate_key(self, key: str) -> None:
            pass

    cache.__class__ = Liberal
    cache._init_fast_keys()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.set("spaces are fine here" * 20, 1)


@pytest.mark.parametrize("cull_frequency", [0, 1, 2, 3, 5])
def test_locmem_lru_and_culling_match_django(cull_frequency: int) -> None:
    from django.core.cache.backends.locmem import LocMemCache as Theirs

    from django_altcache.backends.locmem import LocMemCache as Ours

    def run(cls: type) -> tuple[list[Any], list[str]]:
        cache = cls(f"lru-{cls.__module__}-{cull_frequency}",
                    {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 9, "CULL_FREQUENCY": cull_frequency}})
        cache.clear()
        rng = random.Random(cull_frequency)
        results: list[Any] = []
        for _ in range(600):
            key, op = rng.randrange(16), rng.choice("sgaitdhmMv")
            if op == "s":
                results.append(cache.set(key, [key]))
            elif op == "g":
                results.append(cache.get(key))
            elif op == "a":
                results.append(cache.add(key, key))
            elif op == "i":
                results.append(outcome(lambda: cache.incr(key)))
            elif op == "t":
                results.append(cache.touch(key, None))
            elif op == "d":
                results.append(cache.delete(key))
            elif op == "h":
                results.append(cache.has_key(key))
            elif op == "v":
                results.append(outcome(lambda: cache.incr_version(key, version=rng.choice([1, 2]))))
            elif op == "m":
                results.append(sorted(cache.get_many([key, key + 1, key + 2]).items()))
            else:
                results.append(cache.set_many({key: "m", key + 1: "n"}))
        return results, list(cache._cache)

    assert run(Ours) == run(Theirs)


@pytest.mark.parametrize("options, expected", [({"MAX_ENTRIES": 30}, 29), ({"MAX_ENTRIES": 30, "CULL_FREQUENCY": 0}, 19)])
def test_filebased_cull_counts_match_django(make_dir: Callable[[], str], options: dict[str, int], expected: int) -> None:
    from django.core.cache.backends.filebased import FileBasedCache as Theirs

    from django_altcache.backends.filebased import FileBasedCache as Ours

    counts = []
    for cls in (Theirs, Ours):
        cache = cls(make_dir(), {"OPTIONS": options})
        for i in range(1, 50):
            cache.set(f"cull{i}", "value", 1000)
        counts.append(sum(cache.has_key(f"cull{i}") for i in range(1, 50)))
    assert counts == [expected, expected]


def test_locmem_values_are_isolated_from_callers() -> None:
    from django_altcache.backends.locmem import LocMemCache

    cache = LocMemCache("isolation", {})
    value = {"list": [1]}
    cache.set("k", value)
    value["list"].append(2)
    got = cache.get("k")
    assert got == {"list": [1]}
    got["list"].append(3)
    assert cache.get("k") == {"list": [1]}
    assert cache.get_many(["k"]) == {"k": {"list": [1]}}
    cache.set("t", True)
    cache.set("i", 1)
    assert cache.get("t") is True and type(cache.get("i")) is int
    markup = Markup("<b>")
    markup.note = "mutable attribute"
    cache.set("sub", markup)  # a str subclass is pickled like any object, not kept by reference
    markup.note = "changed"
    assert type(cache.get("sub")) is Markup and cache.get("sub").note == "mutable attribute"


class Markup(str):
    note = ""


@pytest.mark.parametrize("kind", ["locmem", "filebased"])
async def test_incr_version_keeps_the_expiry(kind: str, make_dir: Callable[[], str]) -> None:
    import time

    from .conftest import BACKENDS

    ours = BACKENDS[kind][1]
    cache = ours(make_dir() if kind == "filebased" else f"incr-version-{make_dir()}", {"TIMEOUT": 5})
    cache.set("k", "v", 1000)
    before = time.time()
    assert cache.incr_version("k") == 2
    assert await cache.aincr_version("k", 3, version=2) == 5
    assert cache.get("k", version=5) == "v" and cache.get("k", version=2) is None
    # Django's gives the moved entry the default TIMEOUT (5 s); ours keeps the 1000 s.
    assert cache.touch("k", 0, version=5) is True  # still live, and now expired by touch
    cache.set("k2", "w", 1000)
    cache.incr_version("k2")
    if type(cache).__name__ == "LocMemCache":
        expiry = cache._expire_info[cache.make_key("k2", version=2)]
    else:
        with open(cache._key_to_file("k2", version=2), "rb") as fh:
            expiry = pickle.load(fh)
    assert expiry > before + 900
