"""Fixtures: both backends against real memcached servers.

``cache_for(location, **options)`` builds our backend directly (as Django's
CacheHandler does, ``Backend(location, params)``), so tests can use servers they
own, kill and restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_altcache.backends.memcached import PyLibMCCache, PyMemcacheCache
from tests._servers.memcached import MemcachedServer, memcached_server
from tests.conftest import dedicated

BACKENDS = {"pymemcache": PyMemcacheCache, "pylibmc": PyLibMCCache}
DJANGO_BACKENDS = {
    "pymemcache": "django.core.cache.backends.memcached.PyMemcacheCache",
    "pylibmc": "django.core.cache.backends.memcached.PyLibMCCache",
}
CacheFactory = Callable[..., Any]


@pytest.fixture(params=sorted(BACKENDS))
def library(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def cache_for(library: str) -> CacheFactory:
    def build(location: Any, **params: Any) -> Any:
        return BACKENDS[library](location, params)

    return build


@pytest.fixture
def cache(cache_for: CacheFactory, memcached_location: str) -> Iterator[Any]:
    backend = cache_for(memcached_location, KEY_PREFIX="altcache-tests")
    backend.clear()
    yield backend
    backend.clear()


@pytest.fixture
def django_cache(library: str, memcached_location: str) -> Any:
    from django.utils.module_loading import import_string

    return import_string(DJANGO_BACKENDS[library])(memcached_location, {"KEY_PREFIX": "altcache-tests"})


@pytest.fixture
def own_memcached() -> Iterator[MemcachedServer]:
    yield from dedicated(memcached_server)


@pytest.fixture
def three_memcached() -> Iterator[list[MemcachedServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(contextlib.contextmanager(dedicated)(memcached_server)) for _ in range(3)]
