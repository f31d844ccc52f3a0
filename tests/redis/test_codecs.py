"""Codecs on RedisCache against a real server: the matrix, raw ints, planted values,
django-redis and Django writing while we read."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.module_loading import import_string

from django_altcache.backends.redis import RedisCache
from django_altcache.conf import CacheConfigError
from tests.redis.conftest import for_redis_py
from tests.codec_matrix import (  # noqa: F401 - _fresh_log_limiter is an autouse fixture
    MATRIX,
    MATRIX_IDS,
    _fresh_log_limiter,
    ascenario,
    assert_never_ran,
    codec_options,
    evil_pickle,
    scenario,
    tamper,
)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_matrix(cache_for: Any, redis_url: str, serializer: str, compressor: str | None, sign: bool) -> None:
    scenario(cache_for(redis_url, OPTIONS=codec_options(serializer, compressor, sign)), serializer)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
async def test_matrix_async(cache_for: Any, redis_url: str, serializer: str, compressor: str | None,
                            sign: bool) -> None:
    await ascenario(cache_for(redis_url, OPTIONS=codec_options(serializer, compressor, sign)), serializer)


def test_ints_stay_raw_and_incr_is_atomic(cache_for: Any, redis_url: str, raw: redis.Redis) -> None:
    cache = cache_for(redis_url, OPTIONS=codec_options("json", "zstd", True))
    cache.set("n", 2 ** 70)
    assert raw.get(cache.make_key("n")) == str(2 ** 70).encode()
    cache.set("c", 41)
    assert raw.get(cache.make_key("c")) == b"41"
    assert cache.incr("c") == 42 and cache.get("c") == 42
    cache.set("t", True)  # bool is not an int here: tagged and signed
    assert raw.get(cache.make_key("t"))[:1] == b"\xc1" and cache.get("t") is True


def test_codecs_off_bytes_are_djangos(cache_for: Any, redis_url: str, raw: redis.Redis) -> None:
    cache = cache_for(redis_url, OPTIONS={"SIGN_VALUES": False})
    assert cache._codec is None
    cache.set("v", {"a": 1})
    assert raw.get(cache.make_key("v")) == pickle.dumps({"a": 1}, pickle.HIGHEST_PROTOCOL)


def test_options_never_reach_redis_py(cache_for: Any, redis_url: str) -> None:
    cache = cache_for(redis_url, OPTIONS={"SIGN_VALUES": False, "COMPRESS_MIN_LENGTH": 10, "PICKLE_VERSION": -1})
    cache.set("k", 1)
    assert cache.get("k") == 1


def test_djangos_serializer_option_still_works_and_cannot_mix(cache_for: Any, redis_url: str) -> None:
    path = "django.core.cache.backends.redis.RedisSerializer"
    cache = cache_for(redis_url, OPTIONS={"serializer": path})
    cache.set("k", [1])
    assert cache.get("k") == [1]
    with pytest.raises(CacheConfigError, match="serializer"):
        cache_for(redis_url, OPTIONS={"serializer": path, "COMPRESSOR": "zlib"})


@pytest.mark.parametrize("how", ["get", "get_many", "aget", "aget_many"])
async def test_planted_pickle_never_runs(cache_for: Any, redis_url: str, raw: redis.Redis, tmp_path: Path,
                                         how: str) -> None:
    marker = str(tmp_path / "ran")
    cache = cache_for(redis_url, OPTIONS={"SIGN_VALUES": True})
    key = cache.make_key("victim")
    raw.set(key, evil_pickle(marker))
    if how == "get":
        assert cache.get("victim", "miss") == "miss"
    elif how == "get_many":
        assert cache.get_many(["victim"]) == {}
    elif how == "aget":
        assert await cache.aget("victim", "miss") == "miss"
    else:
        assert await cache.aget_many(["victim"]) == {}
    assert raw.get(key) is None  # deleted
    assert_never_ran(marker)


def test_tampered_values_are_deleted_misses(cache_for: Any, redis_url: str, raw: redis.Redis, caplog: Any) -> None:
    cache = cache_for(redis_url, OPTIONS=codec_options("pickle", "zstd", True))
    cache.set("k", ["x" * 1000])
    key = cache.make_key("k")
    good = raw.get(key)
    with caplog.at_level("WARNING", logger="django_altcache"):
        for bad in tamper(good):
            raw.set(key, bad)
            assert cache.get("k", "miss") == "miss" and raw.get(key) is None
            assert cache.add("k", "fresh") is True  # the unreadable value is gone
    assert "cannot decode" in caplog.text


def test_signed_for_another_cache_is_refused(cache_for: Any, redis_url: str) -> None:
    a = cache_for(redis_url, OPTIONS={"SIGN_VALUES": {"salt": "a"}})
    b = cache_for(redis_url, OPTIONS={"SIGN_VALUES": {"salt": "b"}})
    a.set("k", "for a")
    assert b.get("k", "miss") == "miss"


# -- interop -------------------------------------------------------------------------------

SERIALIZERS = {"pickle": "django_redis.serializers.pickle.PickleSerializer",
               "json": "django_redis.serializers.json.JSONSerializer",
               "msgpack": "django_redis.serializers.msgpack.MSGPackSerializer"}
COMPRESSORS = {"identity": "django_redis.compressors.identity.IdentityCompressor",
               "zlib": "django_redis.compressors.zlib.ZlibCompressor",
               "gzip": "django_redis.compressors.gzip.GzipCompressor",
               "lzma": "django_redis.compressors.lzma.LzmaCompressor",
               "lz4": "django_redis.compressors.lz4.Lz4Compressor",
               "zstd": "django_redis.compressors.zstd.ZStdCompressor"}


@pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_django_redis_writes_we_read(redis_url: str, prefix: str, serializer: str, compressor: str) -> None:
    """A django-redis settings block, unchanged, on our backend: its values are read, ours too."""
    block = {"KEY_PREFIX": prefix, "OPTIONS": {"SERIALIZER": SERIALIZERS[serializer],
                                               "COMPRESSOR": COMPRESSORS[compressor]}}
    theirs = import_string("django_redis.cache.RedisCache")(for_redis_py(redis_url), block)
    ours = RedisCache(redis_url, block)
    values = {"dict": {"a": [1, "x" * 500]}, "str": "short", "float": 1.5, "int": 7, "list": [None, True]}
    theirs.set_many(values)
    assert ours.get_many(list(values)) == values
    assert ours.incr("int") == 8 and theirs.get("int") == 8
    ours.set("ours", {"b": 2})
    assert ours.get("ours") == {"b": 2}


def test_django_writes_we_read_with_codecs_on(redis_url: str, prefix: str) -> None:
    django_cache = DjangoRedisCache(for_redis_py(redis_url), {"KEY_PREFIX": prefix})
    ours = RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": {"SERIALIZER": "msgpack", "COMPRESSOR": "lz4"}})
    django_cache.set_many({"obj": {"a": (1, 2)}, "n": 5})
    assert ours.get("obj") == {"a": (1, 2)}
    assert ours.incr("n") == 6 and django_cache.get("n") == 6
    migrating = RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": {"SIGN_VALUES": {"accept_unsigned": True}}})
    assert migrating.get("obj") == {"a": (1, 2)}
    strict = RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": {"SIGN_VALUES": True}})
    assert strict.get("obj", "miss") == "miss"


def test_rollout_and_rollback(redis_url: str, prefix: str) -> None:
    """Readers first, then writers; back the same way (docs/codecs.md)."""
    def build(**options: Any) -> RedisCache:
        return RedisCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": options})

    old = DjangoRedisCache(for_redis_py(redis_url), {"KEY_PREFIX": prefix})
    readers = build(WRITE_FORMAT="django", SERIALIZER="json", COMPRESSOR="zstd")
    writers = build(SERIALIZER="json", COMPRESSOR="zstd", COMPRESS_MIN_LENGTH=0)
    old.set("a", {"v": 1})
    readers.set("b", {"v": 2})
    assert old.get("b") == {"v": 2}  # deploy 1: what readers write, old code still reads
    writers.set("c", {"v": 3})
    assert readers.get("a") == {"v": 1} and readers.get("c") == {"v": 3}
    rolling_back = build(WRITE_FORMAT="django")
    assert rolling_back.get("c") == {"v": 3}
    rolling_back.set("d", {"v": 4})
    assert old.get("d") == {"v": 4}
    with pytest.raises(pickle.UnpicklingError):
        old.get("c")  # the one irreversible thing: Django cannot read tagged values


def test_env_has_django_redis() -> None:
    assert os.environ.get("ALTCACHE_REDIS_URL")
    import_string("django_redis.cache.RedisCache")
