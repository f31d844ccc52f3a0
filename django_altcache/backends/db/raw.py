"""The database cache's statements on the raw driver connection, as Django would run them.

Django's cursor wrapper costs more than the statement on SQLite (it rewrites ``%s`` to
``?`` with a regex on every call, and wraps every call in three context managers), and on
PostgreSQL Django opens connections with ``prepare_threshold=None``, so the server parses
and plans every statement again. The cache's statements are few and fixed, so here they
run on the driver connection Django holds for the thread and the alias the router chose:

- SQLite: ``sqlite3.Connection.execute`` with the ``?`` form of each statement, computed
  once; the driver's statement cache keeps each one prepared per connection.
- PostgreSQL (psycopg 3): the fixed statements through libpq, prepared once per driver
  connection under a name of ours (``exec_prepared``; psycopg's own prepared statements
  are not touched), or, when preparing is off (``PREPARE_STATEMENTS``, e.g. behind a
  PgBouncer that cannot keep them), bound server-side without a name (``exec_params``).
  Statements whose length varies (``IN`` lists, multi-row ``VALUES``) go through a
  psycopg ``ClientCursor`` on the same connection.

What Django does around a statement is kept: the statement runs on the connection (and so
in the transaction) of the calling thread, a broken transaction raises Django's
``TransactionManagementError``, driver errors become Django's exception classes (with the
driver's error as ``__cause__``), ``DJANGO_ALLOW_ASYNC_UNSAFE`` rules apply, and health
checks run. Whenever something could observe Django's cursor, the cache uses Django's
cursor instead (``driver`` says None): queries being logged (``DEBUG``,
``assertNumQueries``), ``connection.execute_wrapper(...)`` installed, a patched
``connection.cursor`` (django-debug-toolbar) or ``CursorWrapper.execute`` (APM agents).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from _thread import get_ident
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

psycopg: Any
try:
    import psycopg
    from psycopg import pq
    from psycopg.errors import error_from_result
except ImportError:  # pragma: no cover - depends on the installed driver
    psycopg = None

# What Django's own classes look like; anything else installed by an instrumenting tool
# means the tool wants to see every statement, so the cache goes through Django's cursor.
_DJANGO_EXECUTE = CursorWrapper.execute
_DJANGO_EXECUTEMANY = CursorWrapper.executemany
# The driver connection's state for the raw path, on Django's per-thread wrapper.
STATE_ATTR = "_altcache_raw"
_QMARK = re.compile(r"(?<!%)%s")


def driver(connection: BaseDatabaseWrapper) -> Any:
    """The driver connection to run a cache statement on, or None to use Django's cursor.

    None when something could observe Django's cursor: queries are logged, an execute
    wrapper is installed, the cursor machinery was patched, or the call comes from a thread
    running an event loop (Django's ``async_unsafe`` check then decides, through its own
    cursor). Otherwise, what Django's ``cursor()`` does first: the health check, the
    connect, the thread-sharing check.
    """
    if (connection.queries_logged or connection.execute_wrappers or _cursor_replaced(connection)
            or CursorWrapper.execute is not _DJANGO_EXECUTE or CursorWrapper.executemany is not _DJANGO_EXECUTEMANY
            or asyncio._get_running_loop() is not None):
        return None
    if connection.health_check_enabled and not connection.health_check_done:
        connection.close_if_health_check_failed()
    if connection.connection is None:
        connection.ensure_connection()
    if connection._thread_ident != get_ident():
        connection.validate_thread_sharing()
    return connection.connection


def _cursor_replaced(connection: BaseDatabaseWrapper) -> bool:
    """``connection.cursor`` replaced on the instance by something else than Django's own method
    (a tool's wrapper; monkeypatch's undo leaves the original bound method there, which is fine)."""
    found = connection.__dict__.get("cursor")
    return found is not None and getattr(found, "__func__", None) is not type(connection).cursor


def thread_connection(alias: str) -> BaseDatabaseWrapper:
    """``connections[alias]`` for a thread without an event loop, without asgiref's per-call
    work (a raised and caught RuntimeError); asgiref keeps those in a ``threading.local``."""
    if asyncio._get_running_loop() is None:
        storage = connections._connections.__dict__.get("_storage")
        if type(storage) is threading.local:
            connection = getattr(storage, alias, None)
            if connection is not None:
                return connection  # type: ignore[no-any-return]
    return connections[alias]


class RawCursor:
    """The part of Django's ``CursorWrapper`` the cache uses, over a driver cursor."""

    __slots__ = ("db", "cursor")

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        self.db = db
        self.cursor: Any = None

    def __enter__(self) -> RawCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> Any:
        return self.cursor.fetchall()

    def fetchmany(self, size: int) -> Any:
        return self.cursor.fetchmany(size)

    @property
    def rowcount(self) -> int:
        return int(self.cursor.rowcount)

    def _wrapped(self, exc: BaseException) -> None:
        """Raise ``exc`` as Django would: its class mapped, ``errors_occurred`` set."""
        with self.db.wrap_database_errors:
            raise exc


