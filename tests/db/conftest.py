"""Database-cache fixtures: one cache table per test, on each vendor's database.

``vendor_alias`` runs a test on SQLite (``default``), PostgreSQL (``postgres``) and
MariaDB (``mysql``); the latter two come from runtests.py's servers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test.utils import override_settings

from django_altcache.backends.db import DatabaseCache
from django_altcache.backends.db.schema import table_ddl
from tests.conftest import server_env

ALIASES = {"default": None, "postgres": "ALTCACHE_PG_PORT", "mysql": "ALTCACHE_MYSQL_PORT"}
_names = itertools.count()


class OneDatabaseRouter:
    """Sends every cache operation (and the table) to one database."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self.alias if model._meta.app_label == "django_cache" else None

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == self.alias if app_label == "django_cache" else None


def create_table(alias: str, table: str, unlogged: bool = False) -> None:
    connection = connections[alias]
    create, indexes = table_ddl(connection, table, unlogged=unlogged)
    with connection.cursor() as cursor:
        cursor.execute(create)
        for statement in indexes:
            cursor.execute(statement)


def drop_table(alias: str, table: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")


def rows(alias: str, table: str) -> dict[str, tuple[str, Any]]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn('cache_key')}, {qn('value')}, {qn('expires')} FROM {qn(table)}")
        return {key: (value, expires) for key, value, expires in cursor.fetchall()}


@pytest.fixture(params=list(ALIASES))
def vendor_alias(request: pytest.FixtureRequest) -> str:
    var = ALIASES[request.param]
    if var:
        server_env(var, {"postgres": "PostgreSQL", "mysql": "MariaDB"}[request.param])
    return request.param


@pytest.fixture
def cache_table(vendor_alias: str, django_db_blocker: Any) -> Iterator[str]:
    table = f"altcache test {os.getpid()} {next(_names)}"
    with django_db_blocker.unblock():
        create_table(vendor_alias, table)
    yield table
    with django_db_blocker.unblock():
        drop_table(vendor_alias, table)


@pytest.fixture
def make_cache(vendor_alias: str, cache_table: str) -> Iterator[Callable[..., DatabaseCache]]:
    """``make_cache(**params)``: our DatabaseCache on ``cache_table``, routed to the vendor."""
    with override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(vendor_alias)]):
        def make(**params: Any) -> DatabaseCache:
            return DatabaseCache(cache_table, params)
        yield make


@pytest.fixture
def cache(make_cache: Callable[..., DatabaseCache]) -> DatabaseCache:
    return make_cache()
