"""Codecs on the serverless backends (locmem, filebased, dummy): the round-trip matrix,
planted and tampered values, Django's untagged bytes."""

from __future__ import annotations

import decimal
import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.cache.backends import filebased as django_filebased

from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
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

_n = iter(range(10 ** 9))


def locmem(**options: Any) -> LocMemCache:
    return LocMemCache(f"codec-tests-{next(_n)}", {"OPTIONS": options})


def filebased(tmp_path: Path, **options: Any) -> FileBasedCache:
    return FileBasedCache(str(tmp_path / f"c{next(_n)}"), {"OPTIONS": options})


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_locmem_matrix(serializer: str, compressor: str | None, sign: bool) -> None:
    scenario(locmem(**codec_options(serializer, compressor, sign)), serializer)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
async def test_locmem_matrix_async(serializer: str, compressor: str | None, sign: bool) -> None:
    await ascenario(locmem(**codec_options(serializer, compressor, sign)), serializer)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_filebased_matrix(tmp_path: Path, serializer: str, compressor: str | None, sign: bool) -> None:
    scenario(filebased(tmp_path, **codec_options(serializer, compressor, sign)), serializer)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
async def test_filebased_matrix_async(tmp_path: Path, serializer: str, compressor: str | None, sign: bool) -> None:
    await ascenario(filebased(tmp_path, **codec_options(serializer, compressor, sign)), serializer)


def test_dummy_accepts_the_options_and_stores_nothing() -> None:
    cache = DummyCache("", {"OPTIONS": codec_options("json", "zstd", True)})
    cache.set("k", (1, 2))  # a dummy never serializes: nothing to refuse
    assert cache.get("k") is None


def test_locmem_codec_bytes_and_the_default_path() -> None:
    plain = locmem()
    assert plain._codec is None and plain._loads is pickle.loads and plain._dumps is pickle.dumps
    plain.set("k", [1])
    assert plain._cache[plain.make_key("k")] == pickle.dumps([1], pickle.HIGHEST_PROTOCOL)
    coded = locmem(COMPRESSOR="zlib", COMPRESS_MIN_LENGTH=0)
    coded.set("k", [1] * 100)
    assert coded._cache[coded.make_key("k")][:1] == b"\xc1"
    coded.set("s", "text")  # the immutable scalars stay as they are
    assert coded._cache[coded.make_key("s")] == "text"



# -- locmem: plain pickles where the tag would say nothing more (Codec.plain_pickles) -------

def _pickled_at(length: int) -> list[str]:
    """A list whose pickle is exactly ``length`` bytes, compressible."""
    for n in range(length):
        value = ["x" * n]
        if len(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)) == length:
            return value
    raise AssertionError(f"no list pickles to {length} bytes")


@pytest.mark.parametrize("compressor", ["zlib", "zstd", "lz4"])
def test_locmem_plain_pickles_below_the_threshold_tagged_above(compressor: str) -> None:
    cache = locmem(COMPRESSOR=compressor, COMPRESS_MIN_LENGTH=200)
    stored = cache._cache
    below, at, above = _pickled_at(199), _pickled_at(200), _pickled_at(201)
    noise = os.urandom(400)  # pickles above the threshold, but compressing it saves nothing
    for key, value in {"below": below, "at": at, "above": above, "noise": noise}.items():
        cache.set(key, value)
    plain = pickle.dumps
    assert stored[cache.make_key("below")] == plain(below, pickle.HIGHEST_PROTOCOL)  # Django's bytes
    assert stored[cache.make_key("noise")] == plain(noise, pickle.HIGHEST_PROTOCOL)  # kept only when smaller
    for key in ("at", "above"):
        data = stored[cache.make_key(key)]
        assert data[:4] == bytes((0xC1, 0x10, 1, cache._codec.compressor.id)) and len(data) < 200
    expected = {"below": below, "at": at, "above": above, "noise": noise}
    assert {key: cache.get(key) for key in expected} == expected
    assert cache.get_many(list(expected) + ["missing"]) == expected
    cache.clear()
    cache.set_many(expected)
    assert cache.add("above", "no") is False and cache.add("big", above) is True
    assert stored[cache.make_key("big")][:1] == b"\xc1"
    assert cache.get_many(list(expected) + ["big"]) == {**expected, "big": above}


async def test_locmem_plain_pickles_async() -> None:
    cache = locmem(COMPRESSOR="zstd", COMPRESS_MIN_LENGTH=200)
    big = _pickled_at(500)
    await cache.aset("big", big)
    await cache.aset("small", [1])
    assert cache._cache[cache.make_key("big")][:1] == b"\xc1"
    assert await cache.aget("big") == big and await cache.aget("small") == [1]
    assert await cache.aget_many(["big", "small"]) == {"big": big, "small": [1]}


