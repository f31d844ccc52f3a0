"""Codecs on PyMemcacheCache and PyLibMCCache (each test runs on both): the matrix,
memcached's flags contract, the 1 MB item limit, planted values, Django interop."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from pymemcache.client.base import Client as RawClient

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

FLAG_PICKLE, FLAG_CODEC = 1, 1 << 8


@pytest.fixture
def raw(memcached_location: str) -> Any:
    host, port = memcached_location.rsplit(":", 1)
    client = RawClient((host, int(port)), default_noreply=False)  # each write acknowledged
    yield client
    client.close()


@pytest.fixture
def coded(cache_for: Any, memcached_location: str) -> Any:
    def build(prefix: str = "codec-tests", **options: Any) -> Any:
        cache = cache_for(memcached_location, KEY_PREFIX=prefix, OPTIONS=options)
        cache.clear()
        return cache
    return build


def _skip(library: str, serializer: str, compressor: str | None, sign: bool) -> frozenset[str]:
    # Without a codec pylibmc stores a bool as an int (reads back 1/0) and a str subclass
    # (SafeString) as a plain str, with Django's backend too; with one, both are tagged
    # values and keep their type.
    default = (serializer, compressor, sign) == ("pickle", None, False)
    return frozenset({"true", "false", "safe"}) if library == "pylibmc" and default else frozenset()


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_matrix(coded: Any, library: str, serializer: str, compressor: str | None, sign: bool) -> None:
    scenario(coded(**codec_options(serializer, compressor, sign)), serializer,
             _skip(library, serializer, compressor, sign))


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
async def test_matrix_async(coded: Any, library: str, serializer: str, compressor: str | None, sign: bool) -> None:
    await ascenario(coded(**codec_options(serializer, compressor, sign)), serializer,
                    _skip(library, serializer, compressor, sign))


def test_flags_contract(coded: Any, raw: Any, library: str) -> None:
    cache = coded(**codec_options("json", "zstd", True))
    cache.set("n", 2 ** 40)
    assert raw.get(cache.make_key("n")) == str(2 ** 40).encode()  # the raw client: bytes as stored
    assert cache.incr("n") == 2 ** 40 + 1  # the server's incr
    cache.set("obj", {"a": 1})
    got = raw.gets_many([cache.make_key("obj")])
    assert got[cache.make_key("obj")][0][:1] == b"\xc1"


def _flags(raw: Any, key: str) -> int:
    line = raw.raw_command(f"get {key}".encode(), b"END").split(b"\r\n")[0]
    return int(line.split()[2])


def test_stored_flags(coded: Any, raw: Any, library: str) -> None:
    cache = coded(SERIALIZER="msgpack")
    cache.set("obj", [1])
    cache.set("n", 7)
    assert _flags(raw, cache.make_key("obj")) == FLAG_CODEC | FLAG_PICKLE
    assert _flags(raw, cache.make_key("n")) == (2 if library == "pymemcache" else 4)


def test_item_limit(coded: Any, library: str) -> None:
    cache = coded(COMPRESSOR="zstd")
    compressible = "memcached " * 400_000  # 4 MB pickled, a few KB compressed
    cache.set("big", compressible)
    assert cache.get("big") == compressible
    cache.set("near", os.urandom(1000 * 1000 - 4096))  # incompressible, just under 1 MB: stored as is
    assert len(cache.get("near")) == 1000 * 1000 - 4096
    cache.set("over", "kept")
    with pytest.raises(Exception):  # noqa: B017 - the library's "too large" error, as with Django
        cache.set("over", os.urandom(1024 * 1024 + 16))
    assert cache.get("over") is None  # the old value does not survive a refused set


def _planted_get(cache: Any, how: str) -> Any:
    if how == "get":
        return cache.get("victim", "miss")
    return cache.get_many(["victim"]).get("victim", "miss")


@pytest.mark.parametrize("how", ["get", "get_many"])
def test_planted_pickle_never_runs(coded: Any, raw: Any, tmp_path: Path, how: str, library: str) -> None:
    marker = str(tmp_path / "ran")
    cache = coded(SIGN_VALUES=True)
    key = cache.make_key("victim")
    for flags in (FLAG_PICKLE, FLAG_PICKLE | FLAG_CODEC, FLAG_PICKLE | 8, FLAG_PICKLE | FLAG_CODEC | 8):
        raw.set(key, evil_pickle(marker), flags=flags)
        assert _planted_get(cache, how) == "miss"
        if not (library == "pylibmc" and how == "get_many" and flags & 8):
            assert raw.get(key) is None  # deleted
        # else: pylibmc's get_multi answers {} for a batch holding a value its C code
        # cannot inflate (no error to act on): a miss, not deleted (docs/codecs.md).
        raw.delete(key)
    assert_never_ran(marker)


def test_tampered_values_are_deleted_misses(coded: Any, raw: Any, caplog: Any) -> None:
    cache = coded(**codec_options("pickle", "lz4", True))
    cache.set("k", ["x" * 1000])
    key = cache.make_key("k")
    good = raw.get(key)
    with caplog.at_level("WARNING", logger="django_altcache"):
        for bad in tamper(good):
            raw.set(key, bad, flags=FLAG_CODEC | FLAG_PICKLE)
            assert cache.get("k", "miss") == "miss" and raw.get(key) is None
            assert cache.add("k", "fresh") is True
            raw.set(key, bad, flags=FLAG_CODEC | FLAG_PICKLE)
            assert cache.get_many(["k"]) == {}
    assert "cannot decode" in caplog.text



def test_corrupt_plain_pickles_are_deleted_misses(coded: Any, raw: Any, caplog: Any) -> None:
    """The inline path (pickle serializer, unsigned, not compressed) reports what it cannot load
    as the codec does: a logged miss, deleted, on get and get_many."""
    cache = coded(COMPRESSOR="zstd")
    cache.set("k", {"small": [1, 2]})
    key = cache.make_key("k")
    good = raw.get(key)
    assert good[:4] == bytes((0xC1, 0x10, 1, 0))  # tagged, pickle, not compressed, unsigned
    with caplog.at_level("WARNING", logger="django_altcache"):
        for bad in (good[:6], good[:4] + b"garbage", good[:-1]):
            raw.set(key, bad, flags=FLAG_CODEC | FLAG_PICKLE)
            assert cache.get("k", "miss") == "miss" and raw.get(key) is None
            raw.set(key, bad, flags=FLAG_CODEC | FLAG_PICKLE)
            assert cache.get_many(["k"]) == {} and raw.get(key) is None
            assert cache.add("k", "fresh") is True and cache.get("k") == "fresh"
    assert "cannot decode" in caplog.text

def test_django_writes_we_read(cache_for: Any, memcached_location: str, django_cache: Any) -> None:
    django_cache.clear()
    django_cache.set_many({"obj": {"a": (1, 2)}, "s": "text", "b": b"bytes", "n": 5})
    ours = cache_for(memcached_location, KEY_PREFIX=django_cache.key_prefix,
                     OPTIONS={"SERIALIZER": "json", "COMPRESSOR": "zlib"})
    assert ours.get_many(["obj", "s", "b", "n"]) == {"obj": {"a": (1, 2)}, "s": "text", "b": b"bytes", "n": 5}
    assert ours.incr("n") == 6 and django_cache.get("n") == 6
    strict = cache_for(memcached_location, KEY_PREFIX=django_cache.key_prefix, OPTIONS={"SIGN_VALUES": True})
    django_cache.set("obj", {"a": 1})
    assert strict.get("obj", "miss") == "miss" and strict.get("n") == 6  # raw ints stay readable


def test_codecs_off_bytes_are_djangos(coded: Any, raw: Any) -> None:
    cache = coded(SIGN_VALUES=False)
    assert cache._codec is None
    cache.set("v", {"a": 1})
    assert raw.get(cache.make_key("v")) == pickle.dumps({"a": 1}, pickle.HIGHEST_PROTOCOL)
    assert _flags(raw, cache.make_key("v")) == FLAG_PICKLE


def test_django_reading_our_values(cache_for: Any, memcached_location: str, django_cache: Any,
                                   library: str) -> None:
    """The documented one-way door: Django's pymemcache reads a tagged value as None
    (pymemcache swallows the unpickling error), Django's pylibmc raises."""
    ours = cache_for(memcached_location, KEY_PREFIX=django_cache.key_prefix, OPTIONS={"COMPRESSOR": "zlib"})
    ours.set("k", {"a": 1})
    if library == "pymemcache":
        assert django_cache.get("k", "default") is None
    else:
        with pytest.raises(Exception):  # noqa: B017 - pickle's error, through pylibmc
            django_cache.get("k")


def test_shared_client_per_configuration(memcached_location: str, cache_for: Any) -> None:
    a = cache_for(memcached_location, OPTIONS={"SERIALIZER": "json"})
    b = cache_for(memcached_location, OPTIONS={"SERIALIZER": "json"})
    c = cache_for(memcached_location, OPTIONS={"SERIALIZER": "msgpack"})
    assert a._handle is b._handle and a._handle is not c._handle
