"""The cache API on each vendor: semantics Django's tests do not pin, and our fixes."""

from __future__ import annotations

import base64
import logging
import pickle
import time
from datetime import datetime

import pytest
from django.core.cache.backends.base import InvalidCacheKey
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from .conftest import rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def raw_expires(alias, table, key):
    value = rows(alias, table)[key][1]
    if isinstance(value, str):  # SQLite returns the text as stored
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None) if getattr(value, "tzinfo", None) else value


def test_round_trip(cache):
    cache.set("a", {"x": 1})
    assert cache.get("a") == {"x": 1}
    assert cache.get("missing", "dflt") == "dflt"
    assert cache.add("a", 2) is False
    assert cache.add("b", 2) is True
    cache.set_many({"c": 3, "d": [4]})
    assert cache.get_many(["a", "b", "c", "d", "zz"]) == {"a": {"x": 1}, "b": 2, "c": 3, "d": [4]}
    assert cache.has_key("c") and not cache.has_key("zz")
    assert cache.touch("c", 100) is True and cache.touch("zz") is False
    assert cache.delete("c") is True and cache.delete("c") is False
    cache.delete_many(["a", "b"])
    assert cache.get_many(["a", "b", "d"]) == {"d": [4]}
    cache.set("ключ-清", "unicode key")
    assert cache.get_many(["ключ-清"]) == {"ключ-清": "unicode key"}
    cache.clear()
    assert cache.get("d") is None


def test_set_many_and_get_many_beyond_one_statement(cache):
    data = {f"k{i}": i for i in range(1500)}  # over SQLite's 999 parameters and our 500-row chunks
    assert cache.set_many(data) == []
    assert cache.get_many(list(data)) == data
    cache.delete_many(list(data))
    assert cache.get_many(list(data)) == {}


def test_sub_second_expiry(vendor_alias, cache_table, cache):
    cache.set("short", "v", 0.6)
    assert cache.get("short") == "v"
    stored = raw_expires(vendor_alias, cache_table, ":1:short")
    assert stored.microsecond != 0 or time.time() % 1 == 0  # microseconds are kept
    deadline = time.monotonic() + 5
    while cache.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get("short") is None
    assert cache.add("short", "again") is True  # an expired row does not block add


def test_incr_is_in_place_and_keeps_expiry(vendor_alias, cache_table, cache):
    cache.set("n", 10, 1000)
    before = raw_expires(vendor_alias, cache_table, ":1:n")
    assert cache.incr("n", 5) == 15
    assert cache.decr("n", 3) == 12
    assert cache.get("n") == 12
    assert raw_expires(vendor_alias, cache_table, ":1:n") == before
    with pytest.raises(ValueError):
        cache.incr("absent")
    cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.incr("s")
    assert cache.get("s") == "text"


def test_reads_never_write(vendor_alias, cache_table, cache):
    cache.set("gone", 1, 0.05)
    cache.set("live", 2)
    time.sleep(0.1)
    connection = connections[vendor_alias]
    with CaptureQueriesContext(connection) as captured:
        assert cache.get("gone") is None
        assert cache.get_many(["gone", "live"]) == {"live": 2}
        assert cache.has_key("gone") is False
    assert len(captured) == 3
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in captured)
    assert ":1:gone" in rows(vendor_alias, cache_table)  # left for culling / cachepurge


@pytest.mark.parametrize("bad", [b"!!not base64!!", pickle.dumps(list(range(100)))[:-7]])
def test_corrupt_row_is_a_logged_miss_and_removed(vendor_alias, cache_table, cache, caplog, bad):
    cache.set("bad", "placeholder")
    cache.set("good", "fine")
    raw = bad.decode("latin1") if bad.startswith(b"!") else base64.b64encode(bad).decode()
    connection = connections[vendor_alias]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {qn(cache_table)} SET {qn('value')} = %s WHERE {qn('cache_key')} = %s",
                       [raw, ":1:bad"])
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        assert cache.get_many(["bad", "good"]) == {"good": "fine"}
    assert any("unreadable value" in r.getMessage() and ":1:bad" in r.getMessage() for r in caplog.records)
    assert ":1:bad" not in rows(vendor_alias, cache_table)
    assert cache.get("good") == "fine"