class SQLiteCursor(RawCursor):
    """``sqlite3``: the ``?`` form of each statement, kept prepared by the driver's statement cache."""

    __slots__ = ("raw", "qmarks")

    def __init__(self, db: BaseDatabaseWrapper, raw: Any, qmarks: dict[str, str]) -> None:
        self.db = db
        self.raw = raw
        self.qmarks = qmarks
        self.cursor = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.db.needs_rollback:
            self.db.validate_no_broken_transaction()
        query = self.qmarks.get(sql)
        if query is None:  # a statement built per call (IN lists, multi-row VALUES)
            query = qmark(sql)
        try:
            self.cursor = self.raw.execute(query, params)
        except Exception as exc:  # noqa: BLE001 - mapped to Django's classes, like Django's cursor
            if isinstance(exc, self.db.Database.Error):
                self._wrapped(exc)
            raise


def qmark(sql: str) -> str:
    """Django's ``%s`` to ``?`` conversion for SQLite (its FORMAT_QMARK_REGEX)."""
    return _QMARK.sub("?", sql).replace("%%", "%")


def qmarks_for(statements: Sequence[str]) -> dict[str, str]:
    return {sql: qmark(sql) for sql in statements}


# -- PostgreSQL ---------------------------------------------------------------------------------
def dollar_form(sql: str) -> str:
    """``%s`` placeholders as ``$1, $2, ...`` (our statements have no literal ``%``)."""
    count = 0

    def number(_match: Any) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _QMARK.sub(number, sql)


def statement_name(sql: str) -> bytes:
    # Distinct from psycopg's own names (_pg3_N); one per statement text, so per table.
    return b"altcache_" + hashlib.sha1(sql.encode()).hexdigest()[:20].encode()


class PGState:
    """Per driver connection: the statements prepared on it and its client encoding."""

    __slots__ = ("raw", "prepared", "encoding")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.prepared: set[bytes] = set()
        self.encoding = raw.info.encoding


def pg_state(connection: BaseDatabaseWrapper, raw: Any) -> PGState:
    state = connection.__dict__.get(STATE_ATTR)
    if state is None or state.raw is not raw:  # a new driver connection: nothing prepared on it
        state = connection.__dict__[STATE_ATTR] = PGState(raw)
    return state  # type: ignore[no-any-return]


class PGStatement:
    __slots__ = ("name", "query")

    def __init__(self, sql: str) -> None:
        self.query = dollar_form(sql).encode()
        self.name = statement_name(sql)


def pg_statements(statements: Sequence[str]) -> dict[str, PGStatement]:
    return {sql: PGStatement(sql) for sql in statements}


def _text(value: Any, encoding: str) -> bytes | None:
    """A parameter in PostgreSQL's text format; the server infers its type from the statement."""
    if type(value) is str:
        return value.encode(encoding)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode(encoding)
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, (datetime, date)):
        return value.isoformat().encode()  # naive: the session's TimeZone, as psycopg sends it
    if isinstance(value, (int, float)):
        return str(value).encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"database cache: cannot send a parameter of type {type(value).__name__}")


UNPREPARED = "26000"  # invalid_sql_statement_name: e.g. after DEALLOCATE ALL / DISCARD ALL
if psycopg is not None:  # plain ints: an enum member lookup per call adds up on the hot path
    IDLE = int(pq.TransactionStatus.IDLE)
    TUPLES_OK, COMMAND_OK = int(pq.ExecStatus.TUPLES_OK), int(pq.ExecStatus.COMMAND_OK)
    FATAL_ERROR = int(pq.ExecStatus.FATAL_ERROR)
    CONNECTION_OK = int(pq.ConnStatus.OK)


