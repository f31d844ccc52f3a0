"""System checks of CACHES OPTIONS (django_altcache.checks + optioncheck), no network.

Each kind of message for each backend family, the exact message format, and clean
configurations that must give no message at all. The check function is called
directly where a cache would fail to build: Django's own cache check builds every
cache too and lets such an error escape, which would hide ours.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.cache.backends.base import BaseCache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_altcache.backends.redis import RedisCache
from django_altcache.checks import check_altcache_caches
from django_altcache.conf.findings import suggest
from django_altcache.conf.library import init_keywords

OURS = "django_altcache.backends"
DJANGO = "django.core.cache.backends"
REDIS = {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}
DJANGO_REDIS = {"BACKEND": f"{DJANGO}.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}
PYMEMCACHE = {"BACKEND": f"{OURS}.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:11211"}
DJANGO_PYMEMCACHE = {"BACKEND": f"{DJANGO}.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:11211"}
PYLIBMC = {"BACKEND": f"{OURS}.memcached.PyLibMCCache", "LOCATION": "127.0.0.1:11211"}
DB = {"BACKEND": f"{OURS}.db.DatabaseCache", "LOCATION": "option_checks_table"}
DJANGO_DB = {"BACKEND": f"{DJANGO}.db.DatabaseCache", "LOCATION": "option_checks_table"}
LOCMEM = {"BACKEND": f"{OURS}.locmem.LocMemCache", "LOCATION": "option-checks"}
DJANGO_LOCMEM = {"BACKEND": f"{DJANGO}.locmem.LocMemCache", "LOCATION": "option-checks"}
DUMMY = {"BACKEND": f"{OURS}.dummy.DummyCache"}


class SubclassedRedisCache(RedisCache):
    """A user's subclass: its __init__ might read OPTIONS of its own."""


def messages(entry: dict[str, Any], options: Any, alias: str = "c", **extra: Any) -> list[checks.CheckMessage]:
    caches = {"default": {"BACKEND": f"{DJANGO}.locmem.LocMemCache"},
              alias: {**entry, "OPTIONS": options, **extra}}
    with override_settings(CACHES=caches):
        return [m for m in check_altcache_caches() if m.obj == f"CACHES[{alias!r}]"]


def one(entry: dict[str, Any], options: Any, **extra: Any) -> checks.CheckMessage:
    found = messages(entry, options, **extra)
    assert len(found) == 1, [str(m) for m in found]
    return found[0]


def ids(found: list[checks.CheckMessage]) -> list[str]:
    return sorted(m.id.removeprefix("django_altcache.") for m in found)


# -- message format and the manage.py check integration ------------------------------------
def test_unknown_option_message_format_and_manage_py_check() -> None:
    message = one(REDIS, {"socket_timout": 1})
    assert message.id == "django_altcache.E301" and message.level == checks.ERROR
    assert message.msg == "CACHES['c']['OPTIONS']['socket_timout']: unknown option; did you mean 'socket_timeout'?"
    assert "redis-py" in message.hint and "TypeError" in message.hint
    caches = {"default": {**REDIS, "OPTIONS": {"IGNORE_EXCEPTION": True}}}
    expected = r"django_altcache\.E301.*'IGNORE_EXCEPTION'\]: unknown option; did you mean 'IGNORE_EXCEPTIONS'\?"
    with override_settings(CACHES=caches), pytest.raises(SystemCheckError, match=expected):
        call_command("check")


def test_suggestions() -> None:
    assert suggest("IGNORE_EXCEPTION", ["IGNORE_EXCEPTIONS", "socket_timeout"]) == "IGNORE_EXCEPTIONS"
    assert suggest("ignore_exceptions", ["IGNORE_EXCEPTIONS"]) == "IGNORE_EXCEPTIONS"
    assert suggest("SOCKET_TIMEOUT", ["socket_timeout", "socket_connect_timeout"]) == "socket_timeout"
    assert suggest("CLIENT_CLASS", ["client_name", "connection_class"]) is None  # nothing close enough
    assert suggest(3, ["a"]) is None


def test_keywords_are_read_from_signatures_through_kwargs() -> None:
    class Base:
        def __init__(self, a: int = 0, *, b: str = "") -> None: ...

    class Child(Base):
        def __init__(self, c: float | None = None, **kwargs: Any) -> None: ...

    class Swallows:
        def __init__(self, d: int = 0, **kwargs: Any) -> None: ...

    names, closed = init_keywords(Child)
    assert sorted(names) == ["a", "b", "c"] and closed is True
    names, closed = init_keywords(Swallows)
    assert sorted(names) == ["d"] and closed is False  # **kwargs that go nowhere we can see


