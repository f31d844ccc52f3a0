"""Valkey as a first-class target: its URL spellings, and the server behaviour the backend
(and the coming local tier) relies on, checked on both servers.

Every other test of this directory that uses a server runs on Redis and on Valkey
(the ``flavour`` fixture); this file holds what is about Valkey itself.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
import redis
from django.test import override_settings

from django_altcache.backends.redis import RedisCache, options
from django_altcache.checks import check_altcache_caches
from django_altcache.conf import CacheConfigError
from tests._servers.redis import Flavour, RedisServer

from .conftest import for_redis_py


def parse(location: Any, given: dict[str, Any]) -> options.Topology:
    return options.topology_of(location, options.SPEC.parse(given))


# -- LOCATION spellings (no server) ------------------------------------------------------
@pytest.mark.parametrize("location, expected", [
    ("valkey://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"),
    ("valkeys://u:p%40w@host:6380/0", "rediss://u:p%40w@host:6380/0"),
    ("VALKEY://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    ("Valkeys://h:1", "rediss://h:1"),
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),  # untouched
    ("unix:///tmp/valkey.sock?db=1", "unix:///tmp/valkey.sock?db=1"),
])
def test_valkey_urls_reach_redis_py_as_its_own_schemes(location: str, expected: str) -> None:
    assert parse(location, {}).servers == [expected]


def test_valkey_urls_in_replicas_cluster_and_sentinel_locations() -> None:
    replicas = parse(["valkey://10.0.0.1:6379", "redis://10.0.0.2:6379", "valkeys://10.0.0.3:6380"], {})
    assert replicas.servers == ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379", "rediss://10.0.0.3:6380"]
    cluster = parse("valkey://:pw@10.0.0.7:7000,valkey://10.0.0.8:7000", {"cluster": True})
    assert cluster.kind == "cluster" and cluster.servers == ["redis://:pw@10.0.0.7:7000", "redis://10.0.0.8:7000"]
    for scheme in ("valkey+sentinel", "VALKEY+Sentinel", "Sentinel"):
        location = f"{scheme}://:pw@10.0.0.5:26379,10.0.0.6:26379/mymaster?db=2"
        topology = parse(location, {})
        assert topology.kind == "sentinel" and topology.service_name == "mymaster"
        assert topology.sentinels == [("10.0.0.5", 26379), ("10.0.0.6", 26379)]
        assert topology.pool_options["db"] == 2 and topology.pool_options["password"] == "pw"
        cache = RedisCache(location, {})
        assert cache._servers == [location]  # commas separate sentinels, not servers, in any case
        assert cache.servers_description()[0].lower() == location.replace(":pw@", ":***@").lower()
    # The backend keeps the LOCATION as written (Django's _servers, logs, cachecheck).
    cache = RedisCache("valkey://:secret@127.0.0.1:1/0", {})
    assert cache._servers == ["valkey://:secret@127.0.0.1:1/0"]
    assert cache.servers_description() == ["valkey://:***@127.0.0.1:1/0"]
    assert cache._cache._get_connection_pool(True).connection_kwargs["password"] == "secret"


def test_a_bad_scheme_names_the_valkey_spellings_too() -> None:
    with pytest.raises(CacheConfigError, match="valkey://, valkeys://"):
        parse("valkey+tls://127.0.0.1:6379", {})


def _check(location: Any, options: dict[str, Any]) -> list[str]:
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "c": {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": location,
                    "OPTIONS": options}}
    with override_settings(CACHES=caches):
        return [m.id for m in check_altcache_caches() if m.obj == "CACHES['c']"]


def test_system_checks_treat_valkeys_as_rediss() -> None:
    tls = {"ssl_ca_certs": "/etc/ca.pem"}
    assert _check("valkeys://127.0.0.1:6380", tls) == []
    assert _check("VALKEYS://127.0.0.1:6380", tls) == []
    assert _check("valkey://127.0.0.1:6379", tls) == ["django_altcache.E303"]  # TLS options on a plain URL
    assert _check("valkey+sentinel://127.0.0.1:26379/svc", {"sentinel_kwargs": {"password": "x"}}) == []
    assert _check(["valkey://127.0.0.1:7000"], {"cluster": True}) == []


# -- the servers themselves ---------------------------------------------------------------
def test_the_flavour_is_the_server_that_answers(cache: RedisCache, flavour: Flavour) -> None:
    """The [valkey] tests really run against valkey-server (Valkey reports redis_version
    7.2.4 for compatibility: a version check must read server_name/valkey_version)."""
    info = cache._cache.get_client().info("server")
    assert info.get("server_name", "redis") == flavour.name
    if flavour.name == "valkey":
        assert int(str(info["valkey_version"]).split(".")[0]) >= 8 and info["redis_version"] == "7.2.4"


def test_connections_name_themselves_as_djangos(cache: RedisCache, flavour: Flavour) -> None:
    """The client name Django's backend sends (CLIENT SETINFO, on connect), sync and async.
    Valkey has the command; Redis before 7.2 (Debian 12's 7.0) does not, and redis-py
    then sends nothing: there the name cannot be seen, and Django's own test skips it."""
    import django

    version = django.get_version()
    expected = (redis.DriverInfo().add_upstream_driver("django", version).formatted_name
                if hasattr(redis, "DriverInfo") else f"redis-py(django_v{version})")

    async def async_info() -> dict[str, Any]:
        return await cache._cache.get_async_client(write=True).client_info()

    server_version = str(cache._cache.get_client().info("server")["redis_version"])
    for info in (cache._cache.get_client().client_info(), asyncio.run(async_info())):
        if flavour.name == "redis" and tuple(map(int, server_version.split(".")[:2])) < (7, 2):
            assert info.get("lib-name") is None, info
        else:
            assert info["lib-name"] == expected, info


# -- CLIENT TRACKING, which the local tier (issue 15) will rely on --------------------------
def _push(keys: list[bytes] | None) -> bytes:
    body = b"_\r\n" if keys is None else b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)
    return b">2\r\n$10\r\ninvalidate\r\n" + body


