"""The demo's pages; each one shows off one way Django uses a cache."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_control, cache_page, never_cache
from django.views.decorators.http import require_http_methods

from .probes import probe_all

# Counters the views keep; the caches page shows which cache holds them.
DEMO_KEYS = ("hits", "async-hits", "async-last", "renders:site-cached", "renders:view-cached",
             "renders:fragment")


def count_render(name: str) -> int:
    """How many times a view (or fragment) really ran, as opposed to being served from a cache."""
    counters = caches[settings.COUNTER_CACHE_ALIAS]
    counters.add(f"renders:{name}", 0, timeout=None)
    return counters.incr(f"renders:{name}")


def _fragment_facts() -> list[str]:
    # Called by the template only when the {% cache %} fragment is not in the cache.
    renders = count_render("fragment")
    return [
        f"This box was rendered {renders} time(s) and is cached for 60 s in "
        f"'{settings.FRAGMENT_CACHE_ALIAS}' by the {{% cache %}} template tag.",
        f"Rendered at {timezone.now():%H:%M:%S.%f}.",
    ]


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    cache.add("hits", 0, timeout=None)
    try:
        hits: int | str = cache.incr("hits")  # atomic on every backend: no lost hits under concurrent requests
    except ValueError:  # a missing key, or with IGNORE_EXCEPTIONS, the cache is unavailable
        hits = "(cache unavailable)"
    return render(request, "demoapp/home.html", {
        "hits": hits,
        "facts": _fragment_facts,
        "fragment_cache": settings.FRAGMENT_CACHE_ALIAS,
    })


@never_cache
def caches_page(request: HttpRequest) -> HttpResponse:
    return render(request, "demoapp/caches.html", {"probes": probe_all(DEMO_KEYS)})


@never_cache
def caches_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"caches": [p.as_dict() for p in probe_all(DEMO_KEYS)]})


@never_cache
@require_http_methods(["GET", "POST"])
def session_demo(request: HttpRequest) -> HttpResponse:
    session = request.session
    if request.method == "POST":
        session.flush()
        return redirect("session")
    visits = session.get("visits", 0) + 1
    session["visits"] = visits
    session.setdefault("first_seen", timezone.now().isoformat(timespec="seconds"))
    # The cached_db engine keeps a copy under session.cache_key in SESSION_CACHE_ALIAS;
    # it is written when the response goes out, so it shows up from the second visit on.
    in_cache = bool(session.session_key) and caches[settings.SESSION_CACHE_ALIAS].has_key(session.cache_key)
    return render(request, "demoapp/session.html", {
        "visits": visits,
        "first_seen": session["first_seen"],
        "session_key": session.session_key,
        "in_cache": in_cache,
        "engine": settings.SESSION_ENGINE,
        "alias": settings.SESSION_CACHE_ALIAS,
    })


def site_cached(request: HttpRequest) -> HttpResponse:
    # No decorator: the site-wide UpdateCacheMiddleware/FetchFromCacheMiddleware cache this page.
    return render(request, "demoapp/cached.html", {
        "title": "Cached by the site-wide cache middleware",
        "how": f"UpdateCacheMiddleware + FetchFromCacheMiddleware, {settings.CACHE_MIDDLEWARE_SECONDS} s "
               f"in '{settings.CACHE_MIDDLEWARE_ALIAS}'",
        "renders": count_render("site-cached"),
        "rendered_at": timezone.now(),
    })


# private keeps the site-wide middleware from storing this page as well, so only
# @cache_page's own cache serves it.
@cache_control(private=True)
@cache_page(60, cache=settings.PAGE_CACHE_ALIAS, key_prefix="view")
def view_cached(request: HttpRequest) -> HttpResponse:
    time.sleep(0.25)  # pretend to be an expensive page, so the cache's effect is visible
    return render(request, "demoapp/cached.html", {
        "title": "Cached by @cache_page",
        "how": f"@cache_page(60, cache='{settings.PAGE_CACHE_ALIAS}'); the view sleeps 250 ms",
        "renders": count_render("view-cached"),
        "rendered_at": timezone.now(),
    })


@never_cache
async def async_hits(request: HttpRequest) -> JsonResponse:
    # Awaits the cache directly: under ASGI no thread is tied up while the cache answers.
    cache = caches["default"]
    await cache.aadd("async-hits", 0, timeout=None)
    hits = await cache.aincr("async-hits")
    previous = await cache.aget("async-last")
    now = timezone.now().isoformat()
    await cache.aset("async-last", now, timeout=300)
    return JsonResponse({"hits": hits, "previous_visit": previous, "this_visit": now,
                         "backend": type(cache).__name__})


# -- the load generator's page (./dev demo --load) ---------------------------------------------
WORK_KEYS = 400  # distinct keys per cache; a skewed pick makes a realistic hit rate


@never_cache
def work(request: HttpRequest) -> JsonResponse:
    """A read-through workload on every cache: look a few keys up, compute and store the
    misses for 20 s, now and then a get_many. What ``--load`` requests in a loop."""
    import random

    lookups = min(int(request.GET.get("n", 5)), 50)
    done: dict[str, dict[str, int]] = {}
    for alias in settings.CACHES:
        store = caches[alias]
        hits = misses = 0
        for _ in range(lookups):
            key = f"work:{int(WORK_KEYS * random.random() ** 2)}"  # low keys are hot
            if store.get(key) is None:
                misses += 1
                store.set(key, {"key": key, "computed_at": time.time()}, timeout=20)
            else:
                hits += 1
        if random.random() < 0.2:
            store.get_many([f"work:{i}" for i in range(10)])
        done[alias] = {"hits": hits, "misses": misses}
    return JsonResponse(done)