# -- resilience options, every backend -----------------------------------------------------
def test_resilience_values_are_validated_by_the_resilience_parser() -> None:
    message = one(DB, {"IGNORE_EXCEPTIONS": "yes"})
    assert message.id == "django_altcache.E302"
    assert message.msg == "CACHES['c']['OPTIONS']['IGNORE_EXCEPTIONS']: expected True or False, got 'yes'"
    message = one(PYMEMCACHE, {"CIRCUIT_BREAKER": "on"})
    assert message.id == "django_altcache.E302" and "['CIRCUIT_BREAKER']: expected True, False or a dict" in message.msg
    message = one(REDIS, {"IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": -1})
    assert message.id == "django_altcache.E302" and "['LOG_IGNORED_EXCEPTIONS']" in message.msg


def test_circuit_breaker_keys() -> None:
    found = messages(REDIS, {"CIRCUIT_BREAKER": {"failure": 2, "cooldown": -1}})
    assert ids(found) == ["E301", "E302"]
    unknown = next(m for m in found if m.id.endswith("E301"))
    assert unknown.msg == "CACHES['c']['OPTIONS']['CIRCUIT_BREAKER']['failure']: unknown key; did you mean 'failures'?"
    # Our RedisCache refuses to start with it too: that error is not reported a second time (E001).
    assert "django_altcache.E001" not in [m.id for m in found]


def test_resilience_without_effect() -> None:
    for entry in (LOCMEM, DUMMY, {"BACKEND": f"{OURS}.filebased.FileBasedCache", "LOCATION": "/tmp/x"}):
        message = one(entry, {"IGNORE_EXCEPTIONS": True})
        assert message.id == "django_altcache.W302" and "has no effect" in message.msg
    message = one(REDIS, {"LOG_IGNORED_EXCEPTIONS": 30})
    assert message.id == "django_altcache.W303" and "without IGNORE_EXCEPTIONS=True" in message.msg


def test_resilience_options_on_djangos_backends() -> None:
    message = one(DJANGO_REDIS, {"IGNORE_EXCEPTIONS": True})
    assert message.id == "django_altcache.E301"
    assert "a django-altcache option" in message.msg and "TypeError" in message.hint
    assert f"{OURS}.redis.RedisCache" in message.hint
    message = one(DJANGO_LOCMEM, {"CIRCUIT_BREAKER": True})
    assert message.id == "django_altcache.W301" and "ignores it" in message.hint


# -- Redis ---------------------------------------------------------------------------------
def test_redis_unknown_options() -> None:
    message = one(REDIS, {"max_conections": 10})
    assert message.id == "django_altcache.E301" and "did you mean 'max_connections'?" in message.msg
    assert messages(REDIS, {"CLIENT_CLASS": "django_redis.client.DefaultClient"}) == []  # django-redis's, understood
    message = one(PYMEMCACHE, {"CLIENT_CLASS": "django_redis.client.DefaultClient"})
    assert message.id == "django_altcache.E301" and "a django-redis option" in message.msg
    message = one(REDIS, {"TIMEOUT": 60})
    assert "TIMEOUT is a key of the CACHES entry itself" in message.msg
    message = one(REDIS, {"async_options": {"max_conections": 3}})
    assert message.id == "django_altcache.E301"
    assert message.msg == ("CACHES['c']['OPTIONS']['async_options']['max_conections']: unknown key; "
                           "did you mean 'max_connections'?")


def test_culling_options_on_redis_and_memcached_are_errors() -> None:
    # Not "ignored": the client libraries reject them (TypeError at the first call).
    for entry in (REDIS, DJANGO_REDIS, PYMEMCACHE, DJANGO_PYMEMCACHE, PYLIBMC):
        message = one(entry, {"MAX_ENTRIES": 1000})
        assert message.id == "django_altcache.E301" and "culling" in message.msg, entry
        assert "TypeError" in message.hint


