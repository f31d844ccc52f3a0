"""The SQL of the database cache, one small class per vendor.

Every statement is built once per (connection, table) from quoted names; user data
only ever travels as parameters. ``UpsertDialect`` serves SQLite (3.24+) and
PostgreSQL (``INSERT ... ON CONFLICT``), ``MySQLDialect`` MySQL/MariaDB
(``INSERT ... ON DUPLICATE KEY UPDATE``), and ``PortableDialect`` any other vendor
with Django's own approach (look, then UPDATE or INSERT, in a transaction).

Each dialect also says what resilience needs to know about its vendor (``network``,
``is_outage``, ``socket_fd``): which errors mean the server is unreachable, and which
socket the query watchdog may cut.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import raw

psycopg = raw.psycopg  # psycopg 3 only; with psycopg2 PostgreSQL uses Django's cursors

# Settings a dialect's datetime adaptation reads; changing one (tests) makes it read again.
_TIME_SETTINGS = frozenset({"USE_TZ", "TIME_ZONE", "DATABASES"})
_generation = [0]


def _time_settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _TIME_SETTINGS:
        _generation[0] += 1


setting_changed.connect(_time_settings_changed, dispatch_uid="django_altcache.db.dialects")

Row = tuple[str, str, Any]  # (cache_key, value, adapted expires)
# read_one's answer when the read must take the general path (Dialect.read_one).
SLOW: Any = object()

# Rows per multi-row INSERT and keys per IN list, before the vendor's parameter limit.
MAX_KEYS_PER_STATEMENT = 500

# SQLSTATEs that say the server cannot serve us now: class 08 (connection exception) and
# these. Lock waits (55P03) and deadlocks (40P01) are about data, not the server.
PG_OUTAGE_STATES = frozenset({
    "57P01", "57P02", "57P03",  # admin/crash shutdown, cannot connect now (starting up, recovery)
    "53300",  # too many connections
    "57014",  # statement cancelled: the site's own statement_timeout is a timeout too
})
# A FATAL at connect means the server answered: a wrong role, password, database or
# pg_hba.conf is configuration, not an outage. These FATALs are transient.
PG_TRANSIENT_FATAL = ("starting up", "shutting down", "recovery mode", "too many clients",
                      "connection slots are reserved", "terminating connection")
# MySQL/MariaDB client and server error codes of an unreachable, gone or timed-out server.
# Access denied (1044/1045), unknown database (1049) and lock waits (1205) are not outages.
MYSQL_OUTAGE_CODES = frozenset({
    1040,  # too many connections
    1053,  # server shutdown in progress
    1927,  # connection was killed (MariaDB)
    1969,  # max_statement_time exceeded (MariaDB)
    2002, 2003,  # cannot connect (socket, TCP)
    2006, 2013, 2055,  # server has gone away, lost connection (during query, at handshake)
    3024,  # max_execution_time exceeded (MySQL)
    4031,  # disconnected by the server for inactivity
})


class Dialect:
    """Statements every vendor runs alike; subclasses say how to write."""

    vendor = "portable"

    def __init__(self, connection: BaseDatabaseWrapper, table: str) -> None:
        # Connections are per thread; the SQL is per alias. Keep the alias, look up the
        # calling thread's connection when needed.
        self.alias = connection.alias
        # Stateless but for settings: any thread's ops serve every thread (per-thread wrappers).
        self.ops = connection.ops
        qn = connection.ops.quote_name
        self.table = table
        t, k, v, e = qn(table), qn("cache_key"), qn("value"), qn("expires")
        self.t, self.k, self.v, self.e = t, k, v, e
        limit = self.param_limit(connection)
        # set_many binds three parameters per row; IN lists bind one per key plus "now".
        self.keys_per_chunk = max(1, min(MAX_KEYS_PER_STATEMENT, limit - 1))
        self.rows_per_chunk = max(1, min(MAX_KEYS_PER_STATEMENT, limit // 3))
        self.sql_get = f"SELECT {v} FROM {t} WHERE {k} = %s AND {e} > %s"
        self.sql_has_key = f"SELECT 1 FROM {t} WHERE {k} = %s AND {e} > %s"
        self.sql_touch = f"UPDATE {t} SET {e} = %s WHERE {k} = %s AND {e} > %s"
        self.sql_delete = f"DELETE FROM {t} WHERE {k} = %s"
        self.sql_clear = f"DELETE FROM {t}"
        self.sql_cas = f"UPDATE {t} SET {v} = %s WHERE {k} = %s AND {self.value_equals()} AND {e} > %s"
        self.sql_drop_value = f"DELETE FROM {t} WHERE {k} = %s AND {self.value_equals()}"
        # Bounded count: never scans more than MAX_ENTRIES + 1 rows, however big the table grew.
        self.sql_count = f"SELECT COUNT(*) FROM (SELECT 1 FROM {t} LIMIT %s) altcache_sub"
        self.sql_delete_expired = f"DELETE FROM {t} WHERE {e} <= %s"
        self.sql_evict = (
            f"DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} ORDER BY {e}, {k} LIMIT %s)"
        )
        self.sql_purge = (
            f"DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} WHERE {e} <= %s LIMIT %s)"
        )
        # incr_version: copy a live row to its new key, expiry included (None: not supported).
        self.sql_copy_key: str | None = None

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    # Resilience. A vendor we do not know: no bounded connect and no watchdog (we cannot
    # find its socket), and every OperationalError/InterfaceError counts as an outage.
    network = False
    # Whether run_guarded marks outages and discards broken connections (all but SQLite).
    guarded = True

    def is_outage(self, exc: BaseException) -> bool:
        """Whether ``exc`` (as Django raised it) means the server cannot be reached now."""
        return isinstance(exc, (OperationalError, InterfaceError))

    def socket_fd(self, raw: Any) -> int | None:
        """The file descriptor of the driver connection's socket, for the query watchdog."""
        try:
            return int(raw.fileno())  # psycopg 2 and 3, mysqlclient
        except Exception:  # noqa: BLE001 - a driver without fileno(), or a connection already broken
            return None

    def value_equals(self) -> str:
        return f"{self.v} = %s"

    def cursor(self, connection: BaseDatabaseWrapper) -> Any:
        """A cursor for ``connection`` (the thread's connection of this alias)."""
        return connection.cursor()

    def read_one(self, connection: BaseDatabaseWrapper, sql: str, key: str) -> Any:
        """The row of ``sql`` (a one-key read: key, now) read directly, or ``SLOW``: the caller
        then runs it through ``_run`` (guarded, retried, Django's cursor when needed)."""
        return SLOW

    # Datetimes as the vendor stores them (Django's ``adapt_datetimefield_value``).
    def adapt_datetime(self, value: datetime) -> Any:
        return self.ops.adapt_datetimefield_value(value)

    def now(self) -> Any:
        return self.adapt_datetime(timezone.now())

    def placeholders(self, count: int) -> str:
        return ", ".join(["%s"] * count)

    # Whether get_many selects "expires > now" as a column instead of filtering on it.
    # With the filter, PostgreSQL may AND the primary-key bitmap with a scan of the whole
    # expires index (measured: 1.3 ms instead of 0.2 ms for 100 keys in 50,000 rows).
    live_flag_in_select = True

    def get_many_query(self, keys: Sequence[str], now: Any) -> tuple[str, list[Any]]:
        """SQL and parameters; rows are (cache_key, value, is_live)."""
        marks = self.placeholders(len(keys))
        if self.live_flag_in_select:
            return (f"SELECT {self.k}, {self.v}, {self.e} > %s FROM {self.t} WHERE {self.k} IN ({marks})",
                    [now, *keys])
        # Standard SQL (Oracle before 23) has no boolean in a select list: filter, flag with 1.
        return (f"SELECT {self.k}, {self.v}, 1 FROM {self.t} WHERE {self.k} IN ({marks}) AND {self.e} > %s",
                [*keys, now])

    def sql_delete_many(self, count: int) -> str:
        return f"DELETE FROM {self.t} WHERE {self.k} IN ({self.placeholders(count)})"

    def count_rows(self, cursor: Any, limit: int) -> int:
        """Rows in the table, counting no further than ``limit``."""
        cursor.execute(self.sql_count, [limit])
        return int(cursor.fetchone()[0])

    def evict(self, cursor: Any, count: int) -> int:
        """Delete the ``count`` rows that expire soonest (timeout=None rows sort last)."""
        cursor.execute(self.sql_evict, [count])
        return int(cursor.rowcount)

    def purge_batch(self, cursor: Any, now: Any, batch: int) -> int:
        """Delete up to ``batch`` expired rows; short statements keep locks short."""
        cursor.execute(self.sql_purge, [now, batch])
        return int(cursor.rowcount)

    # Writes: one statement per row (or per chunk of rows) where the vendor allows it.

    def set_rows(self, cursor: Any, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def add(self, cursor: Any, row: Row, now: Any) -> bool:
        raise NotImplementedError

    @staticmethod
    def param_limit(connection: BaseDatabaseWrapper) -> int:
        """How many parameters one statement may bind."""
        return connection.features.max_query_params or 65535


class UpsertDialect(Dialect):
    """SQLite and PostgreSQL: ``INSERT ... ON CONFLICT (cache_key) DO UPDATE``."""

    vendor = "upsert"

    def __init__(self, connection: BaseDatabaseWrapper, table: str) -> None:
        super().__init__(connection, table)
        t, k, v, e = self.t, self.k, self.v, self.e
        self._insert = f"INSERT INTO {t} ({k}, {v}, {e}) VALUES "
        self._on_conflict = f" ON CONFLICT ({k}) DO UPDATE SET {v} = EXCLUDED.{v}, {e} = EXCLUDED.{e}"
        # "add" replaces a row only when it has expired; rowcount says who won.
        self.sql_add = f"{self._insert}(%s, %s, %s){self._on_conflict} WHERE {t}.{e} <= %s"
        self.sql_set = f"{self._insert}(%s, %s, %s){self._on_conflict}"
        self.sql_copy_key = (f"INSERT INTO {t} ({k}, {v}, {e}) SELECT %s, {v}, {e} FROM {t} "
                             f"WHERE {k} = %s AND {e} > %s{self._on_conflict}")

    def set_rows(self, cursor: Any, rows: Sequence[Row]) -> None:
        if len(rows) == 1:
            cursor.execute(self.sql_set, rows[0])
            return
        sql = self._insert + ", ".join(["(%s, %s, %s)"] * len(rows)) + self._on_conflict
        cursor.execute(sql, [p for row in rows for p in row])

    def add(self, cursor: Any, row: Row, now: Any) -> bool:
        cursor.execute(self.sql_add, [*row, now])
        return cursor.rowcount > 0


class SQLiteDialect(UpsertDialect):
    """SQLite: a file, no server. Nothing is an outage: a missing table, a locked or
    unreadable file are the site's problem and are raised (lock waits are bounded by the
    database's own ``OPTIONS['timeout']``)."""

    vendor = "sqlite"
    guarded = False

    @staticmethod
    def param_limit(connection: BaseDatabaseWrapper) -> int:
        # Django 6.0 asks the open connection (``getlimit``), so building the dialect would
        # connect, which an async caller may not do (SynchronousOnlyOperation). The library's
        # compile-time default serves: 32766 since SQLite 3.32, 999 before (a site lowering it
        # per connection with setlimit() would have to keep it above our 500-key chunks).
        import sqlite3

        return 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999

    def __init__(self, connection: BaseDatabaseWrapper, table: str) -> None:
        super().__init__(connection, table)
        self.qmarks = raw.qmarks_for([
            self.sql_get, self.sql_has_key, self.sql_touch, self.sql_delete, self.sql_cas, self.sql_set,
            self.sql_add, self.sql_count, self.sql_delete_expired, self.sql_drop_value, self.sql_copy_key or "",
            self.sql_evict, self.sql_purge, self.sql_clear,
        ])
        self._generation = -1
        self._tz: tzinfo | None = None
        self._second, self._prefix = -1, ""
        self._second_zone: tzinfo | None = None

    def is_outage(self, exc: BaseException) -> bool:
        return False

    def cursor(self, connection: BaseDatabaseWrapper) -> Any:
        driver = raw.driver(connection)
        if driver is None:
            return connection.cursor()
        return raw.SQLiteCursor(connection, driver, self.qmarks)

    def read_one(self, connection: BaseDatabaseWrapper, sql: str, key: str) -> Any:
        # The whole of _run for SQLite, inlined for the two hottest reads: nothing to guard
        # (no server), and a lock it could not wait for goes back to _run, which retries.
        driver = raw.driver(connection)
        if driver is None or connection.needs_rollback:
            return SLOW
        try:
            return driver.execute(self.qmarks[sql], (key, self.now())).fetchone()
        except Exception as exc:  # noqa: BLE001 - Django's classes, as its cursor raises them
            if isinstance(exc, connection.Database.OperationalError) and "locked" in str(exc):
                return SLOW
            if isinstance(exc, connection.Database.Error):
                with connection.wrap_database_errors:
                    raise
            raise

    def _zone(self) -> tzinfo | None:
        """Django's ``connection.timezone`` (None without USE_TZ), read again after a settings change."""
        if self._generation != _generation[0]:
            self._tz = connections[self.alias].timezone if settings.USE_TZ else None
            self._generation = _generation[0]
        return self._tz

    # Django's SQLite adaptation (str() of a naive datetime in the connection's zone) without
    # its per-call lookups: the same text, byte for byte (a test holds them equal).
    def adapt_datetime(self, value: datetime) -> Any:
        if value.tzinfo is None:
            return str(value)
        zone = self._zone()
        if zone is None:
            return self.ops.adapt_datetimefield_value(value)  # Django's error for an aware value
        return str(value.astimezone(zone).replace(tzinfo=None))

    def now(self) -> Any:
        """``adapt_datetime(timezone.now())``; the text up to the second is made once a second."""
        zone = self._zone()
        moment = time.time()
        second = int(moment)
        if second != self._second or zone is not self._second_zone:
            when = datetime.fromtimestamp(second, zone)
            self._prefix = str(when if zone is None else when.replace(tzinfo=None))
            self._second, self._second_zone = second, zone
        micro = int((moment - second) * 1_000_000)
        return f"{self._prefix}.{micro:06d}" if micro else self._prefix


class PostgresDialect(UpsertDialect):
    """PostgreSQL: the upserts above; with psycopg 3, on the raw connection (``raw.PGCursor``).

    The fixed statements are prepared once per driver connection through libpq, under
    names of ours, whatever the site's ``prepare_threshold`` (Django leaves psycopg's own
    preparing off). ``prepare`` (the cache's ``PREPARE_STATEMENTS``) turns that off; left
    at None, statements are prepared unless the database entry says it sits behind a
    transaction pooler (``DISABLE_SERVER_SIDE_CURSORS``, Django's setting for PgBouncer
    in transaction mode): they are then bound server-side without a name, which any
    pooler passes through. See docs/compat.md, "PgBouncer".
    """

    vendor = "postgresql"

    def __init__(self, connection: BaseDatabaseWrapper, table: str, prepare: bool | None = None) -> None:
        super().__init__(connection, table)
        self.statements = raw.pg_statements([
            self.sql_get, self.sql_has_key, self.sql_touch, self.sql_delete, self.sql_cas,
            self.sql_set, self.sql_add, self.sql_count, self.sql_delete_expired, self.sql_drop_value,
            self.sql_copy_key or "", self.sql_evict, self.sql_purge, self.sql_clear,
        ])
        if prepare is None:
            prepare = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
        self.prepare = prepare

    network = True

    def is_outage(self, exc: BaseException) -> bool:
        if isinstance(exc, InterfaceError):
            return True  # "connection already closed"
        if not isinstance(exc, OperationalError) or exc.__cause__ is None:
            return False
        cause = exc.__cause__
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)  # psycopg 3 / 2
        if state:
            return str(state).startswith("08") or state in PG_OUTAGE_STATES
        message = str(cause)
        if "FATAL:" in message:
            return any(marker in message for marker in PG_TRANSIENT_FATAL)
        return True  # client side: refused, lost, closed, timed out

    def adapt_datetime(self, value: datetime) -> Any:
        return value  # Django's PostgreSQL adaptation: the driver sends datetimes as they are

    def now(self) -> Any:
        return timezone.now()

    def cursor(self, connection: BaseDatabaseWrapper) -> Any:
        driver = None if psycopg is None else raw.driver(connection)
        if driver is None or not isinstance(driver, psycopg.Connection):
            return connection.cursor()
        return raw.PGCursor(connection, driver, self.statements, self.prepare)