def _read_until(sock: socket.socket, expected: bytes, timeout: float = 5.0) -> bytes:
    """Read until ``expected`` has arrived (bounded); returns everything read."""
    data = b""
    deadline = time.monotonic() + timeout
    while expected not in data and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_client_tracking_invalidates_alike_on_both_servers(own_redis: RedisServer) -> None:
    """RESP3 push on another client's write, on a Lua write, on expiry and (with no key
    list) on FLUSHDB; RESP2 redirect to ``__redis__:invalidate`` (Valkey keeps the name)."""
    writer = redis.Redis.from_url(own_redis.raw_url)
    tracked = socket.create_connection((own_redis.host, own_redis.port), timeout=5)
    listener = socket.create_connection((own_redis.host, own_redis.port), timeout=5)
    try:
        tracked.sendall(b"HELLO 3\r\nCLIENT TRACKING ON\r\n")
        assert _read_until(tracked, b"+OK\r\n").endswith(b"+OK\r\n")

        def read_then(key: str, write: Any, push: bytes) -> None:
            tracked.sendall(f"GET {key}\r\n".encode())
            _read_until(tracked, b"\r\n")
            write()
            assert push in _read_until(tracked, push), f"no invalidation for {key}"

        read_then("a", lambda: writer.set("a", 1), _push([b"a"]))
        read_then("a", lambda: writer.eval("return redis.call('incr', KEYS[1])", 1, "a"), _push([b"a"]))
        # Long enough that the GET below finds the key alive even on a slow machine.
        read_then("b", lambda: writer.set("b", 1, px=1500), _push([b"b"]))  # the write
        read_then("b", lambda: None, _push([b"b"]))  # ...then its expiry, found by the server's own cycle
        read_then("a", writer.flushdb, _push(None))

        listener.sendall(b"CLIENT ID\r\n")
        client_id = int(_read_until(listener, b"\r\n")[1:].strip())
        listener.sendall(b"SUBSCRIBE __redis__:invalidate\r\n")
        _read_until(listener, b":1\r\n")
        redirected = socket.create_connection((own_redis.host, own_redis.port), timeout=5)
        try:
            redirected.sendall(f"CLIENT TRACKING ON REDIRECT {client_id}\r\nGET r\r\n".encode())
            _read_until(redirected, b"$-1\r\n")
            writer.set("r", 1)
            message = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nr\r\n"
            assert message in _read_until(listener, message)
        finally:
            redirected.close()
    finally:
        tracked.close()
        listener.close()
        writer.close()


def test_raw_url_is_the_same_server(own_redis: RedisServer) -> None:
    assert for_redis_py(own_redis.url) == own_redis.raw_url
    assert redis.Redis.from_url(own_redis.raw_url).ping() is True