def test_redis_types_and_values() -> None:
    message = one(REDIS, {"socket_timeout": "5"})
    assert message.id == "django_altcache.E302"
    assert message.msg == "CACHES['c']['OPTIONS']['socket_timeout']: expected a number of seconds or None, got '5'"
    # Types come from redis-py's own annotations.
    assert one(REDIS, {"retry_on_timeout": "yes"}).msg.endswith("expected True or False, got 'yes'")
    assert "expected a string or None, got 5" in one(REDIS, {"client_name": 5}).msg
    assert one(REDIS, {"db": -1}).id == "django_altcache.E302"
    assert one(REDIS, {"db": "ten"}).id == "django_altcache.E302"
    assert messages(REDIS, {"db": "10"}) == []  # redis-py sends it as text: SELECT 10 works
    assert one(REDIS, {"max_connections": 0}).id == "django_altcache.E302"
    assert one(REDIS, {"clear_prefix_only": "yes"}).id == "django_altcache.E302"
    message = one(REDIS, {"decode_responses": True})
    assert message.id == "django_altcache.E302" and "pickled" in message.msg
    message = one(REDIS, {"socket_connect_timeout": None})
    assert message.id == "django_altcache.W304" and "block requests" in message.msg


def test_redis_options_that_do_not_fit_the_location() -> None:
    message = one(REDIS, {"ssl_ca_certs": "/etc/ca.pem"})
    assert message.id == "django_altcache.E303" and "rediss://" in message.msg
    assert messages({**REDIS, "LOCATION": "rediss://127.0.0.1:6380"}, {"ssl_ca_certs": "/etc/ca.pem"}) == []
    message = one(REDIS, {"ssl": True})
    assert message.id == "django_altcache.E303" and "write rediss://" in message.msg
    # Two servers, one TLS: every server gets the same options.
    both = {**REDIS, "LOCATION": ["rediss://127.0.0.1:6380", "redis://127.0.0.1:6379"]}
    assert one(both, {"ssl_ca_certs": "/etc/ca.pem"}).id == "django_altcache.E303"
    # An async-pool keyword at the top level breaks the sync pool.
    message = one(REDIS, {"timeout": 3})
    assert message.id == "django_altcache.E303" and "put it in 'async_options'" in message.msg
    assert messages(REDIS, {"async_options": {"timeout": 3}}) == []


def test_redis_topology_combinations() -> None:
    sentinel = {**REDIS, "LOCATION": "sentinel://127.0.0.1:26379/mymaster"}
    message = one(sentinel, {"cluster": True})
    assert message.id == "django_altcache.E303" and "sentinel://" in message.msg
    message = one(REDIS, {"cluster": True, "db": 3})
    assert message.id == "django_altcache.W303" and "['db']" in message.msg
    message = one(REDIS, {"sentinel_kwargs": {"password": "x"}})
    assert message.id == "django_altcache.W303" and "not a sentinel://" in message.msg
    message = one(REDIS, {"clear_prefix_only": True}, KEY_FUNCTION="os.path.join")
    assert message.id == "django_altcache.E303" and "KEY_FUNCTION" in message.msg


def test_our_redis_options_on_djangos_backend() -> None:
    message = one(DJANGO_REDIS, {"cluster": True})
    assert message.id == "django_altcache.E301" and "a django-altcache option" in message.msg


def test_a_subclass_gets_warnings_for_unknown_names() -> None:
    entry = {**REDIS, "BACKEND": f"{__name__}.SubclassedRedisCache"}
    message = one(entry, {"my_option": 1})
    assert message.id == "django_altcache.W301" and "subclass" in message.hint
    assert one(entry, {"socket_timeout": "5"}).id == "django_altcache.E302"  # known names are still checked


# -- Memcached -----------------------------------------------------------------------------
def test_pymemcache_options() -> None:
    message = one(PYMEMCACHE, {"connect_timout": 1})
    assert message.id == "django_altcache.E301" and "did you mean 'connect_timeout'?" in message.msg
    assert "pymemcache" in message.hint
    assert one(PYMEMCACHE, {"no_delay": "yes"}).id == "django_altcache.E302"  # pymemcache's annotation: bool
    assert one(PYMEMCACHE, {"retry_timeout": -1}).id == "django_altcache.E302"
    message = one(PYMEMCACHE, {"use_pooling": False, "max_pool_size": 4})
    assert message.id == "django_altcache.W303" and "use_pooling=True" in message.msg
    # Django's backend does not pool unless told to.
    assert one(DJANGO_PYMEMCACHE, {"max_pool_size": 4}).id == "django_altcache.W303"
    assert one(DJANGO_PYMEMCACHE, {"IGNORE_EXCEPTIONS": True}).id == "django_altcache.E301"