class MySQLDialect(Dialect):
    """MySQL and MariaDB: ``INSERT ... ON DUPLICATE KEY UPDATE``.

    Django opens MySQL connections with CLIENT.FOUND_ROWS, so an upsert's rowcount
    cannot tell "inserted" from "found unchanged"; ``add`` therefore removes an
    expired row first and then relies on ``INSERT IGNORE`` (1 row = we won).
    """

    vendor = "mysql"

    def __init__(self, connection: BaseDatabaseWrapper, table: str) -> None:
        super().__init__(connection, table)
        t, k, v, e = self.t, self.k, self.v, self.e
        self._insert = f"INSERT INTO {t} ({k}, {v}, {e}) VALUES "
        self._on_dup = f" ON DUPLICATE KEY UPDATE {v} = VALUES({v}), {e} = VALUES({e})"
        self.sql_set = f"{self._insert}(%s, %s, %s){self._on_dup}"
        self.sql_copy_key = (f"INSERT INTO {t} ({k}, {v}, {e}) SELECT %s, {v}, {e} FROM {t} "
                             f"WHERE {k} = %s AND {e} > %s{self._on_dup}")
        self.sql_add_clear = f"DELETE FROM {t} WHERE {k} = %s AND {e} <= %s"
        self.sql_add = f"INSERT IGNORE INTO {t} ({k}, {v}, {e}) VALUES (%s, %s, %s)"
        # MySQL cannot LIMIT inside IN (subquery) but deletes in order with a LIMIT.
        self.sql_evict = f"DELETE FROM {t} ORDER BY {e}, {k} LIMIT %s"
        self.sql_purge = f"DELETE FROM {t} WHERE {e} <= %s LIMIT %s"

    network = True

    def is_outage(self, exc: BaseException) -> bool:
        if isinstance(exc, InterfaceError):
            return True  # mysqlclient: (0, '') on a closed connection
        if not isinstance(exc, OperationalError) or exc.__cause__ is None:
            return False
        args: tuple[Any, ...] = getattr(exc.__cause__, "args", ())
        return bool(args) and args[0] in MYSQL_OUTAGE_CODES

    def value_equals(self) -> str:
        # The column's collation is usually case-insensitive; base64 is not.
        return f"CAST({self.v} AS BINARY) = CAST(%s AS BINARY)"

    def set_rows(self, cursor: Any, rows: Sequence[Row]) -> None:
        if len(rows) == 1:
            cursor.execute(self.sql_set, rows[0])
            return
        sql = self._insert + ", ".join(["(%s, %s, %s)"] * len(rows)) + self._on_dup
        cursor.execute(sql, [p for row in rows for p in row])

    def add(self, cursor: Any, row: Row, now: Any) -> bool:
        cursor.execute(self.sql_add_clear, [row[0], now])
        cursor.execute(self.sql_add, row)
        return cursor.rowcount > 0


