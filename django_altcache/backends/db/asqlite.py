"""Async reads of the database cache on SQLite, on the event loop, without a thread hop.

A read of one row from a local SQLite file costs a few microseconds, less than the thread
hop Django's async twins make for it; it only blocks when a writer holds the file's lock.
So ``aget``/``ahas_key``/``aget_many`` run their ``SELECT`` on the event loop (the ``aget``s
and ``ahas_key``s of one tick as one ``SELECT ... IN (...)``), on a read connection of each
loop's own (opened with the DATABASES entry's parameters and
``init_command``, in autocommit), with SQLite's lock wait turned off: a read that would
wait (``database is locked``) goes to the thread hop instead, which waits with the
site's own ``timeout``. Writes always take the hop (a commit may ``fsync``).

The same statement, the same rows: the read sees what is committed, as a read on the
thread's Django connection does outside a transaction. Where a transaction of the caller's
could matter (an ``async_to_sync`` call from sync code, which may be inside ``atomic()``)
or queries are logged (``DEBUG``), the hop is taken (``inline_ok``); so is an in-memory
database, which another connection would not see.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.utils import CursorWrapper

from .._shared.hop import inside_async_to_sync
from . import raw

SQLITE = "django.db.backends.sqlite3"
_readable: dict[str, bool] = {}


def inline_ok(alias: str) -> bool:
    """Whether a read for ``alias`` may run on the loop's own SQLite connection."""
    if settings.DEBUG or CursorWrapper.execute is not raw._DJANGO_EXECUTE:
        return False
    readable = _readable.get(alias)
    if readable is None:
        entry = connections.settings[alias]
        name = str(entry.get("NAME") or "")
        readable = _readable[alias] = (entry["ENGINE"] == SQLITE and bool(name) and name != ":memory:"
                                       and "mode=memory" not in name)
    return readable and not inside_async_to_sync()


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _readable.clear()


setting_changed.connect(_forget, dispatch_uid="django_altcache.db.asqlite")


class Busy(Exception):
    """The read would have to wait for a writer's lock: take the thread hop."""


class LoopReaders:
    """One read connection per alias for one event loop, closed with the loop; and the reads
    of the current tick, made together (``read``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: dict[str, sqlite3.Connection] = {}
        self.keeper: AsyncIterator[None] | None = None
        # (alias, table) -> [(dialect, key, future)], flushed at the end of the tick
        self.pending: dict[tuple[str, str], list[tuple[Any, str, asyncio.Future[Any]]]] = {}

    def read(self, alias: str, dialect: Any, key: str) -> asyncio.Future[Any]:
        """The live row's value text for ``key`` (None: no live row), with the tick's other reads
        of the same table in one ``SELECT ... IN (...)``: gathered reads cost one statement."""
        future = self.loop.create_future()
        group = (alias, dialect.table)
        reads = self.pending.get(group)
        if reads is None:
            reads = self.pending[group] = []
            self.loop.call_soon(self._flush, group)
        reads.append((dialect, key, future))
        return future

    def _flush(self, group: tuple[str, str]) -> None:
        reads = self.pending.pop(group)
        alias = group[0]
        dialect = reads[0][0]
        try:
            connection = self.connection(alias)
            now = dialect.now()
            if len(reads) == 1:
                row = execute(connection, dialect.qmarks[dialect.sql_get], (reads[0][1], now)).fetchone()
                found = {} if row is None else {reads[0][1]: row[0]}
            else:
                found = {}
                keys = list(dict.fromkeys(key for _, key, _ in reads))
                for start in range(0, len(keys), dialect.keys_per_chunk):
                    sql, params = dialect.get_many_query(keys[start:start + dialect.keys_per_chunk], now)
                    for key, value, live in execute(connection, raw.qmark(sql), params).fetchall():
                        if live:
                            found[key] = value
        except BaseException as exc:  # noqa: BLE001 - each reader gets it (Busy: each takes the hop)
            for _, _, future in reads:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, key, future in reads:
            if not future.done():
                future.set_result(found.get(key))

    async def _keep(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for connection in self.connections.values():
                connection.close()
            self.connections.clear()

    def connection(self, alias: str) -> sqlite3.Connection:
        """The loop's read connection to ``alias`` (opened on first use)."""
        connection = self.connections.get(alias)
        if connection is None:
            connection = self.connections[alias] = _open(alias)
        return connection


def _open(alias: str) -> sqlite3.Connection:
    wrapper = connections.create_connection(alias)  # a private wrapper: only its parameters are used
    params = wrapper.get_connection_params()
    params["timeout"] = 0  # never wait for a lock on the loop
    connection = sqlite3.connect(**params)
    connection.isolation_level = None  # autocommit, as Django's outside atomic()
    for command in getattr(wrapper, "init_commands", ()):
        if command := command.strip():
            connection.execute(command)
    return connection


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopReaders] = weakref.WeakKeyDictionary()


async def readers() -> LoopReaders:
    loop = asyncio.get_running_loop()
    found = _loops.get(loop)
    if found is None:
        found = _loops[loop] = LoopReaders(loop)
        found.keeper = found._keep()
        await found.keeper.__anext__()  # its finally runs at the loop's shutdown_asyncgens()
    return found


async def read(alias: str, dialect: Any, key: str) -> Any:
    """``LoopReaders.read`` on the running loop's readers."""
    found = _loops.get(asyncio.get_running_loop())
    if found is None:
        found = await readers()
    return await found.read(alias, dialect, key)


def execute(connection: sqlite3.Connection, query: str, params: Sequence[Any]) -> sqlite3.Cursor:
    """Run a read; ``Busy`` when it would wait for a lock, other errors as Django's classes."""
    try:
        return connection.execute(query, params)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise Busy() from exc
        raise _djangos(exc) from exc
    except sqlite3.Error as exc:
        raise _djangos(exc) from exc


def _djangos(exc: sqlite3.Error) -> BaseException:
    from django.db import utils

    for name in ("DataError", "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                 "NotSupportedError", "DatabaseError", "InterfaceError", "Error"):
        if isinstance(exc, getattr(sqlite3, name)):
            return getattr(utils, name)(*exc.args)  # type: ignore[no-any-return]
    return utils.Error(*exc.args)
