"""One server's invalidation channel: a RESP3 connection in ``CLIENT TRACKING ON BCAST`` mode,
read by a daemon thread, with a heartbeat that bounds how long the tier trusts it.

Why this shape (see docs/local-cache.md for the user's view):

- RESP3, tracking on the channel's own connection, not RESP2 with ``REDIRECT`` to a
  ``__redis__:invalidate`` subscriber. With a redirect the tracking state lives on one
  connection and the messages arrive on another: the reading connection can be killed or
  reconnected (redis-py reconnects silently) and the subscriber goes on receiving PONGs and no
  invalidation, with nothing to notice. Here one connection carries the tracking state, the
  invalidations and the heartbeat; losing it is one event, seen by one reader.
- ``BCAST`` with the cache's key prefixes, not the default mode (the server remembering the keys
  each connection read). Default mode needs every read on a tracked connection and a redirect
  per pooled connection; BCAST makes the server report every write under the prefixes, whoever
  reads it and on whichever connection, so the read path keeps redis-py's pools untouched (and
  works the same for asyncio). The cost is a message per write under the prefixes, which the
  ``prefixes`` setting narrows.
- A heartbeat (PING every ``lease / 4``). Replies come in order, so a PONG proves every
  invalidation the server sent before it has been applied. Hits are served only until
  ``lease_until`` = (when the last answered PING was sent) + ``lease``: a frozen server, a
  partition or a starved thread stops local hits within ``lease``, before a failover can
  promote a replica that takes writes we would not hear about (keep ``lease`` below the
  failover's detection time). When the lease lapsed, the store is flushed before it is
  renewed: the server may have been replaced while we were not listening.
- On any error (disconnect, server restart, ``CLIENT KILL``, a PING unanswered for
  ``silence`` seconds) ``lease_until`` drops to 0 first (no further hit), then the store is
  flushed, then the thread reconnects with backoff; hits resume after the new connection's first
  PONG. A hit served after the loss is seen (by the channel's thread, or by the hit itself when
  ``CATCH_UP`` has passed) never returns a value the server replaced while nobody listened.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .store import LocalStore

logger = logging.getLogger("django_altcache")

PONG = (b"PONG", "PONG")
_PUSH = object()  # what the push handler returns, so the loop can tell a push from a reply
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0
REFUSED_BACKOFF = 30.0  # after the server refused (an error reply, not a network failure)
LOG_EVERY = 30.0  # seconds between two warnings about one channel that cannot connect
CATCH_UP = 0.001  # a thread serving hits applies pending messages itself at least this often
CATCH_UP_WAIT = 0.002  # how long it waits for another thread applying them


class ChannelLost(Exception):
    """The channel stopped being trustworthy (unanswered heartbeat, unexpected reply)."""


def minimal_prefixes(prefixes: Sequence[str]) -> tuple[str, ...]:
    """Drop prefixes covered by shorter ones: the server refuses overlapping BCAST prefixes."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return tuple(sorted(kept))


