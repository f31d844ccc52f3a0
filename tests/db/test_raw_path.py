"""The cache's statements on the raw driver connection keep what Django's cursor gives.

Routing is covered by test_commands_and_routing.py (the router decides every statement);
here: the caller's transaction, DEBUG's ``connection.queries``, execute wrappers, error
classes, Django's async-unsafe check, and PostgreSQL's prepared statements.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone as dj_timezone

from django_altcache.backends.db import DatabaseCache
from django_altcache.backends.db import raw as raw_path

from .conftest import OneDatabaseRouter, rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

# Culling off: every operation is then exactly one statement.
NO_CULL = {"OPTIONS": {"CULL_PROBABILITY": 0}}


def blockers(connection):
    """What would send the cache to Django's cursor (empty: the raw path is open)."""
    from django.db.backends.utils import CursorWrapper

    found = {"queries_logged": connection.queries_logged, "force_debug_cursor": connection.force_debug_cursor,
             "execute_wrappers": list(connection.execute_wrappers),
             "cursor patched": raw_path._cursor_replaced(connection),
             "CursorWrapper.execute patched": CursorWrapper.execute is not raw_path._DJANGO_EXECUTE,
             "running loop": asyncio._get_running_loop() is not None}
    return {name: value for name, value in found.items() if value}


def test_the_raw_path_is_taken_by_default(vendor_alias, make_cache):
    cache = make_cache(**NO_CULL)
    cache.set("k", 1)
    connection = connections[vendor_alias]
    with cache._dialect(vendor_alias).cursor(connection) as cursor:
        expected = {"default": raw_path.SQLiteCursor, "postgres": raw_path.PGCursor}.get(vendor_alias)
        if expected is None:  # MySQL/MariaDB: Django's cursor
            assert not isinstance(cursor, raw_path.RawCursor)
        else:
            assert isinstance(cursor, expected), blockers(connection)


@pytest.mark.parametrize("op", ["set", "add", "touch", "delete", "incr", "set_many", "delete_many"])
def test_a_write_that_opens_the_transaction_is_rolled_back_with_it(vendor_alias, make_cache, op):
    cache = make_cache(**NO_CULL)
    cache.set("k", 5, 1000)
    before = rows(vendor_alias, cache._table)
    calls = {
        "set": lambda: cache.set("k", 6), "add": lambda: cache.add("new", 1), "touch": lambda: cache.touch("k", 5),
        "delete": lambda: cache.delete("k"), "incr": lambda: cache.incr("k"),
        "set_many": lambda: cache.set_many({"k": 7, "other": 1}), "delete_many": lambda: cache.delete_many(["k"]),
    }

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic(using=vendor_alias):
            calls[op]()  # the first statement of the transaction
            raise Rollback
    assert rows(vendor_alias, cache._table) == before


def test_reads_see_the_callers_uncommitted_writes(vendor_alias, make_cache):
    cache = make_cache(**NO_CULL)
    with transaction.atomic(using=vendor_alias):
        connection = connections[vendor_alias]
        qn = connection.ops.quote_name
        cache.set("k", "committed?")
        with connection.cursor() as cursor:  # a write of the site, in the same transaction
            cursor.execute(f"DELETE FROM {qn(cache._table)}")
        assert cache.get("k") is None
        assert not cache.has_key("k")
        transaction.set_rollback(True, using=vendor_alias)
    assert rows(vendor_alias, cache._table) == {}


def test_a_broken_transaction_raises_djangos_error(vendor_alias, make_cache):
    cache = make_cache(**NO_CULL)
    with transaction.atomic(using=vendor_alias):
        transaction.set_rollback(True, using=vendor_alias)
        with pytest.raises(TransactionManagementError):
            cache.get("k")


def test_statements_show_in_connection_queries_under_debug(vendor_alias, make_cache):
    cache = make_cache(**NO_CULL)
    connection = connections[vendor_alias]
    table = connection.ops.quote_name(cache._table)
    with override_settings(DEBUG=True):
        connection.queries_log.clear()
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.has_key("k")
        assert cache.incr("k") == 2
        cache.delete("k")
        logged = [query["sql"] for query in connection.queries]
    assert len(logged) == 6, logged  # incr: a read, then the compare-and-swap
    assert all(table in sql for sql in logged)
    # assertNumQueries (CaptureQueriesContext) counts them too, without DEBUG.
    with CaptureQueriesContext(connection) as captured:
        cache.get("k")
        cache.set("k", 1)
    assert len(captured) == 2


def test_execute_wrappers_see_every_statement(vendor_alias, make_cache):
    cache = make_cache(**NO_CULL)
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[vendor_alias].execute_wrapper(wrapper):
        cache.set("k", 1)
        cache.get("k")
        cache.delete("k")
    assert len(seen) == 3