def test_pylibmc_options() -> None:
    message = one(PYLIBMC, {"binery": True})
    assert message.id == "django_altcache.E301" and "did you mean 'binary'?" in message.msg
    found = messages(PYLIBMC, {"behaviors": {"ketema": True}})
    assert [m.msg for m in found] == [
        "CACHES['c']['OPTIONS']['behaviors']['ketema']: unknown key; did you mean 'ketama'?"]
    assert found[0].id == "django_altcache.E301"  # and no E001 for the same mistake
    message = one(PYLIBMC, {"behaviors": {"hash": "md55"}})
    assert message.id == "django_altcache.E302" and "'md5'" in message.msg
    assert one(PYLIBMC, {"behaviors": {"tcp_nodelay": "yes"}}).id == "django_altcache.E302"
    message = one(PYLIBMC, {"binary": True, "username": "u"})
    assert message.id == "django_altcache.E303" and "'password' is missing" in message.msg
    message = one(PYLIBMC, {"username": "u", "password": "p"})
    assert message.id == "django_altcache.E303" and "binary protocol" in message.msg


# -- Django's OPTIONS-reading backends: db, locmem, filebased, dummy ------------------------
def test_database_cache_options() -> None:
    message = one(DB, {"CULL_FREQUENCE": 2})
    assert message.id == "django_altcache.W301" and message.level == checks.WARNING
    assert message.msg == "CACHES['c']['OPTIONS']['CULL_FREQUENCE']: unknown option; did you mean 'CULL_FREQUENCY'?"
    assert message.hint == "It is ignored."
    found = messages(DB, {"CULL_PROBABILITY": 2, "MAX_ENTRIES": "lots", "QUERY_TIMEOUT": "x", "UNLOGGED": "yes",
                          "CONNECT_TIMEOUT": -1})
    assert ids(found) == ["E302"] * 5, [str(m) for m in found]
    assert "E001" not in ids(found)  # the backend's own refusal is not repeated
    assert one(DB, {"QUERY_TIMEOUT": None}).id == "django_altcache.W304"
    message = one(DJANGO_DB, {"CONNECT_TIMEOUT": 2})
    assert message.id == "django_altcache.W301" and "not one of Django's DatabaseCache" in message.msg


def test_locmem_filebased_dummy_options() -> None:
    message = one(LOCMEM, {"CULL_FREQUENCY": -1})
    assert message.id == "django_altcache.E302" and "Django would silently use 3" in message.msg
    assert one(DJANGO_LOCMEM, {"MAX_ENTRIES": "many"}).id == "django_altcache.E302"
    message = one(DUMMY, {"max_entries": 5})
    assert message.id == "django_altcache.W301" and "did you mean 'MAX_ENTRIES'?" in message.msg


def test_options_that_are_not_a_dict_never_crash_the_check() -> None:
    found = messages(LOCMEM, "MAX_ENTRIES=5")
    assert "E300" in ids(found)
    assert any(m.msg == "CACHES['c']['OPTIONS']: must be a dict, not str" for m in found)


def test_construction_errors_the_options_check_does_not_cover_are_still_e001() -> None:
    message = one({**PYMEMCACHE, "LOCATION": "127.0.0.1:99999"}, {})
    assert message.id == "django_altcache.E001" and "CACHES['c']" in message.msg and "99999" in message.msg


