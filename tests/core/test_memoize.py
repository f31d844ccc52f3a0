"""``django_altcache.memoize``: keys, helpers, sync and async functions, single flight on any cache."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.test.utils import override_settings

import django_altcache
from django_altcache.stampede.argkey import UnstableArgument, call_digest
from django_altcache.stampede.keys import META

ROOT = Path(__file__).resolve().parents[2]

CACHES = {
    "default": {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": "memo-default"},
    # Django's own backend, without STAMPEDE: memoize is still single-flight.
    "django": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "memo-django"},
    "early": {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": "memo-early",
              "OPTIONS": {"STAMPEDE": {"early_refresh": True, "lock_timeout": 3}}},
}


@pytest.fixture(autouse=True)
def memo_caches() -> Iterator[None]:
    with override_settings(CACHES=CACHES):
        for alias in CACHES:
            caches[alias].clear()
        yield


class Colour(enum.Enum):
    RED = "red"


def test_key_is_stable_and_bound_to_the_signature() -> None:
    @django_altcache.memoize(timeout=60)
    def price(product: int, currency: str = "EUR", *, rounded: bool = True) -> str:
        return f"{product}{currency}"

    key = price.key_for(3)
    assert key.startswith(f"memoize:{__name__}.test_key_is_stable_and_bound_to_the_signature.<locals>.price:")
    assert len(key.rsplit(":", 1)[1]) == 32
    assert price.key_for(3) == price.key_for(product=3) == price.key_for(3, "EUR") == price.key_for(3, rounded=True)
    assert len({price.key_for(3), price.key_for(4), price.key_for(3, "USD"), price.key_for("3"),
                price.key_for(3.0), price.key_for(True), price.key_for(3, rounded=False)}) == 7


def test_digest_is_the_same_in_another_process() -> None:
    values = (None, True, 1, 1.5, "é", b"\x00", (1, [2]), {"b": 1, "a": {2, 1}}, frozenset({"x"}),
              decimal.Decimal("1.10"), datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2),
              datetime.timedelta(seconds=5), uuid.UUID(int=7), Colour.RED, 2 + 3j)
    here = call_digest(None, values, {"k": "v"}, "test")
    code = ("import datetime\nfrom decimal import Decimal\nfrom uuid import UUID\n"
            "from django_altcache.stampede.argkey import call_digest\n"
            "from tests.core.test_memoize import Colour\n"
            f"print(call_digest(None, {values!r}, {{'k': 'v'}}, 'test'))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    there = subprocess.run([sys.executable, "-c", code.replace("<Colour.RED: 'red'>", "Colour.RED")],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert there.returncode == 0, there.stderr
    assert there.stdout.strip() == here


def test_model_instance_key() -> None:
    from django.contrib.auth.models import User

    @django_altcache.memoize(timeout=60)
    def profile(user: Any) -> str:
        return "x"

    assert profile.key_for(User(pk=1)) == profile.key_for(User(pk=1)) != profile.key_for(User(pk=2))


def test_unstable_argument_names_it() -> None:
    @django_altcache.memoize(timeout=60)
    def describe(thing: Any) -> str:
        return "x"

    with pytest.raises(UnstableArgument, match=r"argument 'thing' of type object has no stable cache key; pass"):
        describe(object())


def test_key_overrides() -> None:
    @django_altcache.memoize(timeout=60, key="catalogue.price")
    def renamed(product: int) -> int:
        return product

    @django_altcache.memoize(timeout=60, key=lambda product: f"price:{product}")
    def explicit(product: int) -> int:
        return product * 2

    assert renamed.key_for(1).startswith("memoize:catalogue.price:")
    assert explicit(4) == 8 and explicit.key_for(4) == "price:4"
    assert caches["default"].get("price:4") == 8
    with pytest.raises(TypeError, match="key=...."):
        django_altcache.memoize(key=3)(lambda: 1)


def test_caches_invalidates_and_refreshes() -> None:
    calls: list[int] = []

    @django_altcache.memoize(timeout=60)
    def square(n: int) -> int:
        calls.append(n)
        return n * n + len(calls) * 1000

    assert square(3) == 1009 and square(3) == 1009 and calls == [3]
    square.invalidate(3)
    assert square(3) == 2009
    assert square.refresh(3) == 3009 and square(3) == 3009
    assert calls == [3, 3, 3]


def test_bare_decorator_and_none_results() -> None:
    calls = []

    @django_altcache.memoize
    def nothing() -> None:
        calls.append(1)

    assert nothing() is None and nothing() is None and calls == [1]


async def test_async_function() -> None:
    calls: list[int] = []

    @django_altcache.memoize(timeout=60)
    async def fetch(n: int) -> int:
        calls.append(n)
        await asyncio.sleep(0.05)
        return n + len(calls) * 100

    assert asyncio.iscoroutinefunction(fetch)
    results = await asyncio.gather(*(fetch(1) for _ in range(50)))
    assert set(results) == {101} and calls == [1]
    await fetch.ainvalidate(1)
    assert await fetch(1) == 201
    assert await fetch.arefresh(1) == 301 and await fetch(1) == 301
    fetch.invalidate(1)  # the sync helper works for async functions too
    assert await fetch(1) == 401


@pytest.mark.parametrize("alias", ["default", "django"])
def test_single_flight_with_or_without_stampede_option(alias: str) -> None:
    calls: list[int] = []

    @django_altcache.memoize(timeout=60, cache=alias)
    def slow(n: int) -> int:
        calls.append(n)
        time.sleep(0.2)
        return n

    go = threading.Event()
    results: list[int] = []

    def caller() -> None:
        go.wait(10)
        results.append(slow(7))

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(10)
    assert results == [7] * 20 and calls == [7]


def test_uses_the_caches_own_settings() -> None:
    @django_altcache.memoize(timeout=60, cache="early")
    def hot() -> str:
        return "v"

    assert hot() == "v"
    assert caches["early"].get(f"{META}{hot.key_for()}") is not None  # early refresh metadata kept


def test_memoize_stampede_argument() -> None:
    @django_altcache.memoize(timeout=60, stampede={"early_refresh": True})
    def hot() -> str:
        return "v"

    assert hot() == "v" and caches["default"].get(f"{META}{hot.key_for()}") is not None
    with pytest.raises(ValueError, match=r"memoize\(stampede=\.\.\.\): unknown key"):
        django_altcache.memoize(stampede={"nope": 1})(hot)
    with pytest.raises(ValueError, match="always single-flight"):
        django_altcache.memoize(stampede=False)(hot)


def test_import_needs_no_settings() -> None:
    code = ("import sys, django_altcache\n"
            "assert 'django.core.cache' not in sys.modules and 'django.conf' not in sys.modules, sorted(sys.modules)\n"
            "from django_altcache import memoize\n"
            "@memoize(timeout=5)\n"
            "def f(x): return x\n"
            "print(f.key_for(1))\n")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("memoize:__main__.f:")
