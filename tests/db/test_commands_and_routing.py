"""createcachetable, cachepurge and routers (the CacheRouter of Django's cache docs)."""

from __future__ import annotations

import io
import logging
import os
import time
from typing import Any

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test.utils import override_settings

from .conftest import drop_table, rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


class CacheRouter:
    """Django's docs example, with primary = PostgreSQL and replica = SQLite."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return "default" if model._meta.app_label == "django_cache" else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "postgres" if model._meta.app_label == "django_cache" else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return db == "postgres" if app_label == "django_cache" else None


def tables(alias: str) -> set[str]:
    return set(connections[alias].introspection.table_names())


@pytest.fixture
def names():
    ours, djangos = f"alt ours {os.getpid()}", f"alt django {os.getpid()}"
    yield ours, djangos
    for alias in ("default", "postgres"):
        if alias in connections:
            for table in (ours, djangos):
                drop_table(alias, table)


def caches_for(ours: str, djangos: str, **ours_options: Any) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django_altcache.backends.db.DatabaseCache", "LOCATION": ours,
                    "OPTIONS": ours_options},
        "djangos": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": djangos},
        "mem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }


def run(*args: Any, **kwargs: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_createcachetable_creates_ours_and_djangos_idempotently(names):
    ours, djangos = names
    with override_settings(CACHES=caches_for(ours, djangos)):
        assert run("createcachetable", verbosity=2) == (
            f"Cache table '{ours}' created.\nCache table '{djangos}' created.\n")
        assert {ours, djangos} <= tables("default")
        assert run("createcachetable") == (
            f"Cache table '{ours}' already exists.\nCache table '{djangos}' already exists.\n")
        dry = run("createcachetable", "another table", dry_run=True)
        assert dry.startswith('CREATE TABLE "another table" (') and "CREATE INDEX" in dry
        assert "another table" not in tables("default")


def test_createcachetable_refuses_a_table_name_with_quotes():
    with pytest.raises(CommandError, match="may not contain"):
        run("createcachetable", 'bad"name')


def test_router_decides_tables_reads_and_writes(postgres_port, names, caplog):
    ours, djangos = names
    with override_settings(CACHES=caches_for(ours, djangos), DATABASE_ROUTERS=[CacheRouter()]):
        assert run("createcachetable", database="default") == ""
        assert ours not in tables("default")
        run("createcachetable", database="postgres")
        assert {ours, djangos} <= tables("postgres")

        cache = caches["default"]
        cache.set("k", "written to primary")
        assert ":1:k" in rows("postgres", ours)
        # Reads go to the replica; give it a table (as replication would) holding other data.
        with override_settings(DATABASE_ROUTERS=[]):
            call_command("createcachetable", ours, database="default", verbosity=0)
            caches["default"].set("k", "on the replica")
            caches["default"].set("corrupt", "x")
        qn = connections["default"].ops.quote_name
        with connections["default"].cursor() as cursor:
            cursor.execute(f"UPDATE {qn(ours)} SET {qn('value')} = 'bad!' WHERE {qn('cache_key')} = ':1:corrupt'")
        cache.set("corrupt", "good on primary")
        assert cache.get("k") == "on the replica"
        with caplog.at_level(logging.WARNING, logger="django_altcache"):
            assert cache.get("corrupt") is None
        # The removal of a corrupt row is a write: it went to the primary, conditional on the
        # bad value, so the primary's good row survives and the replica was not written.
        assert rows("postgres", ours)[":1:corrupt"][0] != "bad!"
        assert rows("default", ours)[":1:corrupt"][0] == "bad!"


def test_unlogged_table_on_postgres(postgres_port, names):
    ours, djangos = names
    with override_settings(CACHES=caches_for(ours, djangos, UNLOGGED=True)):
        run("createcachetable", database="postgres")
        run("createcachetable", djangos, database="postgres", unlogged=False)
    with connections["postgres"].cursor() as cursor:
        cursor.execute("SELECT relname, relpersistence FROM pg_class WHERE relname IN (%s, %s)", [ours, djangos])
        persistence = dict(cursor.fetchall())
    assert persistence == {ours: "u", djangos: "p"}


def test_cachepurge_removes_only_expired_rows(names):
    ours, djangos = names
    with override_settings(CACHES=caches_for(ours, djangos)):
        run("createcachetable")
        for alias in ("default", "djangos"):
            caches[alias].set("old", 1, 0.01)
            caches[alias].set("live", 2, 100)
            caches[alias].set("forever", 3, None)
        time.sleep(0.05)
        out = run("cachepurge", batch_size=1)
        assert out == (f"Purged 1 expired entries from cache table '{ours}'.\n"
                       f"Purged 1 expired entries from cache table '{djangos}'.\n")
        assert set(rows("default", ours)) == set(rows("default", djangos)) == {":1:live", ":1:forever"}
        with pytest.raises(CommandError, match="not a database cache"):
            run("cachepurge", "mem")
        with pytest.raises(CommandError, match="Unknown cache alias"):
            run("cachepurge", "nope")
