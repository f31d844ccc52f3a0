"""An IPv6 LOCATION (``[::1]:port``) against a real memcached listening on ::1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils.module_loading import import_string

from tests._servers.memcached import MemcachedServer, memcached_server
from tests.conftest import dedicated

from .conftest import DJANGO_BACKENDS


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def memcached_on_ipv6() -> Iterator[MemcachedServer]:
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    # Listens on 127.0.0.1 (readiness check) and on [::1], same port.
    yield from dedicated(memcached_server, ["-l", "[::1]"])


def _libmemcached_version() -> tuple[int, ...]:
    try:
        import pylibmc
    except ImportError:
        return ()
    return tuple(int(part) for part in pylibmc.libmemcached_version.split(".")[:2])


@pytest.mark.parametrize("library", [
    "pymemcache",
    # libmemcached 1.0.x (pylibmc's binary wheel for Python 3.11 bundles 1.0.16) fails
    # getaddrinfo for "::1": Django's PyLibMCCache raises HostLookupError, and so does ours.
    # 1.1 (Debian 12's, which a source build links) resolves it.
    pytest.param("pylibmc", marks=pytest.mark.xfail(
        _libmemcached_version() < (1, 1), strict=True, reason="libmemcached < 1.1: no IPv6 literal hosts")),
])
def test_bracketed_ipv6_location(cache_for: Any, library: str, memcached_on_ipv6: MemcachedServer) -> None:
    location = f"[::1]:{memcached_on_ipv6.port}"
    cache = cache_for(location, KEY_PREFIX="v6")
    cache.set("k", {"over": "ipv6"})
    assert cache.get("k") == {"over": "ipv6"}
    cache.set("n", 1)
    assert cache.incr("n") == 2
    theirs = import_string(DJANGO_BACKENDS[library])(location, {"KEY_PREFIX": "v6"})
    assert theirs.get("k") == {"over": "ipv6"}  # same server, same bytes, through Django's backend
    v4_only = cache_for(memcached_on_ipv6.location, KEY_PREFIX="v6")
    assert v4_only.get("k") == {"over": "ipv6"}  # and it really is the one server