def test_driver_errors_become_djangos_classes(vendor_alias):
    from django.core.cache.backends.db import DatabaseCache as DjangoCache

    with override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(vendor_alias)]):
        errors = []
        for cls in (DatabaseCache, DjangoCache):
            with pytest.raises(DatabaseError) as info:
                cls("no such cache table", {}).get("k")
            errors.append(info.value)
    ours, djangos = errors
    assert type(ours) is type(djangos)
    assert type(ours.__cause__) is type(djangos.__cause__)


def test_a_sync_call_from_a_running_event_loop_is_refused_as_djangos_is(cache):
    async def call_in_loop():
        cache.get("k")

    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(call_in_loop())


@pytest.mark.parametrize("use_tz,time_zone", [(True, None), (True, "America/Chicago"), (False, None)])
def test_sqlite_datetimes_are_djangos_text(use_tz, time_zone, settings):
    settings.USE_TZ = use_tz
    databases = {alias: dict(connections.settings[alias]) for alias in connections.settings}
    connection = connections["default"]
    saved = connection.settings_dict.get("TIME_ZONE")
    connection.settings_dict["TIME_ZONE"] = time_zone
    connection.__dict__.pop("timezone", None)
    connection.__dict__.pop("timezone_name", None)
    try:
        dialect = DatabaseCache("any", {})._dialect("default")
        settings.TIME_ZONE = "UTC"  # a settings change: the dialect reads the zone again
        base = datetime(2026, 3, 8, 7, 59, 59, 999999, tzinfo=timezone.utc) if use_tz else datetime(2026, 3, 8, 1, 2, 3)
        for when in (base, base + timedelta(microseconds=1), base.replace(microsecond=0)):
            assert dialect.adapt_datetime(when) == connection.ops.adapt_datetimefield_value(when)
        before = connection.ops.adapt_datetimefield_value(dj_timezone.now())
        now = dialect.now()
        after = connection.ops.adapt_datetimefield_value(dj_timezone.now())
        assert before <= now <= after
    finally:
        connection.settings_dict["TIME_ZONE"] = saved
        connection.__dict__.pop("timezone", None)
        connection.__dict__.pop("timezone_name", None)
    assert databases  # the DATABASES entries themselves were not replaced


# -- PostgreSQL's prepared statements --------------------------------------------------------
def prepared_names(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def pg_cache(postgres_port):
    from .conftest import create_table, drop_table

    table = "altcache prepared"
    create_table("postgres", table)
    with override_settings(DATABASE_ROUTERS=[OneDatabaseRouter("postgres")]):
        yield lambda **options: DatabaseCache(table, {"OPTIONS": {"CULL_PROBABILITY": 0, **options}})
    drop_table("postgres", table)


def test_postgres_statements_are_prepared_once_per_connection(pg_cache):
    cache = pg_cache()
    connection = connections["postgres"]
    cache.set("k", 1)
    assert cache.get("k") == 1
    ours = {name for name in prepared_names("postgres") if name.startswith("altcache_")}
    assert len(ours) == 2, blockers(connection)
    assert connection.connection.prepare_threshold is None  # the site's setting is untouched
    for _ in range(3):
        cache.set("k", 2)
        assert cache.get("k") == 2
    assert {name for name in prepared_names("postgres") if name.startswith("altcache_")} == ours
    connection.close()  # a new connection: prepared again
    assert cache.get("k") == 2
    assert {name for name in prepared_names("postgres") if name.startswith("altcache_")} == {
        name for name in ours if name in prepared_names("postgres")}


def test_postgres_statements_deallocated_behind_our_back_are_prepared_again(pg_cache):
    cache = pg_cache()
    cache.set("k", 1)
    assert cache.get("k") == 1
    with connections["postgres"].cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert cache.get("k") == 1
    cache.set("k", 3)
    assert cache.get("k") == 3


@pytest.mark.parametrize("how", ["option", "pgbouncer setting"])
def test_postgres_statements_unprepared_for_transaction_poolers(pg_cache, how):
    connection = connections["postgres"]
    saved = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
    if how == "option":
        cache = pg_cache(PREPARE_STATEMENTS=False)
    else:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
        cache = pg_cache()
    try:
        connection.close()
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.incr("k") == 2
        assert not {name for name in prepared_names("postgres") if name.startswith("altcache_")}
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = saved


def test_postgres_prepare_option_true_wins_over_the_pgbouncer_setting(pg_cache):
    connection = connections["postgres"]
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        connection.close()
        cache = pg_cache(PREPARE_STATEMENTS=True)
        cache.set("k", 1)
        assert {name for name in prepared_names("postgres") if name.startswith("altcache_")}
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = False
