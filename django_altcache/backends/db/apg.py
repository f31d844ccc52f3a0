"""Native async for the database cache on PostgreSQL: psycopg's ``AsyncConnection``.

Django has no async database connections: its async cache twins hop to a thread per call.
Here each event loop gets, per DATABASES alias the router picks, a small pool of psycopg
``AsyncConnection``s opened with that entry's own parameters (Django's
``get_connection_params()``: host, port, user, password, ``OPTIONS``), its time zone and
``assume_role`` set as Django sets them, in autocommit. Statements are prepared per
connection like the sync path's (``PREPARE_STATEMENTS``, ``DISABLE_SERVER_SIDE_CURSORS``).

When the native path is *not* taken (``native_ok``), the cache falls back to its thread
hop, which runs on the thread's Django connection:

- the call comes from ``async_to_sync`` inside sync code: that code may hold a transaction
  on the thread's connection, and the hop joins it, as Django's twins do;
- queries are logged (``DEBUG``) or the cursor machinery is patched: the hop's statements
  are seen, as Django's are;
- the alias is not PostgreSQL through psycopg 3.

Bounds: CONNECT_TIMEOUT on the connect (``asyncio.wait_for``), QUERY_TIMEOUT on each unit of
work by shutting the socket down (as the sync watchdog does: a frozen server never answers a
cancel request either), after which the connection is discarded. Each loop's connections
close when ``asyncio.run`` shuts the loop's async generators down.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.utils import CursorWrapper

from .._shared.hop import inside_async_to_sync
from . import raw
from .connect import QueryTimeout, ServerUnreachable
from .guard import OUTAGE_MARK
from .options import Timeouts
from .watchdog import _cut, identify

T = TypeVar("T")
psycopg = raw.psycopg
if psycopg is not None:
    from psycopg import sql as pg_sql

# Connections per loop and alias: enough to overlap the client's work with the server's
# (gathered calls beyond this wait for a free connection, in order).
POOL_SIZE = 4


def native_ok(alias: str) -> bool:
    """Whether an async call for ``alias`` may run on our own async connections (see module doc).

    Read from the settings, not ``connections[alias]``: in an event loop every task has its
    own context, and asgiref would build a new Django connection object for each of them.
    """
    if psycopg is None or settings.DEBUG or CursorWrapper.execute is not raw._DJANGO_EXECUTE:
        return False
    engine = _engines.get(alias)
    if engine is None:
        engine = _engines[alias] = connections.settings[alias]["ENGINE"]
    return engine == POSTGRESQL and not inside_async_to_sync()


POSTGRESQL = "django.db.backends.postgresql"
_engines: dict[str, str] = {}


def _forget_engines(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _engines.clear()


setting_changed.connect(_forget_engines, dispatch_uid="django_altcache.db.apg")


class Pool:
    """The async connections of one alias on one event loop."""

    def __init__(self, alias: str, prepare: bool, size: int = POOL_SIZE) -> None:
        self.alias = alias
        self.prepare = prepare
        self.size = size
        self.idle: deque[Any] = deque()
        self.opened = 0
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.closed = False

    async def _connect(self, timeout: float | None) -> Any:
        connection = connections[self.alias]
        params = dict(connection.get_connection_params())
        params.pop("cursor_factory", None)  # Django's sync cursor classes
        params["prepare_threshold"] = 0 if self.prepare else None
        connect = psycopg.AsyncConnection.connect(autocommit=True, **params)
        try:
            conn = await (connect if timeout is None else asyncio.wait_for(connect, timeout))
        except asyncio.TimeoutError:
            raise ServerUnreachable(f"database {self.alias!r}: the server did not accept a connection within "
                                    f"{timeout:g} s (CONNECT_TIMEOUT)") from None
        try:
            # What Django's init_connection_state does on its connections (_configure_connection).
            zone = connection.timezone_name
            if zone and conn.info.parameter_status("TimeZone") != zone:
                await conn.execute(connection.ops.set_time_zone_sql(), [zone])
            role = connection.settings_dict["OPTIONS"].get("assume_role")
            if role:
                await conn.execute(pg_sql.SQL("SET ROLE {}").format(pg_sql.Literal(role)))
        except BaseException:
            await conn.close()
            raise
        conn.altcache_socket = identify(conn.pgconn.socket)
        return conn

    async def acquire(self, timeout: float | None) -> Any:
        if self.idle:
            return self.idle.pop()
        if self.opened < self.size:
            self.opened += 1
            try:
                return await self._connect(timeout)
            except BaseException:
                self.opened -= 1
                self._wake()
                raise
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def release(self, conn: Any, broken: bool) -> None:
        if broken or self.closed or conn.closed:
            self.opened -= 1
            conn.pgconn.finish()
            self._wake()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def _wake(self) -> None:
        # A slot freed up: the first waiter opens a connection of its own.
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_Retry())
                return

    async def close(self) -> None:
        self.closed = True
        while self.idle:
            conn = self.idle.pop()
            self.opened -= 1
            with contextlib.suppress(Exception):
                await conn.close()


class _Retry(Exception):
    """Internal: a waiter was woken to open a connection itself."""


class LoopPools:
    """Every pool of one event loop; closed when the loop shuts its async generators down."""

    def __init__(self) -> None:
        self.pools: dict[tuple[str, bool], Pool] = {}
        self.keeper: AsyncIterator[None] | None = None

    async def start(self) -> None:
        self.keeper = self._keep()
        await self.keeper.__anext__()

    async def _keep(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for pool in list(self.pools.values()):
                await pool.close()


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPools] = weakref.WeakKeyDictionary()


async def pool_for(alias: str, prepare: bool) -> Pool:
    loop = asyncio.get_running_loop()
    pools = _loops.get(loop)
    if pools is None:
        pools = _loops[loop] = LoopPools()
        await pools.start()
    pool = pools.pools.get((alias, prepare))
    if pool is None:
        pool = pools.pools[(alias, prepare)] = Pool(alias, prepare)
    return pool


async def run(dialect: Any, work: Callable[[Any, Any], Awaitable[T]], timeouts: Timeouts) -> T:
    """``await work(dialect, cursor)`` on one of the loop's connections for ``dialect.alias``
    (a ``PostgresDialect``).

    Errors are Django's classes (driver error as ``__cause__``); outages are marked for the
    guard, and their connection discarded, as ``guard.run_guarded`` does for sync calls.
    """
    pool = await pool_for(dialect.alias, dialect.prepare)
    while True:
        try:
            conn = await pool.acquire(timeouts.connect)
            break
        except _Retry:
            continue
        except ServerUnreachable as exc:  # a frozen server: the connect timed out
            setattr(exc, OUTAGE_MARK, True)
            raise
        except psycopg.Error as exc:
            _raise_django(dialect, exc)
    broken = False
    timer = None
    cut: list[bool] = []
    if timeouts.query is not None and conn.altcache_socket is not None:
        sock = conn.altcache_socket
        def expire() -> None:
            cut.append(True)
            _cut(*sock)

        timer = asyncio.get_running_loop().call_later(timeouts.query, expire)
    try:
        cursor = conn.cursor()
        try:
            return await work(dialect, Cursor(cursor, dialect.prepare))
        finally:
            await cursor.close()
    except psycopg.Error as exc:
        broken = bool(cut) or conn.closed or conn.broken
        if cut:
            error = QueryTimeout(f"database {dialect.alias!r}: the cache's statement did not complete within "
                                 f"{timeouts.query:g} s (QUERY_TIMEOUT); connection cut ({exc})")
            setattr(error, OUTAGE_MARK, True)
            raise error from exc
        _raise_django(dialect, exc)
        raise AssertionError("unreachable")
    except BaseException:
        broken = True  # cancelled mid-statement: the connection's state is unknown
        raise
    finally:
        if timer is not None:
            timer.cancel()
        pool.release(conn, broken or bool(cut))


def _raise_django(dialect: Any, exc: BaseException) -> None:
    try:
        with connections[dialect.alias].wrap_database_errors:
            raise exc
    except Exception as wrapped:
        if isinstance(wrapped, ServerUnreachable) or dialect.is_outage(wrapped):
            setattr(wrapped, OUTAGE_MARK, True)
        raise


class Cursor:
    """What the async work functions use: ``execute`` (prepared as the sync path), ``fetchone``..."""

    __slots__ = ("cursor", "prepare")

    def __init__(self, cursor: Any, prepare: bool) -> None:
        self.cursor = cursor
        self.prepare = prepare

    async def execute(self, sql: str, params: Any = ()) -> None:
        await self.cursor.execute(sql, params)  # prepared on first use when the pool prepares

    async def fetchone(self) -> Any:
        return await self.cursor.fetchone()

    async def fetchall(self) -> Any:
        return await self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return int(self.cursor.rowcount)
