"""LOCATION forms, OPTIONS defaults and overrides, and the internals Django exposes."""

from __future__ import annotations

import pickle

import pytest
from django.core.cache.backends import memcached as django_memcached

from django_altcache.backends.memcached import PyLibMCCache, PyMemcacheCache
from django_altcache.backends.memcached import drivers
from django_altcache.conf import CacheConfigError


@pytest.mark.parametrize(
    "location, servers",
    [
        ("127.0.0.1:11211", ["127.0.0.1:11211"]),
        ("cache.internal", ["cache.internal"]),
        ("[::1]:11211", ["[::1]:11211"]),
        ("[::1]", ["[::1]"]),
        ("unix:/run/memcached.sock", ["unix:/run/memcached.sock"]),
        ("/run/memcached.sock", ["/run/memcached.sock"]),
        ("a:1;b:2", ["a:1", "b:2"]),
        ("a:1, b:2", ["a:1", "b:2"]),
        (["a:1", "b"], ["a:1", "b"]),
    ],
)
def test_location_forms(cache_for, location, servers):
    assert cache_for(location)._servers == servers


@pytest.mark.parametrize("location", ["", [], "host:port", "host:0", "host:70000", "::1:11211", "[::1", "[::1]x",
                                      "unix:", 42])
def test_bad_location_names_the_setting(cache_for, location):
    with pytest.raises(CacheConfigError, match=r"LOCATION"):
        cache_for(location)


def test_pylibmc_client_servers_drop_unix_prefix():
    cache = PyLibMCCache(["unix:/tmp/mc.sock", "h:1"], {})
    assert cache.client_servers == ["/tmp/mc.sock", "h:1"]
    assert PyMemcacheCache(["unix:/tmp/mc.sock"], {}).client_servers == ["unix:/tmp/mc.sock"]


def test_is_a_django_memcached_backend(cache_for, library):
    cache = cache_for("127.0.0.1:1")
    assert isinstance(cache, django_memcached.BaseMemcachedCache)
    django_class = {"pymemcache": django_memcached.PyMemcacheCache, "pylibmc": django_memcached.PyLibMCCache}
    assert isinstance(cache, django_class[library])
    assert cache._lib.__name__ == library
    assert isinstance(cache._cache, cache._class)


def test_pymemcache_defaults_then_user_options():
    import pymemcache

    cache = PyMemcacheCache("127.0.0.1:1", {})
    client = cache._cache
    assert isinstance(client, pymemcache.HashClient)
    assert cache._options["allow_unicode_keys"] is True
    assert cache._options["default_noreply"] is False
    assert cache._options["serde"] is pymemcache.serde.pickle_serde
    assert client.default_kwargs["serde"]._serialize_func.keywords["pickle_version"] == pickle.HIGHEST_PROTOCOL
    assert client.use_pooling is True
    assert client.default_kwargs["connect_timeout"] == drivers.CONNECT_TIMEOUT
    assert client.default_kwargs["timeout"] == drivers.IO_TIMEOUT
    assert client.breakers == {}  # a single server's breaker is the cache's own

    custom = PyMemcacheCache("127.0.0.1:1", {"OPTIONS": {"timeout": 7, "no_delay": False, "dead_timeout": 2}})
    assert custom._cache.default_kwargs["timeout"] == 7
    assert custom._cache.default_kwargs["no_delay"] is False
    assert custom._cache.dead_timeout == 2  # accepted as Django does; our HashClient never removes a server


def test_pymemcache_pool_breakers_follow_circuit_breaker_option():
    locations = ["127.0.0.1:1", "127.0.0.1:2"]
    assert PyMemcacheCache(locations, {})._cache.breakers == {}  # fail-soft off, no breaker: every call tries
    soft = PyMemcacheCache(locations, {"OPTIONS": {"IGNORE_EXCEPTIONS": True}})._cache
    assert len(soft.breakers) == 2
    assert {(b.failures, b.cooldown) for b in soft.breakers.values()} == {(3, 0.5)}
    tuned = PyMemcacheCache(locations, {"OPTIONS": {"CIRCUIT_BREAKER": {"failures": 1, "cooldown": 0.2}}})._cache
    assert {(b.failures, b.cooldown) for b in tuned.breakers.values()} == {(1, 0.2)}
    assert PyMemcacheCache(locations, {"OPTIONS": {"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": False}})._cache.breakers == {}


def test_pylibmc_behaviors_defaults_then_user_options():
    cache = PyLibMCCache("127.0.0.1:1", {})
    behaviors = cache._cache.behaviors
    assert behaviors["distribution"] == "modula"  # Django's placement: a switch keeps the cache
    assert not behaviors["ketama"]
    assert behaviors["connect_timeout"] == drivers.CONNECT_TIMEOUT * 1000
    assert behaviors["receive_timeout"] == drivers.IO_TIMEOUT * 1_000_000
    assert behaviors["retry_timeout"] == 1  # libmemcached's minimum, whole seconds
    # A failed server never leaves the ring. (libmemcached 1.0 reads "remove_failed" back as the failure limit.)
    assert not behaviors["auto_eject"]
    slow = PyLibMCCache("127.0.0.1:1", {"OPTIONS": {"CIRCUIT_BREAKER": {"cooldown": 2.5}}})._cache.behaviors
    assert slow["retry_timeout"] == 3

    custom = PyLibMCCache("127.0.0.1:1", {"OPTIONS": {"binary": True, "behaviors": {
        "distribution": "modula", "connect_timeout": 50, "tcp_nodelay": False}}})
    assert custom._cache.binary
    assert custom._cache.behaviors["distribution"] == "modula"
    assert custom._cache.behaviors["connect_timeout"] == 50
    assert custom._cache.behaviors["tcp_nodelay"] == 0


@pytest.mark.parametrize("params, key", [
    ({"OPTIONS": {"timeout": -1}}, "timeout"),
    ({"OPTIONS": {"connect_timeout": "soon"}}, "connect_timeout"),
])
def test_bad_pymemcache_option_names_it(params, key):
    with pytest.raises(CacheConfigError, match=key):
        PyMemcacheCache("127.0.0.1:1", params)


def test_bad_pylibmc_behavior_names_it():
    with pytest.raises(CacheConfigError, match="behaviors.*nope"):
        PyLibMCCache("127.0.0.1:1", {"OPTIONS": {"behaviors": {"nope": 1}}})


def test_user_options_are_not_mutated():
    options = {"behaviors": {"tcp_nodelay": False}}
    PyLibMCCache("127.0.0.1:1", {"OPTIONS": options})
    assert options == {"behaviors": {"tcp_nodelay": False}}


def test_check_warns_when_timeouts_are_disabled():
    from django.test import override_settings

    from django_altcache.checks import check_altcache_caches

    def check(backend, options):
        entry = {"BACKEND": f"django_altcache.backends.memcached.{backend}", "LOCATION": "127.0.0.1:1",
                 "OPTIONS": options}
        with override_settings(CACHES={"default": entry}):
            return check_altcache_caches()

    assert check("PyMemcacheCache", {}) == [] and check("PyLibMCCache", {}) == []
    [warning] = check("PyMemcacheCache", {"timeout": None})
    assert warning.id == "django_altcache.W304" and warning.msg.startswith("CACHES['default']['OPTIONS']['timeout']")
    [warning] = check("PyLibMCCache", {"behaviors": {"receive_timeout": 0}})
    assert warning.id == "django_altcache.W304"
    assert warning.msg.startswith("CACHES['default']['OPTIONS']['behaviors']['receive_timeout']")