class PGCursor(RawCursor):
    """psycopg 3: fixed statements through libpq (prepared once per connection, or not);
    the others through a ``ClientCursor`` on the same connection."""

    __slots__ = ("raw", "statements", "prepare", "state", "result", "client")

    def __init__(self, db: BaseDatabaseWrapper, raw: Any, statements: dict[str, PGStatement],
                 prepare: bool) -> None:
        self.db = db
        self.raw = raw
        self.statements = statements
        self.prepare = prepare
        self.state = pg_state(db, raw)
        self.result: Any = None
        self.client: Any = None
        self.cursor = None

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        db = self.db
        if db.needs_rollback:
            db.validate_no_broken_transaction()
        statement = self.statements.get(sql)
        raw = self.raw
        # Outside autocommit with no transaction open yet, psycopg starts one (BEGIN with the
        # connection's isolation level) before the statement: let it, on its own cursor.
        if statement is None or (not raw.autocommit and raw.pgconn.transaction_status == IDLE):
            self._execute_client(sql, params)
            return
        encoding = self.state.encoding
        values = [_text(value, encoding) for value in params]
        self.cursor = None
        try:
            with raw.lock:
                result = self._run(statement, values)
        except Exception as exc:  # noqa: BLE001 - psycopg's errors become Django's
            if isinstance(exc, psycopg.Error):
                self._wrapped(exc)
            raise
        self.result = result

    def _run(self, statement: PGStatement, values: list[bytes | None]) -> Any:
        pgconn = self.raw.pgconn
        if not self.prepare:
            return self._check(pgconn.exec_params(statement.query, values))
        prepared = self.state.prepared
        if statement.name not in prepared:
            self._check(pgconn.prepare(statement.name, statement.query))
            prepared.add(statement.name)
        result = pgconn.exec_prepared(statement.name, values)
        if (result.status == FATAL_ERROR and self._state_of(result) == UNPREPARED
                and pgconn.transaction_status == IDLE):
            # Deallocated behind our back (DEALLOCATE ALL, DISCARD ALL): prepare again. Only
            # outside a transaction: inside one the error has already aborted it.
            prepared.clear()
            self._check(pgconn.prepare(statement.name, statement.query))
            prepared.add(statement.name)
            result = pgconn.exec_prepared(statement.name, values)
        return self._check(result)

    @staticmethod
    def _state_of(result: Any) -> str:
        state = result.error_field(pq.DiagnosticField.SQLSTATE)
        return state.decode("ascii") if state else ""

    def _check(self, result: Any) -> Any:
        status = result.status
        if status == TUPLES_OK or status == COMMAND_OK:
            return result
        if self.raw.pgconn.status != CONNECTION_OK:
            message = result.get_error_message(self.state.encoding) if hasattr(result, "get_error_message") else ""
            raise psycopg.OperationalError(f"the connection is lost: {message}".rstrip(": "))
        raise error_from_result(result, encoding=self.state.encoding)

    def _execute_client(self, sql: str, params: Sequence[Any]) -> None:
        self.result = None
        if self.client is None:
            self.client = psycopg.ClientCursor(self.raw)
        self.cursor = self.client
        try:
            self.client.execute(sql, params)
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, psycopg.Error):
                self._wrapped(exc)
            raise

    def fetchone(self) -> Any:
        result = self.result
        if result is None:
            return self.cursor.fetchone()
        if result.ntuples == 0:
            return None
        self.result = _Exhausted
        encoding = self.state.encoding
        values = [result.get_value(0, column) for column in range(result.nfields)]
        return tuple(None if v is None else v.decode(encoding) for v in values)

    def fetchall(self) -> Any:
        result = self.result
        if result is None:
            return self.cursor.fetchall()
        encoding = self.state.encoding
        rows = [tuple(None if v is None else v.decode(encoding)
                      for v in (result.get_value(row, column) for column in range(result.nfields)))
                for row in range(result.ntuples)]
        self.result = _Exhausted
        return rows

    def fetchmany(self, size: int) -> Any:
        if self.result is None:
            return self.cursor.fetchmany(size)
        return self.fetchall()[:size]

    @property
    def rowcount(self) -> int:
        result = self.result
        if result is None:
            return int(self.cursor.rowcount)
        if result is _Exhausted:
            return -1
        count = result.command_tuples
        return -1 if count is None else int(count)


class _ExhaustedResult:
    """A result whose rows were fetched: no more rows, as a DB-API cursor would say."""

    ntuples = 0
    nfields = 0
    command_tuples = None


_Exhausted: Any = _ExhaustedResult()