class Channel:
    """Invalidations from one server into ``store``; ``lease_until`` says whether to trust them.

    Two kinds of threads apply the server's messages, one at a time (``_lock``): the channel's
    own thread, woken by the socket, and any thread about to serve a hit once ``CATCH_UP``
    seconds have passed since the channel was last looked at (``catch_up``). The second matters when the process is busy:
    a thread serving hits in a loop holds the GIL, and the channel's thread, woken by a message,
    may wait for it (5 ms switch interval) or for a CPU much longer; the thread serving the hit
    applies the message itself instead (a ``poll`` of the socket, about a microsecond, per
    millisecond of hits).
    """

    def __init__(self, name: str, connect: Callable[[], Any], prefixes: Sequence[str], store: LocalStore,
                 lease: float, *, silence: float | None = None) -> None:
        self.name = name
        self._connect = connect  # returns an unconnected redis-py Connection (protocol=3)
        self.prefixes = minimal_prefixes(prefixes)
        self.store = store
        self.lease = lease
        self.interval = lease / 4
        self.silence = silence if silence is not None else max(2 * lease, 1.0)
        # Read by every hit: plain float attributes, replaced whole.
        self.lease_until = 0.0
        self.check_at = 0.0  # a hit on or after this first calls catch_up()
        self.address: Any = None  # the server the current connection reached (None when down)
        self.epoch = 0  # bumped at each new connection
        self.connects = 0
        self.losses = 0
        self._conn: Any = None  # the live connection, only touched under _lock
        self._probe: Any = None  # poll object on its socket, for catch_up (under _lock)
        self._outstanding: deque[float] = deque()  # send times of unanswered PINGs
        self._lock = threading.Lock()
        self._live_since_flush = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_log = 0.0

    def __repr__(self) -> str:
        return f"<Channel {self.name} address={self.address} live={self.live}>"

    @property
    def live(self) -> bool:
        return time.monotonic() < self.lease_until

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None or self._closed.is_set():
            return
        with self._start_lock:
            if self._thread is None and not self._closed.is_set():
                thread = threading.Thread(target=self._run, name=f"altcache-invalidations {self.name}", daemon=True)
                thread.start()
                self._thread = thread

    def close(self, timeout: float = 5.0) -> None:
        self._closed.set()
        with self._lock:
            self._lost()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def forget(self) -> None:
        """In a forked child: the thread does not exist here and the socket is the parent's."""
        self._closed.set()
        self.lease_until = 0.0
        self.address = None
        self._conn = self._probe = None

    def wait_live(self, timeout: float) -> bool:
        """Start the channel and wait (bounded) until it serves hits; for tests and warm-up."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline or self._closed.is_set():
                return False
            time.sleep(0.005)
        return True

    def synced(self, timeout: float) -> bool:
        """Wait (bounded) until a heartbeat sent after this call is answered: every write the
        server made before the call has then been applied here. For tests and benchmarks."""
        asked = time.monotonic()
        deadline = asked + timeout
        while self.lease_until - self.lease <= asked:
            if time.monotonic() > deadline or self._closed.is_set():
                return False
            time.sleep(0.002)
        return True

    # -- called by hits ------------------------------------------------------------------------
    def catch_up(self, now: float) -> bool:
        """Apply what the server sent and nobody applied yet. False when another thread is doing
        it right now: the caller does not serve this hit (it reads from the server instead)."""
        lock = self._lock
        # Another thread applying messages is done within microseconds; a thread stuck in a
        # read of a half-received message is not waited for: this hit is not served.
        if not lock.acquire(True, CATCH_UP_WAIT):
            return False
        try:
            probe = self._probe
            if probe is not None and probe.poll(0):
                self._drain(self._conn)
            self.check_at = now + CATCH_UP
        except Exception as exc:  # noqa: BLE001 - the connection broke under us: stop trusting it
            self._lost()
            self._log_loss(exc)
        finally:
            lock.release()
        return True

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._closed.is_set():
            conn = None
            try:
                conn = self._open()
                backoff = BACKOFF_FIRST
                self._serve(conn)
            except Exception as exc:  # noqa: BLE001 - any failure means: not listening any more
                if not self._closed.is_set():
                    self._log_loss(exc)
                if _refused(exc):  # the server said no (an ACL, no CLIENT TRACKING): ask rarely
                    backoff = REFUSED_BACKOFF
            finally:
                with self._lock:
                    if self._conn is conn:
                        self._lost()
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:  # noqa: BLE001 - it is gone either way
                        pass
            self._closed.wait(backoff)
            backoff = BACKOFF_FIRST if backoff >= REFUSED_BACKOFF else min(backoff * 2, BACKOFF_MAX)

    def _open(self) -> Any:
        conn = self._connect()
        conn.connect()
        parser = getattr(conn, "_parser", None)
        if parser is None or not hasattr(parser, "set_invalidation_push_handler"):
            raise RuntimeError("this redis-py connection cannot receive RESP3 push messages")
        parser.set_invalidation_push_handler(self._on_push)
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "BCAST"]
        for prefix in self.prefixes:
            args += ["PREFIX", prefix]
        conn.send_command(*args, check_health=False)
        reply = conn.read_response()
        if reply not in (b"OK", "OK"):
            raise ChannelLost(f"CLIENT TRACKING answered {reply!r}")
        probe = select.poll()
        probe.register(conn._sock.fileno(), select.POLLIN)
        with self._lock:
            self._conn, self._probe = conn, probe
            self._outstanding.clear()
            self.address = address_of(conn)
            self.epoch += 1
            self.connects += 1
        return conn

    def _serve(self, conn: Any) -> None:
        waiter = select.poll()  # the thread's own: poll objects refuse concurrent use
        waiter.register(conn._sock.fileno(), select.POLLIN)
        interval, monotonic, closed, lock = self.interval, time.monotonic, self._closed, self._lock
        outstanding = self._outstanding
        next_ping = 0.0
        while not closed.is_set():
            now = monotonic()
            with lock:
                if self._conn is not conn:
                    raise ChannelLost("the connection failed in another thread")
                if now >= next_ping and not outstanding:
                    conn.send_command("PING", check_health=False)
                    outstanding.append(now)
                    next_ping = now + interval
                elif outstanding and now - outstanding[0] > self.silence:
                    raise ChannelLost(f"no reply to a PING for {self.silence:.1f} s")
            wait = interval / 4 if outstanding else max(0.0, min(next_ping - now, interval))
            if waiter.poll(wait * 1000):
                with lock:
                    if self._conn is not conn:
                        raise ChannelLost("the connection failed in another thread")
                    self._drain(conn)

    # -- applying messages (under _lock) ----------------------------------------------------
    def _drain(self, conn: Any) -> None:
        """Every complete message the connection has: invalidations, PONGs."""
        if conn._sock is None:  # redis-py would reconnect silently (without tracking) on a read
            raise ChannelLost("disconnected")
        parser = conn._parser
        if getattr(parser, "_hiredis_PushNotificationType", None) is not None and \
                getattr(parser, "_reader", None) is not None:
            self._drain_hiredis(conn, parser)
            return
        while conn.can_read(timeout=0):
            reply = conn.read_response(push_request=True)
            if reply is not _PUSH:
                self._reply(reply)

    def _drain_hiredis(self, conn: Any, parser: Any) -> None:
        """The same, straight from hiredis's reader: a few hundred nanoseconds a message instead
        of redis-py's several microseconds, which a busy process pays under the GIL per write
        reported. Keys are applied in batches, always before a PONG that follows them."""
        from redis._parsers.hiredis import NOT_ENOUGH_DATA

        push_type = parser._hiredis_PushNotificationType
        sock = conn._sock
        keys: list[str] = []
        while True:
            reader = parser._reader  # what is buffered first, then what the socket has
            while True:
                message = reader.gets()
                if message is NOT_ENOUGH_DATA or message is False:
                    break
                if type(message) is push_type:
                    if message and message[0] == b"invalidate":
                        changed = message[1] if len(message) > 1 else None
                        if changed is None:
                            keys.clear()
                            self.store.flush()
                        else:
                            keys += [key.decode("utf-8", "surrogateescape") for key in changed]
                    continue
                if keys:
                    self.store.invalidate_many(keys)
                    keys = []
                if isinstance(message, BaseException):
                    raise message
                self._reply(message)
            if not _readable(sock):
                break
            parser.read_from_socket()  # readable: returns at once with what there is
        if keys:
            self.store.invalidate_many(keys)

    def _reply(self, reply: Any) -> None:
        """A reply to one of our PINGs: the lease runs from when it was sent."""
        outstanding = self._outstanding
        if reply not in PONG or not outstanding:
            raise ChannelLost(f"unexpected reply {reply!r}")
        sent = outstanding.popleft()
        if self.lease_until and time.monotonic() >= self.lease_until:
            # Unheard from for longer than the lease: what was served from memory so far was
            # within bounds, but the server may since have been replaced.
            self.store.flush()
        self.lease_until = sent + self.lease
        self._live_since_flush = True

    def _on_push(self, message: Any) -> Any:
        """``[b"invalidate", [key, ...]]``, or ``[b"invalidate", None]`` after FLUSHDB/FLUSHALL."""
        keys = message[1] if len(message) > 1 else None
        if keys is None:
            self.store.flush()
        else:
            self.store.invalidate_many(
                key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key for key in keys)
        return _PUSH

    def _lost(self) -> None:
        """Not listening any more (under _lock): no further hit, then nothing left to hit."""
        self.lease_until = 0.0
        self.address = None
        self._conn = self._probe = None
        if self._live_since_flush:
            self._live_since_flush = False
            self.losses += 1
            self.store.flush()

    def _log_loss(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            logger.warning("django_altcache: local cache: invalidation channel %s lost (%s: %s); local hits "
                           "are off until it reconnects", self.name, type(exc).__name__, exc)


def _readable(sock: Any) -> bool:
    if hasattr(sock, "pending") and sock.pending():  # TLS: bytes decrypted above the socket
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _refused(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, redis.ResponseError)


def address_of(conn: Any) -> Any:
    """Which server a redis-py connection reached: (host, port), or the unix socket path."""
    path = getattr(conn, "path", None)
    if path:
        return path
    return (getattr(conn, "host", None), getattr(conn, "port", None))