def test_locmem_value_paths_per_codec() -> None:
    """Pickle-serializer codecs without signing read with pickle.loads and hand tagged values to the
    codec; signing or another serializer keeps every value tagged and decoded by the codec."""
    compressing = locmem(COMPRESSOR="zstd")
    assert compressing._loads is pickle.loads and compressing._dumps is pickle.dumps
    assert compressing._squeeze_from == 1024 and compressing._other is not None
    rollout = locmem(COMPRESSOR="zstd", WRITE_FORMAT="django")
    assert rollout._squeeze_from is None and rollout._other is not None
    for options in ({"SIGN_VALUES": True, "COMPRESSOR": "zstd"}, {"SERIALIZER": "json"}):
        cache = locmem(**options)
        assert cache._loads is not pickle.loads and cache._other is None and cache._squeeze_from is None
        cache.set("k", [1])
        assert cache._cache[cache.make_key("k")][:1] == b"\xc1"


def test_locmem_aliases_of_one_location_read_each_other() -> None:
    """Aliases sharing a LOCATION share the store: each reads what the others wrote, whatever
    their options, as far as its own rules allow (signing refuses unsigned values)."""
    location = f"codec-shared-{next(_n)}"
    compressing = LocMemCache(location, {"OPTIONS": {"COMPRESSOR": "zlib", "COMPRESS_MIN_LENGTH": 100}})
    as_json = LocMemCache(location, {"OPTIONS": {"SERIALIZER": "json"}})
    signing = LocMemCache(location, {"OPTIONS": {"SIGN_VALUES": True}})
    plain = LocMemCache(location, {})
    big = {"rows": ["row"] * 200}
    compressing.set("big", big)
    as_json.set("json", {"a": [1]})
    signing.set("signed", decimal.Decimal("1.5"))
    assert compressing.get("json") == {"a": [1]} and compressing.get("signed") == decimal.Decimal("1.5")
    assert compressing.get_many(["json", "signed"]) == {"json": {"a": [1]}, "signed": decimal.Decimal("1.5")}
    assert compressing.incr("signed", 1) == decimal.Decimal("2.5")  # tagged, through _unpack
    assert as_json.get("big") == big  # the tag names pickle and zlib: any reader decodes it
    # The incr rewrote it as this alias writes it, unsigned; the signing alias refuses (and removes) that.
    assert signing.get("signed", "refused") == "refused" and not signing.has_key("signed")
    assert signing.get("big", "refused") == "refused"
    compressing.set("big", big)
    assert plain.get("big", "miss") == "miss"  # no codec here: a tagged value is a miss (docs/codecs.md)
    assert plain.has_key("big") is False


def test_locmem_corrupt_tagged_value_is_a_logged_miss(caplog: Any) -> None:
    cache = locmem(COMPRESSOR="zlib", COMPRESS_MIN_LENGTH=100)
    cache.set("k", ["row"] * 200)
    key = cache.make_key("k")
    good = cache._cache[key]
    assert good[:1] == b"\xc1"
    for bad in tamper(good)[:2] + [good[:4] + b"not zlib"]:  # truncations and garbage: bit flips may inflate
        cache._cache[key] = bad
        cache._expire_info[key] = None
        with caplog.at_level("WARNING", logger="django_altcache"):
            assert cache.get("k", "miss") == "miss"
        assert key not in cache._cache
        cache._cache[key], cache._expire_info[key] = bad, None
        assert cache.get_many(["k"]) == {}
        cache._cache[key], cache._expire_info[key] = bad, None
        with pytest.raises(ValueError):
            cache.incr("k")
        assert key not in cache._cache
    assert any("cannot decode" in r.getMessage() for r in caplog.records)


# -- planted values: a pickle in the store that would create a marker file -----------------

def test_locmem_planted_pickle_never_runs(tmp_path: Path) -> None:
    marker = str(tmp_path / "ran")
    cache = locmem(SIGN_VALUES=True)
    key = cache.make_key("victim")
    for get in (lambda: cache.get("victim", "miss"), lambda: cache.get_many(["victim"]).get("victim", "miss")):
        cache._cache[key] = evil_pickle(marker)
        cache._expire_info[key] = None
        assert get() == "miss"
        assert key not in cache._cache  # deleted
    assert_never_ran(marker)


def _file_of(cache: FileBasedCache, key: str) -> str:
    return cache._key_to_file(key)


