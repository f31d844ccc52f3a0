from pathlib import Path

from django.urls import path
from django.views.static import serve

from . import dashboard, views

urlpatterns = [
    path("", views.home, name="home"),
    path("caches/", views.caches_page, name="caches"),
    path("caches.json", views.caches_json, name="caches-json"),
    path("session/", views.session_demo, name="session"),
    path("cached/site/", views.site_cached, name="site-cached"),
    path("cached/view/", views.view_cached, name="view-cached"),
    path("async/", views.async_hits, name="async-hits"),
    path("work/", views.work, name="work"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard.json", dashboard.dashboard_json, name="dashboard-json"),
    path("metrics", dashboard.prometheus_metrics, name="metrics"),
    # The dashboard's script and styles, from the app itself (no staticfiles app, no CDN).
    path("assets/<path:path>", serve, {"document_root": Path(__file__).resolve().parent / "static"}),
]