class PortableDialect(Dialect):
    """Any other vendor: Django's approach, minus its silent failures.

    A concurrent INSERT of the same key surfaces as IntegrityError inside a
    savepoint; ``set`` then updates the row the other writer created instead of
    returning quietly as Django's backend does.
    """

    def __init__(self, connection: BaseDatabaseWrapper, table: str) -> None:
        super().__init__(connection, table)
        t, k, v, e = self.t, self.k, self.v, self.e
        self.sql_update = f"UPDATE {t} SET {v} = %s, {e} = %s WHERE {k} = %s"
        self.sql_insert = f"INSERT INTO {t} ({k}, {v}, {e}) VALUES (%s, %s, %s)"
        self.sql_add_clear = f"DELETE FROM {t} WHERE {k} = %s AND {e} <= %s"
        self.sql_by_expiry = f"SELECT {k} FROM {t} ORDER BY {e}, {k}"
        self.live_flag_in_select = False
        self.sql_count_all = f"SELECT COUNT(*) FROM {t}"

    def count_rows(self, cursor: Any, limit: int) -> int:
        # LIMIT is not standard SQL (Oracle spells it FETCH FIRST): count it all, as Django does.
        cursor.execute(self.sql_count_all)
        return int(cursor.fetchone()[0])

    def evict(self, cursor: Any, count: int) -> int:
        # LIMIT is not portable SQL: read the first keys in expiry order, delete them by key.
        cursor.execute(self.sql_by_expiry)
        keys = [row[0] for row in cursor.fetchmany(count)]
        deleted = 0
        for start in range(0, len(keys), self.keys_per_chunk):
            chunk = keys[start:start + self.keys_per_chunk]
            cursor.execute(self.sql_delete_many(len(chunk)), chunk)
            deleted += cursor.rowcount
        return deleted

    def purge_batch(self, cursor: Any, now: Any, batch: int) -> int:
        cursor.execute(self.sql_delete_expired, [now])
        return int(cursor.rowcount)

    def _insert_or_false(self, cursor: Any, row: Row) -> bool:
        try:
            with transaction.atomic(using=self.alias):
                cursor.execute(self.sql_insert, row)
        except IntegrityError:
            return False
        return True

    def set_rows(self, cursor: Any, rows: Sequence[Row]) -> None:
        with transaction.atomic(using=self.alias):
            for key, value, expires in rows:
                for _attempt in range(3):
                    cursor.execute(self.sql_update, [value, expires, key])
                    if cursor.rowcount > 0 or self._insert_or_false(cursor, (key, value, expires)):
                        break

    def add(self, cursor: Any, row: Row, now: Any) -> bool:
        with transaction.atomic(using=self.alias):
            cursor.execute(self.sql_add_clear, [row[0], now])
            return self._insert_or_false(cursor, row)


def dialect_for(connection: BaseDatabaseWrapper, table: str, prepare: bool | None = None) -> Dialect:
    if connection.vendor == "postgresql":
        return PostgresDialect(connection, table, prepare)
    if connection.vendor == "sqlite":
        return SQLiteDialect(connection, table)
    if connection.vendor == "mysql":
        return MySQLDialect(connection, table)
    return PortableDialect(connection, table)
