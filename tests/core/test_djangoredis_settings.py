"""django-redis's settings under our RedisCache: each OPTIONS key and global setting understood
(translated into the backend's own terms) or refused by a system check naming it. No network:
building the backend does not connect.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from django.test import override_settings
from redis.sentinel import SentinelConnectionPool

from django_altcache.backends.redis import RedisCache
from django_altcache.backends.redis.cache import DjangoRedisLog
from django_altcache.conf import CacheConfigError
from tests.core.test_option_checks import DJANGO_REDIS, PYMEMCACHE, REDIS, messages, one

LOCATION = "redis://127.0.0.1:6379/0"


class SubSentinelPool(SentinelConnectionPool):
    pass


def build(options: dict[str, Any], location: Any = LOCATION, **params: Any) -> RedisCache:
    return RedisCache(location, {"OPTIONS": options, **params})


# A django-redis block as its README writes it (codec options aside: SERIALIZER/COMPRESSOR).
FULL = {
    "CLIENT_CLASS": "django_redis.client.DefaultClient",
    "CLIENT_KWARGS": {},
    "CONNECTION_FACTORY": "django_redis.pool.ConnectionFactory",
    "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
    "CONNECTION_POOL_KWARGS": {"max_connections": 50, "retry_on_timeout": True},
    "REDIS_CLIENT_CLASS": "redis.client.Redis",
    "REDIS_CLIENT_KWARGS": {"single_connection_client": False},
    "PARSER_CLASS": "redis.connection.DefaultParser",
    "SOCKET_TIMEOUT": 3,
    "SOCKET_CONNECT_TIMEOUT": 1.5,
    "PASSWORD": "pw",
    "USERNAME": "user",
    "IGNORE_EXCEPTIONS": True,
    "LOG_IGNORED_EXCEPTIONS": True,
    "REPLICA_READ_ONLY": True,
    "CLOSE_CONNECTION": True,
}


def test_a_django_redis_block_is_understood() -> None:
    assert messages(REDIS, FULL) == []
    cache = build(FULL)
    topology = cache._topology
    assert topology.kind == "servers" and topology.pool_class is redis.BlockingConnectionPool
    options = topology.pool_options
    assert options["max_connections"] == 50 and options["retry_on_timeout"] is True
    assert options["socket_timeout"] == 3 and options["socket_connect_timeout"] == 1.5
    assert options["password"] == "pw" and options["username"] == "user"
    assert options["parser_class"] is redis.connection.DefaultParser
    assert cache._cache._client is redis.Redis and topology.client_kwargs == {"single_connection_client": False}
    assert cache.resilience.ignore_exceptions is True and cache._close_connection is True
    # The async pools get the same connection keywords.
    assert cache._topology.async_pool_options["max_connections"] == 50


def test_a_redis_client_subclass_wraps_the_pools() -> None:
    class Tagged(redis.Redis):
        pass

    cache = build({"REDIS_CLIENT_CLASS": Tagged, "REDIS_CLIENT_KWARGS": {"health_check_interval": 0}})
    assert isinstance(cache._cache.get_client(write=True), Tagged)


@pytest.mark.parametrize(("options", "fragment"), [
    ({"CLIENT_CLASS": "django_redis.client.HerdClient"}, "STAMPEDE"),
    ({"CLIENT_CLASS": "django_redis.client.herd.HerdClient"}, "STAMPEDE"),
    ({"CLIENT_CLASS": "django_redis.client.ShardClient"}, "Redis Cluster"),
    ({"CLIENT_CLASS": "myproject.cache.MyClient"}, "a custom client's code does not run here"),
    ({"CONNECTION_FACTORY": "myproject.cache.Factory"}, "custom django-redis connection factory"),
    ({"REPLICA_READ_ONLY": False}, "writes go to the first server"),
    ({"CLIENT_KWARGS": {"x": 1}}, "REDIS_CLIENT_KWARGS"),
    ({"REDIS_CLIENT_CLASS": "redis.cluster.RedisCluster"}, "cluster"),
    ({"CONNECTION_POOL_CLASS": "builtins.dict"}, "ConnectionPool subclass"),
    ({"SOCKET_TIMEOUT": "5"}, "expected a number of seconds"),
    ({"SENTINELS": ["127.0.0.1:26379"]}, "(host, port) pairs"),
])
def test_refused_with_a_message_naming_the_option(options: dict[str, Any], fragment: str) -> None:
    (name,) = options
    message = one(REDIS, options)
    assert message.id == "django_altcache.E302" and message.msg.startswith(f"CACHES['c']['OPTIONS']['{name}']: ")
    assert fragment in message.msg
    with pytest.raises(CacheConfigError, match=fr"\['OPTIONS'\]\['{name}'\]"):
        build(options)


@pytest.mark.parametrize(("options", "path", "fragment"), [
    ({"SOCKET_TIMEOUT": 1, "socket_timeout": 2}, "['SOCKET_TIMEOUT']", "also given by OPTIONS['socket_timeout']"),
    ({"CONNECTION_POOL_KWARGS": {"max_connections": 5}, "max_connections": 6},
     "['CONNECTION_POOL_KWARGS']['max_connections']", "also given by OPTIONS['max_connections']"),
    ({"PASSWORD": "a", "CONNECTION_POOL_KWARGS": {"password": "b"}}, "['PASSWORD']", "keep one"),
    ({"PARSER_CLASS": "redis.connection.DefaultParser", "parser_class": "redis.connection.DefaultParser"},
     "['PARSER_CLASS']", "also given as 'parser_class'"),
    ({"CONNECTION_POOL_CLASS": "redis.ConnectionPool", "pool_class": "redis.ConnectionPool"},
     "['CONNECTION_POOL_CLASS']", "also given as 'pool_class'"),
    ({"CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool"}, "['CONNECTION_POOL_CLASS']",
     "needs SENTINELS"),
    ({"CLIENT_CLASS": "django_redis.client.SentinelClient"}, "['CLIENT_CLASS']", "needs SENTINELS"),
    ({"CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory"}, "['CONNECTION_FACTORY']",
     "needs SENTINELS"),
    ({"SENTINELS": [("127.0.0.1", 26379)], "cluster": True}, "['SENTINELS']", "not a cluster"),
    ({"SENTINEL_KWARGS": {"password": "x"}}, "['SENTINEL_KWARGS']", "without SENTINELS"),
    ({"REDIS_CLIENT_CLASS": "redis.Redis", "cluster": True}, "['REDIS_CLIENT_CLASS']", "RedisCluster"),
    ({"CONNECTION_POOL_CLASS": "redis.ConnectionPool", "cluster": True}, "['CONNECTION_POOL_CLASS']", "cluster"),
    ({"REDIS_CLIENT_KWARGS": {"connection_pool": None}}, "['REDIS_CLIENT_KWARGS']", "this backend's to give"),
])
def test_contradictions_are_reported_once_and_refused(options: dict[str, Any], path: str, fragment: str) -> None:
    message = one(REDIS, options)
    assert message.id == "django_altcache.E303", message.msg
    assert message.msg.startswith(f"CACHES['c']['OPTIONS']{path}: ") and fragment in message.msg
    with pytest.raises(CacheConfigError) as caught:
        build(options)
    assert fragment in str(caught.value)


def test_the_keywords_inside_django_redis_dicts_are_checked_against_redis_py() -> None:
    message = one(REDIS, {"CONNECTION_POOL_KWARGS": {"max_conections": 10}})
    assert message.id == "django_altcache.E301"
    assert message.msg == ("CACHES['c']['OPTIONS']['CONNECTION_POOL_KWARGS']['max_conections']: unknown key; "
                           "did you mean 'max_connections'?")
    message = one(REDIS, {"CONNECTION_POOL_KWARGS": {"socket_timeout": "5"}})
    assert message.id == "django_altcache.E302" and "['CONNECTION_POOL_KWARGS']['socket_timeout']" in message.msg
    message = one(REDIS, {"REDIS_CLIENT_KWARGS": {"single_connection_clien": True}})
    assert message.id == "django_altcache.E301" and "did you mean 'single_connection_client'?" in message.msg


def test_timeouts_off_as_in_django_redis_are_warned_about() -> None:
    message = one(REDIS, {"SOCKET_TIMEOUT": 0})
    assert message.id == "django_altcache.W304" and "['SOCKET_TIMEOUT']" in message.msg
    assert one(REDIS, {"SOCKET_CONNECT_TIMEOUT": None}).id == "django_altcache.W304"
    assert build({"SOCKET_TIMEOUT": 0})._topology.pool_options["socket_timeout"] is None  # django-redis: none
    assert build({})._topology.pool_options["socket_timeout"] == 5.0  # ours when not given


# -- Sentinel, django-redis's way ------------------------------------------------------------------
SENTINELS = [("127.0.0.1", 26379), ("127.0.0.1", 26380)]


def test_sentinels_with_a_service_name_location() -> None:
    options = {"CLIENT_CLASS": "django_redis.client.SentinelClient", "SENTINELS": SENTINELS,
               "SENTINEL_KWARGS": {"password": "s"}, "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
               "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool"}
    location = "redis://:pw@mymaster/2"
    assert messages({**REDIS, "LOCATION": location}, options) == []
    cache = build(options, location)
    topology = cache._topology
    assert (topology.kind, topology.service_name, topology.sentinels) == ("sentinel", "mymaster", SENTINELS)
    assert topology.pool_options["db"] == 2 and topology.pool_options["password"] == "pw"
    assert topology.sentinel_kwargs == {"password": "s"} and "connection_pool_class" not in topology.pool_options
    # django-redis's replicated form: the master is used for reads and writes.
    two = build({"SENTINELS": SENTINELS}, ["redis://mymaster/1?is_master=1", "redis://mymaster/1?is_master=0"])
    assert two._topology.kind == "sentinel" and two._servers == ["redis://mymaster/1?is_master=1"]
    sub = build({"SENTINELS": SENTINELS, "CONNECTION_POOL_CLASS": SubSentinelPool}, "redis://mymaster")
    assert sub._topology.pool_options["connection_pool_class"] is SubSentinelPool
    assert "connection_pool_class" not in sub._topology.async_pool_options
    tls = build({"SENTINELS": SENTINELS}, "rediss://mymaster/0")
    assert tls._topology.pool_options["ssl"] is True


@pytest.mark.parametrize(("location", "fragment"), [
    ("redis://mymaster/0?is_master=0", "replicas only"),
    (["redis://a/0", "redis://b/0"], "the same service"),
    ("redis://mymaster/0?socket_timeout=1", "only 'db' and 'is_master'"),
    ("unix:///tmp/redis.sock", "redis://service_name/db"),
    ("sentinel://127.0.0.1:26379/mymaster", "already names the sentinels"),
])
def test_sentinel_locations_refused(location: Any, fragment: str) -> None:
    with pytest.raises(CacheConfigError, match=fragment):
        build({"SENTINELS": SENTINELS}, location)
    found = messages({**REDIS, "LOCATION": location}, {"SENTINELS": SENTINELS})
    assert [m.id for m in found] == ["django_altcache.E303"] and fragment in found[0].msg


# -- global settings ---------------------------------------------------------------------------------
def test_global_fail_soft_and_its_logging_follow_django_redis() -> None:
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        cache = build({})
        assert cache.resilience.ignore_exceptions and cache._guard is not None
        assert cache._guard.log.interval == 10.0  # ours: one record per 10 s
        assert build({"IGNORE_EXCEPTIONS": False})._guard is None  # the option wins, as in django-redis
        with override_settings(DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS=True):
            log = build({})._guard.log  # type: ignore[union-attr]
            assert isinstance(log, DjangoRedisLog) and log.logger.name == "django_redis.cache"
            with override_settings(DJANGO_REDIS_LOGGER="my.logger"):
                assert build({})._guard.log.logger.name == "my.logger"  # type: ignore[union-attr]
            # Our option, when given, keeps our meaning.
            assert not isinstance(build({"LOG_IGNORED_EXCEPTIONS": 30})._guard.log, DjangoRedisLog)  # type: ignore[union-attr]
        with override_settings(DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS=False):
            assert build({})._guard.log.interval is None  # type: ignore[union-attr]
    assert build({})._guard is None  # the memo is reset with the setting


def test_django_redis_log_records_every_ignored_error_with_its_traceback(caplog: Any) -> None:
    log = DjangoRedisLog("django_redis.cache")
    with caplog.at_level(logging.ERROR, logger="django_redis.cache"):
        for _ in range(3):
            try:
                raise redis.ConnectionError("down")
            except redis.ConnectionError:
                log(logging.WARNING, "cache %s: %s failed", "x", "get")
    records = [r for r in caplog.records if r.name == "django_redis.cache"]
    assert len(records) == 3 and all(r.exc_info and r.levelno == logging.ERROR for r in records)


def test_global_settings_other() -> None:
    with override_settings(DJANGO_REDIS_SCAN_ITERSIZE=1000, DJANGO_REDIS_CLOSE_CONNECTION=True):
        cache = build({})
        assert cache._scan_itersize == 1000 and cache._close_connection is True
        assert build({"CLOSE_CONNECTION": False})._close_connection is False
    with override_settings(DJANGO_REDIS_CONNECTION_FACTORY="django_redis.pool.ConnectionFactory"):
        assert build({})._topology.kind == "servers"
    with override_settings(DJANGO_REDIS_CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory"):
        assert build({"SENTINELS": SENTINELS}, "redis://svc")._topology.kind == "sentinel"
        with pytest.raises(CacheConfigError, match=r"settings\.DJANGO_REDIS_CONNECTION_FACTORY = .* needs"):
            build({})
        # a cache that says otherwise is not affected
        assert build({"CONNECTION_FACTORY": "django_redis.pool.ConnectionFactory"})._topology.kind == "servers"


@pytest.mark.parametrize(("setting", "value", "fragment"), [
    ("DJANGO_REDIS_SCAN_ITERSIZE", 0, "positive integer"),
    ("DJANGO_REDIS_IGNORE_EXCEPTIONS", "yes", "True or False"),
    ("DJANGO_REDIS_CONNECTION_FACTORY", "myproject.Factory", "custom django-redis connection factory"),
    ("DJANGO_REDIS_LOGGER", 3, "logger name"),
])
def test_a_bad_global_setting_is_named(setting: str, value: Any, fragment: str) -> None:
    with override_settings(**{setting: value}):
        with pytest.raises(CacheConfigError, match=fr"settings\.{setting}: .*{fragment}"):
            build({})
        found = messages(REDIS, {})
        assert [m.id for m in found] == ["django_altcache.E001"] and f"settings.{setting}" in found[0].msg


# -- what the checks say, and never suggest ---------------------------------------------------------
def test_suggestions_only_offer_names_that_work() -> None:
    assert "did you mean 'SOCKET_TIMEOUT'?" in one(REDIS, {"SOCKET_TIMOUT": 1}).msg
    assert "did you mean 'socket_timeout'?" in one(REDIS, {"socket_timout": 1}).msg
    assert "did you mean 'CONNECTION_POOL_KWARGS'?" in one(REDIS, {"CONNECTION_POOL_KWARG": {}}).msg
    # ssl_cert_reqs is redis-py's only for rediss:// LOCATIONs: not offered for a redis:// one.
    message = one(REDIS, {"ssl_cert_req": None})
    assert message.id == "django_altcache.E301" and "did you mean" not in message.msg
    assert "did you mean 'ssl_cert_reqs'?" in one({**REDIS, "LOCATION": "rediss://h:6379"}, {"ssl_cert_req": None}).msg
    # Every name a suggestion offers is accepted with a plain value.
    for name, value in (("SOCKET_TIMOUT", 1), ("socket_timout", 1), ("CONNECTION_POOL_KWARG", {}),
                        ("IGNORE_EXCEPTION", True), ("max_conections", 3)):
        offered = one(REDIS, {name: value}).msg.split("did you mean '")[1].split("'")[0]
        assert messages(REDIS, {offered: value}) == [], offered


def test_django_redis_names_on_other_backends() -> None:
    message = one(PYMEMCACHE, {"SOCKET_TIMEOUT": 1})
    assert message.id == "django_altcache.E301" and "a django-redis option" in message.msg
    assert "did you mean" not in message.msg
    message = one(DJANGO_REDIS, {"CLIENT_CLASS": "django_redis.client.DefaultClient"})
    assert "a django-altcache option, not one of Django's RedisCache" in message.msg
    assert "django_altcache.backends.redis.RedisCache" in message.hint


def test_reverse_key_function_is_imported_and_named() -> None:
    assert build({}, REVERSE_KEY_FUNCTION="django_altcache.backends.redis.djangoredis.default_reverse_key")
    with pytest.raises(CacheConfigError, match=r"\['REVERSE_KEY_FUNCTION'\].*: cannot import"):
        build({}, REVERSE_KEY_FUNCTION="nowhere.reverse")
    found = messages(REDIS, {}, REVERSE_KEY_FUNCTION="nowhere.reverse")
    assert [m.id for m in found] == ["django_altcache.E302"]
    assert found[0].msg.startswith("CACHES['c']['REVERSE_KEY_FUNCTION']: cannot import")


def test_log_option_with_the_global_fail_soft_is_not_reported_as_without_effect() -> None:
    assert one(REDIS, {"LOG_IGNORED_EXCEPTIONS": 30}).id == "django_altcache.W303"
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        assert messages(REDIS, {"LOG_IGNORED_EXCEPTIONS": 30}) == []
        assert one(REDIS, {"LOG_IGNORED_EXCEPTIONS": 30, "IGNORE_EXCEPTIONS": False}).id == "django_altcache.W303"


def test_pool_keywords_only_the_sync_pools_take_are_warned_about_as_at_top_level() -> None:
    top = one(REDIS, {"command_packer": None})
    nested = one(REDIS, {"CONNECTION_POOL_KWARGS": {"command_packer": None}})
    assert top.id == nested.id == "django_altcache.W303" and "redis.asyncio does not" in nested.msg
    assert nested.msg.split(": ", 1)[1] == top.msg.split(": ", 1)[1]
    assert nested.msg.startswith("CACHES['c']['OPTIONS']['CONNECTION_POOL_KWARGS']['command_packer']: ")


def test_the_url_wins_over_options_as_in_redis_py() -> None:
    plain = build({"PASSWORD": "option"}, "redis://:url@127.0.0.1:6379/0")
    assert plain._cache._pool_at(0).connection_kwargs["password"] == "url"  # redis-py's from_url
    sentinel = build({"PASSWORD": "option", "SENTINELS": SENTINELS, "db": 5}, "redis://:url@svc/3")
    assert sentinel._topology.pool_options["password"] == "url" and sentinel._topology.pool_options["db"] == 3
    assert build({"PASSWORD": "option", "SENTINELS": SENTINELS}, "redis://svc")._topology.pool_options[
        "password"] == "option"
