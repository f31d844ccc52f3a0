"""The demo under Django's ASGI handler: the async view awaits the cache natively."""

from __future__ import annotations

from types import ModuleType

from django.core.cache import caches
from django.test import AsyncClient


async def test_async_view_awaits_the_cache(site: ModuleType) -> None:
    client = AsyncClient()
    first = (await client.get("/async/")).json()
    second = (await client.get("/async/")).json()
    assert (first["hits"], second["hits"]) == (1, 2)
    assert first["previous_visit"] is None
    assert second["previous_visit"] == first["this_visit"]
    assert second["backend"] == "RedisCache"
    assert await caches["default"].aget("async-hits") == 2


async def test_cache_middleware_works_under_asgi(site: ModuleType) -> None:
    client = AsyncClient()
    first, second = await client.get("/cached/site/"), await client.get("/cached/site/")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert await caches[site.COUNTER_CACHE_ALIAS].aget("renders:site-cached") == 1
