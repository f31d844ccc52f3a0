"""DatabaseCache's options and LOCATION (the table name), declared once for the backend and the checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django

from django_altcache.conf import CacheConfigError, Option, Parsed, Spec
from django_altcache.conf.common import COMMON, CULLING, RELATIONS
from django_altcache.conf.local import TIMED_LOCAL_CACHE
from django_altcache.conf.values import boolean, optional, positive_seconds_or_none, probability

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_QUERY_TIMEOUT = 5.0
# clear() and purge batches may legitimately delete a whole table: they get at least this.
BULK_QUERY_TIMEOUT = 60.0
# Quote characters of every vendor's identifiers, and NUL, which no driver can send.
FORBIDDEN_IN_TABLE = ('"', "`", "'", "\x00", "[", "]")
_FORBIDDEN = frozenset(FORBIDDEN_IN_TABLE)

CULL_PROBABILITY = Option(
    "CULL_PROBABILITY", optional(probability), None, django=django.VERSION >= (6, 2), group="Database",
    doc="Chance that a write checks the row count and culls (Django 6.2's option). Default: every write "
        "for small tables, about 100 rows scanned per write for big ones.")
UNLOGGED = Option("UNLOGGED", boolean, False, group="Database",
                  doc="createcachetable makes a PostgreSQL UNLOGGED table (faster writes, emptied after a crash).")
CONNECT_TIMEOUT: Option[float | None] = Option("CONNECT_TIMEOUT", positive_seconds_or_none, DEFAULT_CONNECT_TIMEOUT, bound=True,
                         group="Database",
                         doc="Seconds a connection the cache opens may take (PostgreSQL, MySQL/MariaDB); None: unbounded.")
QUERY_TIMEOUT: Option[float | None] = Option("QUERY_TIMEOUT", positive_seconds_or_none, DEFAULT_QUERY_TIMEOUT, bound=True,
                       group="Database",
                       doc="Seconds one cache statement may take before its connection is cut (PostgreSQL, "
                           "MySQL/MariaDB); None: unbounded.")
PREPARE_STATEMENTS: Option[bool | None] = Option(
    "PREPARE_STATEMENTS", optional(boolean), None, group="Database",
    doc="PostgreSQL: prepare the cache's statements once per connection (True) or bind them unnamed "
        "(False, for PgBouncer in transaction mode without max_prepared_statements). Default: prepare "
        "unless the database sets DISABLE_SERVER_SIDE_CURSORS.")
DB_OPTIONS = (CULL_PROBABILITY, UNLOGGED, CONNECT_TIMEOUT, QUERY_TIMEOUT, PREPARE_STATEMENTS)


@dataclass(frozen=True)
class Timeouts:
    connect: float | None = DEFAULT_CONNECT_TIMEOUT
    query: float | None = DEFAULT_QUERY_TIMEOUT

    @property
    def bulk(self) -> float | None:
        return None if self.query is None else max(self.query, BULK_QUERY_TIMEOUT)


def timeouts_of(parsed: Parsed) -> Timeouts:
    return Timeouts(connect=parsed[CONNECT_TIMEOUT], query=parsed[QUERY_TIMEOUT])


def check_table_name(table: Any) -> str:
    if not isinstance(table, str) or not table.strip():
        raise CacheConfigError(f"a DatabaseCache's LOCATION is the table name, got {table!r}", ("LOCATION",))
    if _FORBIDDEN.isdisjoint(table):  # the usual case, checked per instance built: in C
        return table
    bad = sorted({ch for ch in table if ch in FORBIDDEN_IN_TABLE})
    if bad:
        raise CacheConfigError(f"{table!r}: a cache table name may not contain "
                               f"{', '.join(repr(ch) for ch in bad)}", ("LOCATION",))
    return table


SPEC = Spec("db", [*CULLING, *DB_OPTIONS, *COMMON, TIMED_LOCAL_CACHE], relations=RELATIONS)
