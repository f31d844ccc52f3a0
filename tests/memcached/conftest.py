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


@pytest.fixture
def unix_memcached() -> Iterator[str]:
    """memcached on a unix socket only (``-s`` disables TCP); yields the socket path."""
    import os
    import shutil
    import socket as socket_module

    from tests._servers import ServerUnavailable
    from tests._servers.base import ServerProcess, make_tempdir, require_binary, wait_until
    from tests.conftest import missing_server

    try:
        binary = require_binary("memcached")
    except ServerUnavailable as exc:
        missing_server(str(exc))
    directory = make_tempdir("memcached-unix")
    # memcached drops to user nobody before creating the socket.
    os.chmod(directory, 0o777)
    path = str(directory / "memcached.sock")
    process = ServerProcess([binary, "-s", path, "-a", "0777", "-m", "16", "-u", "nobody"], name="memcached",
                            log_path=directory / "memcached.log", cwd=directory)

    def answers() -> bool:
        with socket_module.socket(socket_module.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(path)
            sock.sendall(b"version\r\n")
            return b"VERSION" in sock.recv(100)

    process.start()
    try:
        wait_until(answers, timeout=20, what="memcached on a unix socket", proc=process)
        yield path
    finally:
        process.stop()
        shutil.rmtree(directory, ignore_errors=True)
