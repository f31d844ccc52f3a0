from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("caches/", views.caches_page, name="caches"),
    path("caches.json", views.caches_json, name="caches-json"),
    path("session/", views.session_demo, name="session"),
    path("cached/site/", views.site_cached, name="site-cached"),
    path("cached/view/", views.view_cached, name="view-cached"),
    path("async/", views.async_hits, name="async-hits"),
]