@pytest.mark.parametrize("where", ["value", "expiry header"])
def test_filebased_planted_pickle_never_runs(tmp_path: Path, where: str) -> None:
    marker = str(tmp_path / "ran")
    cache = filebased(tmp_path, SIGN_VALUES=True)
    cache.set("victim", "good")
    fname = _file_of(cache, "victim")
    evil = evil_pickle(marker)
    with open(fname, "wb") as fh:
        if where == "value":
            fh.write(pickle.dumps(None, pickle.HIGHEST_PROTOCOL) + zlib.compress(evil))
        else:
            fh.write(evil + zlib.compress(pickle.dumps("x")))
    assert cache.get("victim", "miss") == "miss"
    assert cache.has_key("victim") is False
    assert not os.path.exists(fname)
    assert_never_ran(marker)


def test_filebased_header_never_runs_code_without_codecs(tmp_path: Path) -> None:
    marker = str(tmp_path / "ran")
    cache = filebased(tmp_path)
    cache.set("victim", "good")
    with open(_file_of(cache, "victim"), "wb") as fh:
        fh.write(evil_pickle(marker) + zlib.compress(pickle.dumps("x")))
    assert cache.get("victim", "miss") == "miss"
    assert_never_ran(marker)


def test_tampered_values_are_logged_deleted_misses(tmp_path: Path, caplog: Any) -> None:
    for cache in (locmem(SIGN_VALUES=True, COMPRESSOR="zlib"), filebased(tmp_path, SIGN_VALUES=True)):
        cache.set("k", {"v": "x" * 2000})
        if isinstance(cache, LocMemCache):
            key = cache.make_key("k")
            good = cache._cache[key]
        else:
            fname = _file_of(cache, "k")
            good = Path(fname).read_bytes()
        for bad in tamper(good[21:] if not isinstance(cache, LocMemCache) else good):
            if isinstance(cache, LocMemCache):
                cache._cache[key] = bad
                cache._expire_info[key] = None
            else:
                Path(fname).write_bytes(good[:21] + bad)
            with caplog.at_level("WARNING", logger="django_altcache"):
                assert cache.get("k", "miss") == "miss"
            assert cache.add("k", "new") is True and cache.get("k") == "new"
    assert any("cannot decode" in r.getMessage() for r in caplog.records)


def test_unreadable_log_is_rate_limited(caplog: Any) -> None:
    cache = locmem(SIGN_VALUES=True)
    key = cache.make_key("k")
    with caplog.at_level("WARNING", logger="django_altcache"):
        for _ in range(50):
            cache._cache[key] = pickle.dumps("unsigned")
            cache._expire_info[key] = None
            assert cache.get("k") is None
    assert len([r for r in caplog.records if "cannot decode" in r.getMessage()]) == 1


# -- Django's bytes, read with codecs on ------------------------------------------------------

def test_filebased_reads_djangos_files_with_codecs_on(tmp_path: Path) -> None:
    directory = str(tmp_path / "shared")
    django_cache = django_filebased.FileBasedCache(directory, {})
    django_cache.set("k", {"from": "django"})
    django_cache.set("n", 5)
    ours = FileBasedCache(directory, {"OPTIONS": {"SERIALIZER": "json", "COMPRESSOR": "zstd"}})
    assert ours.get("k") == {"from": "django"}
    assert ours.incr("n") == 6 and ours.get("n") == 6
    strict = FileBasedCache(directory, {"OPTIONS": {"SIGN_VALUES": True}})
    assert strict.get("k", "miss") == "miss"  # unsigned: refused, and removed


def test_filebased_codecs_off_writes_djangos_bytes(tmp_path: Path) -> None:
    cache = filebased(tmp_path)
    cache.set("k", [1, 2], timeout=None)
    data = Path(_file_of(cache, "k")).read_bytes()
    assert data == pickle.dumps(None, pickle.HIGHEST_PROTOCOL) + zlib.compress(pickle.dumps([1, 2], pickle.HIGHEST_PROTOCOL))


def test_write_format_django_reads_tagged_and_writes_djangos(tmp_path: Path) -> None:
    directory = str(tmp_path / "roll")
    new = FileBasedCache(directory, {"OPTIONS": {"COMPRESSOR": "zlib", "COMPRESS_MIN_LENGTH": 0}})
    new.set("tagged", "x" * 100)
    rolling = FileBasedCache(directory, {"OPTIONS": {"WRITE_FORMAT": "django"}})
    assert rolling.get("tagged") == "x" * 100
    rolling.set("plain", [3])
    django_cache = django_filebased.FileBasedCache(directory, {})
    assert django_cache.get("plain") == [3]


def test_expiry_header_fast_path_untouched() -> None:
    from django_altcache.backends import _files

    header = pickle.dumps(1.5e9, pickle.HIGHEST_PROTOCOL)
    assert _files.split(header + b"rest") == (1.5e9, len(header))
    assert struct.unpack(">d", header[12:20])[0] == 1.5e9
