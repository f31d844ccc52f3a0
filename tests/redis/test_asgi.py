"""Under Django's ASGI handler: native async use in views, and the cache middleware."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from django.test import AsyncClient, override_settings

from django_altcache.backends.redis import pools
from tests.redis import asgi_urls


@pytest.fixture
def asgi_site(redis_url: str, prefix: str) -> Any:
    caches = {"default": {"BACKEND": "django_altcache.backends.redis.RedisCache",
                          "LOCATION": redis_url, "KEY_PREFIX": prefix}}
    middleware = ["django.middleware.cache.UpdateCacheMiddleware",
                  "django.middleware.cache.FetchFromCacheMiddleware"]
    with override_settings(CACHES=caches, ROOT_URLCONF="tests.redis.asgi_urls", MIDDLEWARE=middleware,
                           CACHE_MIDDLEWARE_SECONDS=30, CACHE_MIDDLEWARE_KEY_PREFIX=prefix):
        yield


def test_async_views_and_cache_middleware(asgi_site: Any) -> None:
    async def main() -> list[bytes]:
        client = AsyncClient()
        bodies = [(await client.post("/native/")).content for _ in range(3)]  # POST: never cached
        bodies += [(await client.get("/page/")).content for _ in range(3)]
        return bodies

    asgi_urls.HITS["page"] = 0
    native, pages = (lambda b: (b[:3], b[3:]))(asyncio.run(main()))
    assert native == [b"1", b"2", b"3"]
    assert pages == [b"rendered 1"] * 3  # the 2nd and 3rd came from the cache
    assert asgi_urls.HITS["page"] == 1


def test_pools_of_closed_loops_are_released(cache_for: Any, redis_url: str) -> None:
    cache = cache_for(redis_url)
    for _ in range(5):
        asyncio.run(cache.aset("k", 1))
    asyncio.run(cache.aget("k"))  # a new loop sweeps the closed ones
    gc.collect()
    closed = [loop for loop in pools.ASYNC._by_loop if loop.is_closed()]
    assert len(closed) <= 1  # only the last loop, until the next one registers


def test_one_instance_shared_by_threads_running_their_own_loops(cache_for: Any, redis_url: str) -> None:
    import threading

    cache = cache_for(redis_url)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def main() -> None:
            for i in range(200):
                await cache.aset(f"t{n}", i)
                assert await cache.aget(f"t{n}") == i
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [cache.get(f"t{n}") for n in range(4)] == [199] * 4
