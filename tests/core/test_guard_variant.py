"""The guarded variant of a class (``_shared/guard.py``) honours patches of the class, sync and
async, including where an inline async twin is run as its sync method."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

from django_altcache.backends.locmem import LocMemCache


def metered(name: str) -> Any:
    cache = LocMemCache(name, {"OPTIONS": {"METRICS": True}})
    assert type(cache) is not LocMemCache  # the guarded variant
    return cache


def counts(cache: Any) -> dict[tuple[str, str], int]:
    recorder = cache._guard.recorder
    return {(s.op, s.api): s.calls for s in recorder.snapshot().used()}


def test_inline_twins_run_the_patched_sync_method() -> None:
    cache = metered("guard-variant-sync-patch")
    cache.set("k", "real")
    with mock.patch.object(LocMemCache, "get", autospec=True, return_value="patched") as patched:
        assert asyncio.run(cache.aget("k")) == "patched"
        assert cache.get("k") == "patched"
    assert patched.call_count == 2
    assert asyncio.run(cache.aget("k")) == "real"  # unpatched again
    assert counts(cache)[("get", "async")] == 2 and counts(cache)[("get", "sync")] == 1


def test_a_patched_async_method_is_awaited() -> None:
    cache = metered("guard-variant-async-patch")

    async def fake(self: Any, key: Any, default: Any = None, version: Any = None) -> str:
        return f"async {key}"

    with mock.patch.object(LocMemCache, "aget", fake):
        assert asyncio.run(cache.aget("k")) == "async k"
    with mock.patch.object(LocMemCache, "aget", mock.AsyncMock(return_value="mocked")):
        assert asyncio.run(cache.aget("k")) == "mocked"
    assert counts(cache)[("get", "async")] == 2


def test_an_inline_twins_error_is_counted_as_async() -> None:
    cache = metered("guard-variant-errors")
    try:
        asyncio.run(cache.aincr("missing"))
    except ValueError:
        pass
    snapshot = {(s.op, s.api): s for s in cache._guard.recorder.snapshot().used()}
    assert snapshot[("incr", "async")].errors == 1 and ("incr", "sync") not in snapshot