# -- clean configurations: not a single message ----------------------------------------------
CLEAN = {
    "default": {"BACKEND": f"{DJANGO}.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2}},
    "redis": {"BACKEND": f"{OURS}.redis.RedisCache",
              "LOCATION": ["redis://:pw@127.0.0.1:6379/0", "redis://127.0.0.1:6380/0"],
              "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 1, "IGNORE_EXCEPTIONS": True,
                          "CIRCUIT_BREAKER": {"failures": 3, "cooldown": 1}, "LOG_IGNORED_EXCEPTIONS": 30,
                          "db": 2, "username": "u", "password": "x", "retry_on_timeout": True,
                          "health_check_interval": 10, "max_connections": 50, "client_name": "web",
                          "pool_class": "redis.BlockingConnectionPool", "timeout": 3,
                          "async_options": {"max_connections": 10, "timeout": 1}, "clear_prefix_only": True,
                          "serializer": "django_altcache.backends.redis.RedisSerializer"}},
    "tls": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": "rediss://127.0.0.1:6380",
            "OPTIONS": {"ssl_ca_certs": "/etc/ca.pem", "ssl_cert_reqs": "required", "ssl_check_hostname": False}},
    "sentinel": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": "sentinel://127.0.0.1:26379/mymaster?db=0",
                 "OPTIONS": {"sentinel_kwargs": {"password": "x"}, "socket_timeout": 1}},
    "cluster": {"BACKEND": f"{OURS}.redis.RedisCache", "LOCATION": ["redis://127.0.0.1:7000"],
                "OPTIONS": {"cluster": True, "read_from_replicas": True, "socket_timeout": 1}},
    "django_redis": {**DJANGO_REDIS, "OPTIONS": {"db": 1, "socket_timeout": 1}},
    "pymemcache": {**PYMEMCACHE, "OPTIONS": {"connect_timeout": 0.5, "timeout": 0.5, "no_delay": True,
                                             "max_pool_size": 4, "IGNORE_EXCEPTIONS": True}},
    "django_pymemcache": {**DJANGO_PYMEMCACHE, "OPTIONS": {"no_delay": True, "use_pooling": True,
                                                           "max_pool_size": 4}},
    "pylibmc": {**PYLIBMC, "OPTIONS": {"binary": True, "username": "u", "password": "p", "CIRCUIT_BREAKER": True,
                                       "behaviors": {"ketama": True, "hash": "md5", "connect_timeout": 500,
                                                     "distribution": "consistent ketama"}}},
    "db": {**DB, "OPTIONS": {"MAX_ENTRIES": 1000, "CULL_FREQUENCY": 0, "CULL_PROBABILITY": 0.01, "UNLOGGED": True,
                             "CONNECT_TIMEOUT": 2, "QUERY_TIMEOUT": 0.5, "IGNORE_EXCEPTIONS": True}},
    "django_db": {**DJANGO_DB, "OPTIONS": {"MAX_ENTRIES": "1000", "CULL_FREQUENCY": 2}},
    "files": {"BACKEND": f"{OURS}.filebased.FileBasedCache", "LOCATION": "/tmp/altcache-option-checks",
              "OPTIONS": {"MAX_ENTRIES": 10}},
    "dummy": {**DUMMY, "OPTIONS": {}},
    "third_party": {"BACKEND": "tests.core.test_option_checks.NotABackend", "OPTIONS": {"anything": 1}},
}


def test_clean_configurations_give_no_message() -> None:
    with override_settings(CACHES=CLEAN):
        assert [str(m) for m in check_altcache_caches()] == []
        # And through Django's check framework, with Django's own cache checks alongside.
        assert [str(m) for m in checks.run_checks(tags=[checks.Tags.caches])
                if m.id.startswith("django_altcache.")] == []


class NotABackend(BaseCache):
    """A third-party BACKEND: its OPTIONS are not ours to judge."""

    def __init__(self, location: Any, params: Any) -> None:
        super().__init__(params)


def test_the_options_doc_is_generated_from_the_declarations() -> None:
    from django_altcache import optiondocs

    text = optiondocs.render()
    assert optiondocs.path().read_text() == text, "run: python -m django_altcache.optiondocs"
    for spec in optiondocs.specs().values():
        for option in spec.options.values():
            assert f"| `{option.name}` |" in text and option.doc


def test_tagged_values_where_djangos_backend_reads_them_warn() -> None:
    writer = {**REDIS, "OPTIONS": {"COMPRESSOR": "zlib"}}
    caches = {"default": {"BACKEND": f"{DJANGO}.locmem.LocMemCache"}, "ours": writer, "theirs": DJANGO_REDIS}
    with override_settings(CACHES=caches):
        [warning] = [m for m in check_altcache_caches() if m.id == "django_altcache.W401"]
    assert warning.obj == "CACHES['ours']" and "CACHES['theirs']" in warning.msg
    for harmless in ({**writer, "OPTIONS": {"COMPRESSOR": "zlib", "WRITE_FORMAT": "django"}},  # Django's bytes
                     {**writer, "KEY_PREFIX": "elsewhere"},  # not the same keys
                     {**REDIS, "OPTIONS": {"SERIALIZER": "pickle"}}):  # the default: Django's bytes
        with override_settings(CACHES={**caches, "ours": harmless}):
            assert "django_altcache.W401" not in [m.id for m in check_altcache_caches()]