def test_corrupt_row_inside_a_transaction_is_removed_in_it(vendor_alias, cache_table, cache):
    cache.set("bad", "placeholder")
    connection = connections[vendor_alias]
    qn = connection.ops.quote_name
    with transaction.atomic(using=vendor_alias):
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {qn(cache_table)} SET {qn('value')} = 'bad!' WHERE {qn('cache_key')} = ':1:bad'")
        assert cache.get("bad") is None
        cache.set("after", 1)  # the caller's transaction is still usable
    assert ":1:bad" not in rows(vendor_alias, cache_table) and cache.get("after") == 1


@pytest.mark.filterwarnings("ignore::django.core.cache.backends.base.CacheKeyWarning")
@pytest.mark.parametrize("key", ["k" * 256, "nul\x00key"])
def test_key_the_column_cannot_hold_is_refused_and_nothing_written(vendor_alias, cache_table, cache, key):
    cache.set("keep", 1)
    for call in (lambda: cache.set(key, 1), lambda: cache.add(key, 1),
                 lambda: cache.set_many({"fine": 1, key: 2}), lambda: cache.get(key),
                 lambda: cache.incr(key), lambda: cache.delete_many(["keep", key])):
        with pytest.raises(InvalidCacheKey, match="cache_key|NUL"):
            call()
    assert set(rows(vendor_alias, cache_table)) == {":1:keep"}


@pytest.mark.filterwarnings("ignore::django.core.cache.backends.base.CacheKeyWarning")
def test_a_key_of_exactly_255_characters_is_stored(cache):
    key = "k" * (255 - len(":1:"))
    cache.set(key, "edge")
    assert cache.get(key) == "edge"


def test_writes_join_the_callers_transaction(vendor_alias, cache):
    cache.set("tx", "before")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic(using=vendor_alias):
            cache.set("tx", "inside")
            assert cache.incr("counter", 1) if cache.add("counter", 0) else True
            assert cache.get("tx") == "inside"
            raise Rollback
    assert cache.get("tx") == "before"
    assert cache.get("counter") is None


def test_async_twins(cache):
    import asyncio

    from asgiref.sync import sync_to_async

    async def scenario():
        await cache.aset("a", 1)
        assert await cache.aincr("a") == 2
        assert await cache.aget_many(["a"]) == {"a": 2}
        assert await cache.adelete("a") is True
        # The executor thread opened its own connections; close them or test DBs cannot be dropped.
        await sync_to_async(connections.close_all)()

    asyncio.run(scenario())


def test_incr_with_a_stale_guess_from_another_writer(make_cache):
    # Two instances stand for two processes: each one's remembered value goes stale.
    first, second = make_cache(), make_cache()
    first.set("n", 0, None)
    for expected in range(1, 11):
        writer = first if expected % 2 else second
        assert writer.incr("n") == expected
    second.set("n", 100)
    assert first.incr("n") == 101
    first.delete("n")
    with pytest.raises(ValueError):
        second.incr("n")


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_postgres_prepared_statements_when_the_database_enables_them(postgres_port, settings):
    from django_altcache.backends.db import DatabaseCache

    from .conftest import OneDatabaseRouter, create_table, drop_table

    settings.DATABASE_ROUTERS = [OneDatabaseRouter("postgres")]
    connection = connections["postgres"]
    connection.ensure_connection()
    raw = connection.connection
    saved = raw.prepare_threshold
    create_table("postgres", "prepared cache")
    try:
        raw.prepare_threshold = 0  # as OPTIONS {"prepare_threshold": 0} would
        cache = DatabaseCache("prepared cache", {})
        for round_no in range(3):
            cache.set("p", round_no)
            assert cache.get("p") == round_no
            assert cache.incr("p", 10) == round_no + 10
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
        assert any('"prepared cache"' in sql and "SELECT" in sql for sql in prepared)
    finally:
        raw.prepare_threshold = saved
        drop_table("postgres", "prepared cache")


def test_incr_version_moves_the_entry_and_keeps_its_expiry(vendor_alias, cache_table, cache):
    cache.set("v", "value", 1000)
    before = raw_expires(vendor_alias, cache_table, ":1:v")
    cache.set("v", "stale v2", 5, version=2)
    assert cache.incr_version("v") == 2
    assert cache.get("v") is None
    assert cache.get("v", version=2) == "value"
    assert raw_expires(vendor_alias, cache_table, ":2:v") == before
    assert cache.decr_version("v", version=2) == 1
    assert cache.get("v") == "value"
    with pytest.raises(ValueError):
        cache.incr_version("absent")
    cache.set("dead", 1, -1)
    with pytest.raises(ValueError):
        cache.incr_version("dead")
