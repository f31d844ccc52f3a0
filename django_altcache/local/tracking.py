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
  PONG. Writes the server made while nobody listened are thus never served from memory.
"""

from __future__ import annotations

import logging
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
LOG_EVERY = 30.0  # seconds between two warnings about one channel that cannot connect


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
    """Invalidations from one server into ``store``; ``lease_until`` says whether to trust them."""

    def __init__(self, name: str, connect: Callable[[], Any], prefixes: Sequence[str], store: LocalStore,
                 lease: float, *, silence: float | None = None) -> None:
        self.name = name
        self._connect = connect  # returns an unconnected redis-py Connection (protocol=3)
        self.prefixes = minimal_prefixes(prefixes)
        self.store = store
        self.lease = lease
        self.interval = lease / 4
        self.silence = silence if silence is not None else max(2 * lease, 1.0)
        # Read by every hit: a plain float attribute, replaced whole.
        self.lease_until = 0.0
        self.address: Any = None  # the server the current connection reached (None when down)
        self.epoch = 0  # bumped at each new connection
        self.connects = 0
        self.losses = 0
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
        self._drop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def forget(self) -> None:
        """In a forked child: the thread does not exist here and the socket is the parent's."""
        self._closed.set()
        self.lease_until = 0.0
        self.address = None

    def wait_live(self, timeout: float) -> bool:
        """Start the channel and wait (bounded) until it serves hits; for tests and warm-up."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self.live:
            if time.monotonic() > deadline or self._closed.is_set():
                return False
            time.sleep(0.005)
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
            finally:
                self._drop()
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:  # noqa: BLE001 - it is gone either way
                        pass
            self._closed.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _open(self) -> Any:
        conn = self._connect()
        parser = getattr(conn, "_parser", None)
        if parser is None or not hasattr(parser, "set_invalidation_push_handler"):
            raise RuntimeError("this redis-py connection cannot receive RESP3 push messages")
        parser.set_invalidation_push_handler(self._on_push)
        conn.connect()
        # set again: connect() may build a fresh parser reader
        conn._parser.set_invalidation_push_handler(self._on_push)
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "BCAST"]
        for prefix in self.prefixes:
            args += ["PREFIX", prefix]
        conn.send_command(*args, check_health=False)
        reply = conn.read_response()
        if reply not in (b"OK", "OK"):
            raise ChannelLost(f"CLIENT TRACKING answered {reply!r}")
        self.address = address_of(conn)
        self.epoch += 1
        self.connects += 1
        return conn

    def _serve(self, conn: Any) -> None:
        lease, interval = self.lease, self.interval
        outstanding: deque[float] = deque()
        next_ping = 0.0
        monotonic = time.monotonic
        closed = self._closed
        while not closed.is_set():
            now = monotonic()
            if now >= next_ping and not outstanding:
                conn.send_command("PING", check_health=False)
                outstanding.append(now)
                next_ping = now + interval
            if outstanding and now - outstanding[0] > self.silence:
                raise ChannelLost(f"no reply to a PING for {self.silence:.1f} s")
            wait = max(0.0, min(next_ping - now, interval)) if not outstanding else interval / 4
            if not conn.can_read(timeout=wait):
                continue
            while True:
                reply = conn.read_response(push_request=True)
                if reply is _PUSH:
                    pass
                elif reply in PONG and outstanding:
                    sent = outstanding.popleft()
                    if self.lease_until and monotonic() >= self.lease_until:
                        # Unheard from for longer than the lease: what was served from memory so
                        # far was within bounds, but the server may since have been replaced.
                        self.store.flush()
                    self.lease_until = sent + lease
                    self._live_since_flush = True
                else:
                    raise ChannelLost(f"unexpected reply {reply!r}")
                if not conn.can_read(timeout=0):
                    break

    def _on_push(self, message: Any) -> Any:
        """``[b"invalidate", [key, ...]]``, or ``[b"invalidate", None]`` after FLUSHDB/FLUSHALL."""
        keys = message[1] if len(message) > 1 else None
        if keys is None:
            self.store.flush()
        else:
            self.store.invalidate_many(
                key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key for key in keys)
        return _PUSH

    def _drop(self) -> None:
        """Not listening any more: no further hit, then nothing left to hit."""
        self.lease_until = 0.0
        self.address = None
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


def address_of(conn: Any) -> Any:
    """Which server a redis-py connection reached: (host, port), or the unix socket path."""
    path = getattr(conn, "path", None)
    if path:
        return path
    return (getattr(conn, "host", None), getattr(conn, "port", None))
