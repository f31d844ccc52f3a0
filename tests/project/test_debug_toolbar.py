"""django-debug-toolbar's cache panel (the real package) on every backend of the demo site.

The panel wraps the cache instance's methods (``setattr`` on the instance) while a
request runs; our backends must keep answering correctly under that wrapping, and the
panel must see each call the view makes once, with the right hits and misses.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

pytest.importorskip("debug_toolbar")

ALIASES = ("default", "db", "files", "locmem", "pymemcache", "pylibmc")


def calls_of(panel: Any) -> list[str]:
    return [call["name"] for call in panel.get_stats()["calls"]]


@pytest.mark.parametrize("alias", ALIASES)
def test_the_cache_panel_records_our_backends(site_db: ModuleType, alias: str) -> None:
    assert alias in settings.CACHES, f"the demo site has no {alias!r} cache here"
    cache = caches[alias]
    assert type(cache).__module__.startswith("django_altcache.")
    request = RequestFactory().get("/")
    # STATIC_URL first: the toolbar's app looks at static files storage when it is installed.
    with override_settings(DEBUG=True, STATIC_URL="/static/"), \
            override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "debug_toolbar"]):
        # Imported here: the toolbar's models need its app installed.
        from debug_toolbar.toolbar import DebugToolbar

        toolbar = DebugToolbar(request, lambda r: HttpResponse())
        panel = toolbar.get_panel_by_id("CachePanel")
        panel.enable_instrumentation()
        try:
            cache.set("a", 1)
            assert cache.get("a") == 1  # hit
            assert cache.get("missing", "fallback") == "fallback"  # miss
            assert cache.get_many(["a", "missing"]) == {"a": 1}  # 1 hit, 1 miss
            assert cache.add("a", 2) is False
            assert cache.incr("a", 5) == 6
            assert cache.get_or_set("b", 7) == 7  # one call for the panel, not get + add + get
            assert cache.has_key("b") is True
            assert cache.delete("b") is True
            cache.set_many({"c": 3})
            cache.delete_many(["a", "c"])
        finally:
            panel.disable_instrumentation()
        response = HttpResponse()
        panel.generate_stats(request, response)
        stats = panel.get_stats()
        assert calls_of(panel) == ["set", "get", "get", "get_many", "add", "incr", "get_or_set", "has_key",
                                   "delete", "set_many", "delete_many"]
        # The panel's own rules, as for Django's backends: get and get_many per key, and
        # get_or_set a hit whenever it returns a value (it cannot tell a computed default).
        assert (stats["hits"], stats["misses"]) == (1 + 1 + 1, 1 + 1)
        assert all(call["backend"] == f"{alias} ({type(cache).__name__})" for call in stats["calls"])
        html = panel.content  # the panel's template renders our calls
        assert "get_or_set" in html and alias in html
    # After the request the instance works unwrapped-by-the-panel again.
    cache.set("after", "ok")
    assert cache.get("after") == "ok"
