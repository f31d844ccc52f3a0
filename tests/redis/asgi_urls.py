"""Views for test_asgi: an async view using the cache natively, and a counted page."""

from __future__ import annotations

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.urls import path

HITS = {"page": 0}


async def native(request: HttpRequest) -> HttpResponse:
    cache = caches["default"]
    value = await cache.aincr("visits") if await cache.ahas_key("visits") else None
    if value is None:
        await cache.aset("visits", 1)
        value = 1
    return HttpResponse(str(value))


async def page(request: HttpRequest) -> HttpResponse:
    HITS["page"] += 1
    return HttpResponse(f"rendered {HITS['page']}")


urlpatterns = [path("native/", native), path("page/", page)]
