"""Codecs on DatabaseCache, on each vendor: the matrix (all of it on SQLite, a cut on
PostgreSQL and MariaDB), planted and tampered rows, Django's rows read with codecs on."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections

from tests.codec_matrix import (  # noqa: F401 - _fresh_log_limiter is an autouse fixture
    MATRIX,
    MATRIX_IDS,
    REDUCED,
    _fresh_log_limiter,
    ascenario,
    assert_never_ran,
    codec_options,
    evil_pickle,
    scenario,
    tamper,
)

from .conftest import rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _cut(vendor_alias: str, combo: tuple[str, str | None, bool]) -> None:
    if vendor_alias != "default" and combo not in REDUCED:
        pytest.skip("the full matrix runs on SQLite; network databases run a cut of it")


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_matrix(vendor_alias: str, make_cache: Any, serializer: str, compressor: str | None, sign: bool) -> None:
    _cut(vendor_alias, (serializer, compressor, sign))
    scenario(make_cache(OPTIONS=codec_options(serializer, compressor, sign)), serializer)


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
async def test_matrix_async(vendor_alias: str, make_cache: Any, serializer: str, compressor: str | None,
                            sign: bool) -> None:
    _cut(vendor_alias, (serializer, compressor, sign))
    await ascenario(make_cache(OPTIONS=codec_options(serializer, compressor, sign)), serializer)


def _plant(alias: str, table: str, key: str, data: bytes) -> None:
    connection = connections[alias]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {qn(table)} SET {qn('value')} = %s WHERE {qn('cache_key')} = %s",
                       [base64.b64encode(data).decode(), key])


@pytest.mark.parametrize("how", ["get", "get_many"])
def test_planted_pickle_never_runs(vendor_alias: str, cache_table: str, make_cache: Any, tmp_path: Path,
                                   how: str) -> None:
    marker = str(tmp_path / "ran")
    cache = make_cache(OPTIONS={"SIGN_VALUES": True})
    cache.set("victim", "placeholder")
    _plant(vendor_alias, cache_table, ":1:victim", evil_pickle(marker))
    got = cache.get("victim", "miss") if how == "get" else cache.get_many(["victim"]).get("victim", "miss")
    assert got == "miss"
    assert ":1:victim" not in rows(vendor_alias, cache_table)
    assert_never_ran(marker)


def test_tampered_rows_are_deleted_misses(vendor_alias: str, cache_table: str, make_cache: Any,
                                          caplog: Any) -> None:
    cache = make_cache(OPTIONS=codec_options("json", "zlib", True))
    cache.set("k", {"v": "x" * 1000})
    good = base64.b64decode(rows(vendor_alias, cache_table)[":1:k"][0])
    assert good[:1] == b"\xc1"
    with caplog.at_level("WARNING", logger="django_altcache"):
        for bad in tamper(good):
            cache.set("k", "placeholder")
            _plant(vendor_alias, cache_table, ":1:k", bad)
            assert cache.get("k", "miss") == "miss"
            assert ":1:k" not in rows(vendor_alias, cache_table)
    assert "cannot decode" in caplog.text


def test_django_rows_read_with_codecs_on(vendor_alias: str, cache_table: str, make_cache: Any) -> None:
    django_cache = DjangoDatabaseCache(cache_table, {})
    django_cache.set("obj", {"a": (1, 2)})
    django_cache.set("n", 5)
    ours = make_cache(OPTIONS={"SERIALIZER": "msgpack", "COMPRESSOR": "zstd"})
    assert ours.get("obj") == {"a": (1, 2)}
    assert ours.incr("n") == 6 and ours.get("n") == 6  # now a tagged row: Django can no longer read it
    strict = make_cache(OPTIONS={"SIGN_VALUES": True})
    assert strict.get("obj", "miss") == "miss"


def test_codecs_off_rows_are_djangos(vendor_alias: str, cache_table: str, make_cache: Any) -> None:
    import pickle

    cache = make_cache(OPTIONS={"SIGN_VALUES": False, "COMPRESSOR": None})
    assert cache._codec is None
    cache.set("k", [1])
    assert rows(vendor_alias, cache_table)[":1:k"][0] == base64.b64encode(
        pickle.dumps([1], pickle.HIGHEST_PROTOCOL)).decode()
