"""Bounded time and self-healing around one unit of database-cache work.

``run_guarded`` is what every cache operation goes through:

- a connection the cache opens to a network server is bounded by CONNECT_TIMEOUT
  (``connect.py``), so a frozen server fails in time instead of hanging in the driver;
- the work itself is bounded by QUERY_TIMEOUT (``watchdog.py``);
- an outage error (the dialect decides which errors are) is marked for the resilience
  layer and the broken connection is discarded, so the next call reconnects by itself:
  Django only replaces broken connections at request start/end, and a cache is also used
  outside requests (commands, workers, threads).

Inside the caller's transaction (``atomic()``, or autocommit turned off) the connection
is left as it is: closing it there would make Django's ``atomic()`` exit quietly with
the transaction lost. Left broken, the transaction's own next query or COMMIT raises,
and Django discards the connection as it always does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import Error
from django.db.backends.base.base import BaseDatabaseWrapper

from .connect import QueryTimeout, ServerUnreachable, connect_bounded
from .dialects import Dialect
from .options import Timeouts
from .watchdog import WATCHDOG, identify

T = TypeVar("T")

OUTAGE_MARK = "altcache_outage"
# On Django's (per-thread) connection wrapper: (driver connection, its socket's identity).
SOCKET_ATTR = "_altcache_socket"


def is_outage(exc: BaseException) -> bool:
    """For the resilience layer: was ``exc`` marked as an outage by ``run_guarded``?"""
    return bool(getattr(exc, OUTAGE_MARK, False))


def discard(connection: BaseDatabaseWrapper) -> None:
    """Close a broken connection so the next use reconnects; never inside a transaction."""
    if connection.in_atomic_block or not connection.autocommit:
        return
    with contextlib.suppress(Error):
        connection.close()


def socket_of(dialect: Dialect, connection: BaseDatabaseWrapper) -> tuple[int, int] | None:
    """The socket of the thread's driver connection, looked up once per driver connection.

    Kept even if the driver later drops that socket: the watchdog only ever cuts a
    descriptor that still names the same socket (``watchdog._cut``).
    """
    raw = connection.connection
    cached = connection.__dict__.get(SOCKET_ATTR)
    if cached is not None and cached[0] is raw:
        return cached[1]  # type: ignore[no-any-return]
    fd = dialect.socket_fd(raw)
    sock = None if fd is None else identify(fd)
    connection.__dict__[SOCKET_ATTR] = (raw, sock)
    return sock


def run_guarded(dialect: Dialect, connection: BaseDatabaseWrapper, work: Callable[[Dialect, Any], T],
                timeouts: Timeouts, query_timeout: float | None) -> T:
    """``work(dialect, cursor)`` on ``connection`` (the thread's connection of ``dialect.alias``)."""
    if not dialect.guarded:  # SQLite: no server, no outage; errors are raised as they are
        with dialect.cursor(connection) as cursor:
            return work(dialect, cursor)
    bounded = dialect.network  # SQLite has no server to wait for; unknown vendors no known socket
    ticket = None
    try:
        if bounded and connection.connection is None and timeouts.connect is not None:
            connect_bounded(connection, timeouts.connect, dialect.socket_fd)
        with dialect.cursor(connection) as cursor:
            if bounded and query_timeout is not None:
                sock = socket_of(dialect, connection)
                ticket = None if sock is None else WATCHDOG.arm(sock, query_timeout)
            result = work(dialect, cursor)
    except Error as exc:
        if ticket is not None and WATCHDOG.disarm(ticket):
            discard(connection)
            timeout = QueryTimeout(f"database {dialect.alias!r}: the cache's statement did not complete "
                                   f"within {query_timeout:g} s (QUERY_TIMEOUT); connection cut ({exc})")
            setattr(timeout, OUTAGE_MARK, True)
            raise timeout from exc
        if isinstance(exc, ServerUnreachable) or dialect.is_outage(exc):
            setattr(exc, OUTAGE_MARK, True)
            discard(connection)
        raise
    except BaseException:
        if ticket is not None and WATCHDOG.disarm(ticket):
            discard(connection)
        raise
    if ticket is not None and WATCHDOG.disarm(ticket):
        discard(connection)  # the answer came as the socket was cut: the result stands, the socket does not
    return result
