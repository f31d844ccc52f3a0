"""``/dashboard/``: each cache's hit rate, calls/s, latency and errors, live.

The page polls ``/dashboard.json`` once a second; the JSON is the recorders' snapshots
(django_altcache.metrics), cumulative since the process started, and the browser turns
two consecutive snapshots into rates and windowed quantiles. Every asset is served by
the project (``/assets/demoapp/...``): no CDN.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from django_altcache.metrics import snapshots

from . import events

WINDOW = 120  # seconds of history the charts show (dashboard.js keeps the same)


@never_cache
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "demoapp/dashboard.html", {"aliases": list(settings.CACHES), "window": WINDOW})


@never_cache
def dashboard_json(request: HttpRequest) -> JsonResponse:
    found = {snap.alias: snap for snap in snapshots()}
    caches = []
    for alias, params in settings.CACHES.items():
        snap = found.get(alias)
        caches.append({
            "alias": alias,
            "backend_path": str(params.get("BACKEND", "")),
            "metrics": snap.to_dict() if snap is not None else None,
        })
    return JsonResponse({"now": time.time(), "caches": caches, "events": events.recent()})


@never_cache
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (django_altcache.metrics.prometheus.metrics_view)."""
    from django_altcache.metrics.prometheus import metrics_view

    return metrics_view(request)  # type: ignore[no-any-return]
