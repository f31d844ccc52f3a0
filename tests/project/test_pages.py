"""The demo's pages on the real servers: counters, page caches, fragments, sessions."""

from __future__ import annotations

import re
from types import ModuleType

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.test import Client, RequestFactory
from django.utils.cache import get_cache_key


def number(response, element_id: str) -> int:
    found = re.search(rf'id="{element_id}">(\d+)<', response.content.decode())
    assert found, f"no #{element_id} in {response.content[:500]!r}"
    return int(found.group(1))


def renders(site: ModuleType, name: str) -> int | None:
    return caches[site.COUNTER_CACHE_ALIAS].get(f"renders:{name}")


def stored_page_key(path: str, key_prefix: str, alias: str) -> str | None:
    """The key under which Django's cache middleware stored a GET of ``path`` in ``alias``."""
    return get_cache_key(RequestFactory().get(path), key_prefix=key_prefix, method="GET", cache=caches[alias])


def test_page_counter_counts_with_incr(site: ModuleType) -> None:
    client = Client()
    assert [number(client.get("/"), "hits") for _ in range(3)] == [1, 2, 3]
    assert caches["default"].get("hits") == 3


def test_fragment_is_rendered_once_and_stored_in_its_cache(site: ModuleType) -> None:
    client = Client()
    first, second = client.get("/"), client.get("/")
    fragment = re.compile(rb"<aside>.*?</aside>", re.S)
    assert fragment.search(first.content).group(0) == fragment.search(second.content).group(0)
    assert renders(site, "fragment") == 1
    assert caches[site.FRAGMENT_CACHE_ALIAS].get(make_template_fragment_key("facts")) is not None


def test_site_cache_middleware_serves_the_second_request(site: ModuleType) -> None:
    client = Client()
    first, second = client.get("/cached/site/"), client.get("/cached/site/")
    assert first.status_code == second.status_code == 200
    assert renders(site, "site-cached") == 1  # the view did not run for the second request
    assert first.content == second.content
    assert "max-age=60" in first["Cache-Control"]
    key = stored_page_key("/cached/site/", site.CACHE_MIDDLEWARE_KEY_PREFIX, site.CACHE_MIDDLEWARE_ALIAS)
    assert key is not None and caches[site.CACHE_MIDDLEWARE_ALIAS].get(key) is not None


def test_cache_page_serves_from_its_own_cache(site: ModuleType) -> None:
    client = Client()
    first, second = client.get("/cached/view/"), client.get("/cached/view/")
    assert first.status_code == second.status_code == 200
    assert number(first, "renders") == number(second, "renders") == 1
    assert renders(site, "view-cached") == 1
    assert stored_page_key("/cached/view/", "view", site.PAGE_CACHE_ALIAS) is not None
    # private keeps the site-wide middleware from storing a second copy in its own cache.
    assert stored_page_key("/cached/view/", site.CACHE_MIDDLEWARE_KEY_PREFIX, site.CACHE_MIDDLEWARE_ALIAS) is None


def test_dynamic_pages_are_never_cached(site: ModuleType) -> None:
    response = Client().get("/")
    assert "no-store" in response["Cache-Control"]
    assert stored_page_key("/", site.CACHE_MIDDLEWARE_KEY_PREFIX, site.CACHE_MIDDLEWARE_ALIAS) is None


def test_session_lives_in_our_cache_across_requests(site_db: ModuleType) -> None:
    client = Client()
    assert [number(client.get("/session/"), "visits") for _ in range(3)] == [1, 2, 3]
    session_key = client.cookies["sessionid"].value
    session_cache, cache_key = caches[site_db.SESSION_CACHE_ALIAS], SessionStore.cache_key_prefix + session_key
    cached = session_cache.get(cache_key)
    assert cached is not None and cached["visits"] == 3
    assert Session.objects.get(session_key=session_key).get_decoded()["visits"] == 3  # written through
    # cached_db reads the cache before the database: a change made in the cache is what the view sees.
    session_cache.set(cache_key, {**cached, "visits": 41})
    response = client.get("/session/")
    assert number(response, "visits") == 42
    assert "your session is in the cache" in response.content.decode()


def test_forgetting_the_session_removes_it_from_the_cache(site_db: ModuleType) -> None:
    client = Client()
    client.get("/session/")
    client.get("/session/")
    old_key = client.cookies["sessionid"].value
    assert client.post("/session/").status_code == 302
    assert caches[site_db.SESSION_CACHE_ALIAS].get(SessionStore.cache_key_prefix + old_key) is None
    assert number(client.get("/session/"), "visits") == 1


def test_caches_page_round_trips_every_alias(site_db: ModuleType) -> None:
    client = Client()
    client.get("/")  # puts the hit counter in "default", for the "holds" column
    probes = {p["alias"]: p for p in client.get("/caches.json").json()["caches"]}
    assert set(probes) == {"default", "db", "files", "locmem", "pymemcache", "pylibmc"}
    for alias, p in probes.items():
        assert p["ok"], (alias, p["error"], [s for s in p["steps"] if not s["ok"]])
        assert p["backend"].startswith("django_altcache.backends.")
        assert p["loaded"].startswith("django_altcache.backends."), p["loaded"]
    assert probes["default"]["holds"] == {"hits": 1}
    html = client.get("/caches/").content.decode()
    assert html.count("FAILED") == 0 and html.count(">OK<") == len(probes)


@pytest.mark.parametrize("alias", ["default", "pymemcache", "pylibmc", "files", "locmem"])
def test_project_backends_are_ours(site: ModuleType, alias: str) -> None:
    assert type(caches[alias]).__module__.startswith("django_altcache.backends.")
