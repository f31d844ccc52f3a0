"""QUERY_TIMEOUT for the database cache: one process-wide thread that cuts stuck sockets.

The cache runs on the site's own DATABASES connection, whose driver settings are the
user's; and a frozen server (SIGSTOP) keeps its kernel accepting and ACKing data, so
neither TCP keepalives nor ``tcp_user_timeout`` ever fire: a read waits forever. So a
deadline is enforced from the outside. Before a unit of cache work, the calling thread
``arm``s a ticket (deadline, socket fd); after it, ``disarm``s it. When a deadline
passes first, the watchdog ``shutdown()``s that socket: the blocked read returns at
once, the driver raises its own OperationalError, and the caller discards the connection.

Cost on the happy path: a ticket object and two acquisitions of one lock (the thread
is only woken when a new deadline is earlier than the one it sleeps towards, which under
steady traffic is about once per timeout period, not per query). The socket's identity
(one fstat) is taken once per driver connection by the caller.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time


class Ticket:
    __slots__ = ("deadline", "fd", "fired", "inode")

    def __init__(self, fd: int, inode: int, deadline: float) -> None:
        self.fd = fd
        self.inode = inode  # the socket's identity: the fd number may be reused after a close
        self.deadline = deadline
        self.fired = False


class Watchdog:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # arm/disarm take the bare lock (a Condition's own __enter__ costs more); the
        # condition shares it, for the thread's timed waits and the rare notify.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tickets: set[Ticket] = set()
        self._wake_at = math.inf  # when the thread next looks; inf: it sleeps until notified
        self._thread: threading.Thread | None = None

    def arm(self, sock: tuple[int, int], timeout: float) -> Ticket:
        """Cut ``sock`` (from ``identify``) if ``disarm`` is not called within ``timeout`` s."""
        ticket = Ticket(sock[0], sock[1], time.monotonic() + timeout)
        with self._lock:
            self._tickets.add(ticket)
            if ticket.deadline < self._wake_at:
                self._wake_at = ticket.deadline
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="altcache-db-watchdog",
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify()
        return ticket

    def disarm(self, ticket: Ticket) -> bool:
        """Forget ``ticket``; True when its deadline passed first and the socket was cut."""
        with self._lock:
            self._tickets.discard(ticket)
            return ticket.fired

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                if now < self._wake_at:
                    self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)
                    continue
                earliest = math.inf
                for ticket in list(self._tickets):
                    if ticket.deadline <= now:
                        # Under the lock: the owner cannot disarm, hence cannot close the
                        # connection and free the fd number, while we cut it.
                        self._tickets.discard(ticket)
                        ticket.fired = True
                        _cut(ticket.fd, ticket.inode)
                    elif ticket.deadline < earliest:
                        earliest = ticket.deadline
                self._wake_at = earliest


def identify(fd: int) -> tuple[int, int] | None:
    """``(fd, inode)`` of a socket, for ``arm``; the inode tells it from a later socket with
    the same number. Callers may keep it for as long as the driver keeps the socket."""
    try:
        return fd, os.fstat(fd).st_ino
    except OSError:
        return None


def _cut(fd: int, inode: int) -> None:
    """Shut the socket down in both directions; the driver's blocked read returns an error."""
    try:
        if os.fstat(fd).st_ino != inode:
            return  # the driver closed it and the number now names something else
        dup = os.dup(fd)
    except OSError:
        return
    try:
        sock = socket.socket(fileno=dup)  # a duplicate: closing it leaves the driver's fd open
    except OSError:
        os.close(dup)
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


WATCHDOG = Watchdog()

if hasattr(os, "register_at_fork"):
    # The thread does not survive a fork, and its lock may have been held at that moment.
    os.register_at_fork(after_in_child=WATCHDOG._reset)
