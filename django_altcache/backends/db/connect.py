"""CONNECT_TIMEOUT for the database cache: Django's own connect, with a bound on the wait.

A frozen server (SIGSTOP, a hung host whose kernel still answers) completes the TCP
handshake and then never replies, so the driver waits for its own ``connect_timeout``
(psycopg rounds it up to 2 s and, unset, waits 130 s; libmysqlclient counts whole
seconds). The cache cannot change the site's DATABASES, so when it is the one opening a
connection it runs Django's ``connect()`` as usual, except that the driver call inside
(``get_new_connection``, the only blocking part before the first query) runs in a helper
thread the caller stops waiting for after CONNECT_TIMEOUT; the set-up queries Django then
runs (time zone, isolation level, server version) are under the query watchdog with
what is left of the same deadline.

A helper still stuck in a connect (the server is frozen) is not joined by another: later
connects to that database wait for it (within their own CONNECT_TIMEOUT) instead of
starting a second one, so a long freeze costs at most one blocked thread per database.
When it finally connects, the late connection is closed and the next connect proceeds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import Error, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from .watchdog import WATCHDOG, Ticket, identify


class ServerUnreachable(OperationalError):
    """The database server did not accept a connection within the cache's CONNECT_TIMEOUT."""


class QueryTimeout(OperationalError):
    """A cache statement did not complete within the cache's QUERY_TIMEOUT; its connection was cut."""


# alias -> the "done" event of a helper still blocked in a connect its caller gave up on
_stuck: dict[str, threading.Event] = {}
_stuck_lock = threading.Lock()


def connect_bounded(connection: BaseDatabaseWrapper, timeout: float,
                    socket_fd: Callable[[Any], int | None]) -> None:
    """``connection.ensure_connection()``, failing with ``ServerUnreachable`` after ``timeout`` s."""
    alias = connection.alias
    deadline = time.monotonic() + timeout
    tickets: list[Ticket] = []
    original = connection.get_new_connection

    def get_new_connection(conn_params: Any) -> Any:
        raw = _in_helper(alias, lambda: original(conn_params), timeout)
        fd = socket_fd(raw)
        sock = None if fd is None else identify(fd)
        if sock is not None:
            tickets.append(WATCHDOG.arm(sock, max(deadline - time.monotonic(), 0.001)))
        return raw

    # Per-thread wrapper, per-call override: Django's connect() calls self.get_new_connection.
    shadowed = connection.__dict__.get("get_new_connection")
    connection.get_new_connection = get_new_connection  # type: ignore[method-assign]
    try:
        connection.ensure_connection()
    except Error as exc:
        # A connection that failed its set-up holds no user transaction: drop it whatever
        # state Django's connect() left behind (autocommit may not be restored yet).
        _drop(connection)
        if tickets and WATCHDOG.disarm(tickets[0]):
            raise ServerUnreachable(f"database {alias!r}: connected, but its set-up did not complete "
                                    f"within {timeout:g} s (CONNECT_TIMEOUT)") from exc
        raise
    finally:
        if shadowed is None:
            del connection.get_new_connection
        else:
            connection.get_new_connection = shadowed  # type: ignore[method-assign]
    if tickets and WATCHDOG.disarm(tickets[0]):  # cut as the set-up finished: unusable
        _drop(connection)
        raise ServerUnreachable(f"database {alias!r}: the connection's set-up did not complete "
                                f"within {timeout:g} s (CONNECT_TIMEOUT)")


def _drop(connection: BaseDatabaseWrapper) -> None:
    if connection.connection is not None and not connection.in_atomic_block:
        with contextlib.suppress(Error):
            connection.close()


def _in_helper(alias: str, open_raw: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    with _stuck_lock:
        pending = _stuck.get(alias)
    # An earlier helper still blocked: the server has not answered it; wait for it (not
    # beside it) within our own deadline, so a long freeze keeps one blocked thread.
    if pending is not None and not pending.wait(timeout):
        raise ServerUnreachable(f"database {alias!r}: the server did not accept a connection within "
                                f"{timeout:g} s (CONNECT_TIMEOUT; an earlier attempt is still waiting)")
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["raw"] = open_raw()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
        with _stuck_lock:
            done.set()
            abandoned = box.get("abandoned", False)
            if abandoned and _stuck.get(alias) is done:
                del _stuck[alias]
        if abandoned and "raw" in box:
            with contextlib.suppress(Exception):
                box["raw"].close()  # the caller has moved on: nobody will use it

    threading.Thread(target=run, name=f"altcache-db-connect-{alias}", daemon=True).start()
    if not done.wait(max(deadline - time.monotonic(), 0.0)):
        with _stuck_lock:
            if not done.is_set():
                box["abandoned"] = True
                _stuck[alias] = done
                raise ServerUnreachable(f"database {alias!r}: the server did not accept a connection "
                                        f"within {timeout:g} s (CONNECT_TIMEOUT)")
    if "error" in box:
        raise box["error"]
    return box["raw"]
