"""What pymemcache's ``HashClient`` answers while a server is failing: Django's behaviour, by default.

Django's ``PyMemcacheCache`` is a ``HashClient`` with pymemcache's defaults
(``retry_attempts=2``, ``retry_timeout=1``, ``dead_timeout=60``, ``ignore_exc=False``).
Measured against a refused, killed and frozen memcached (docs/compat.md, "During an outage"):

1. the call that finds a server failing raises the socket error (``ConnectionRefusedError``,
   ``TimeoutError``...);
2. for ``retry_timeout`` seconds after a failure, calls for the server's keys are not sent
   and answer the client's default: ``get`` a miss, ``set``/``add``/``touch``/``delete``/
   ``incr``/``decr`` ``False``, ``get_many`` ``{}``, ``set_many`` every key; Django's backend
   turns these into its own answers (``incr`` returns ``False``, ``set`` nothing);
3. then one call tries the server again: an error is raised and the window starts over;
4. after ``retry_attempts`` such retries the server leaves the hash ring for ``dead_timeout``
   seconds: with one server every call then raises ``MemcacheError("All servers seem to be
   down right now")``; with several, its keys are served by the other servers.

``RetryWindows`` keeps that bookkeeping (thread-safe, where ``HashClient``'s is not), with two
deliberate differences: a server never leaves the ring (a pool's dead server answers its
keys as a miss, as in the window, instead of moving them to servers that would keep stale
copies), and a dead server is still tried once per ``retry_timeout``, so a restarted server
is used again within about ``retry_timeout`` instead of ``dead_timeout`` (60 s).

Only without ``IGNORE_EXCEPTIONS``/``CIRCUIT_BREAKER`` (which answer failures themselves) and
without ``STRICT_ERRORS`` (every failed call raises: no silent answers).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django_altcache.backends._shared.breaker import RateLimitedLog

CALL, SKIP, DEAD = "call", "skip", "dead"


@dataclass
class _State:
    failed_at: float = 0.0  # monotonic time of the last failure
    attempts: int = 0  # failed retries since the first failure
    dead: bool = False  # past retry_attempts: Django's HashClient took it out of the ring
    probe_at: float = 0.0  # a call is trying the server since (0: none)


class RetryWindows:
    """Per-server failure bookkeeping, answering as pymemcache's ``HashClient`` would."""

    def __init__(self, retry_attempts: int, retry_timeout: float, dead_timeout: float, log: RateLimitedLog) -> None:
        self.retry_attempts = retry_attempts
        self.retry_timeout = retry_timeout
        self.dead_timeout = dead_timeout
        self.log = log
        self._states: dict[Any, _State] = {}
        self._lock = threading.Lock()

    def before(self, server: Any) -> str:
        """``CALL`` (send it), ``SKIP`` (answer the default) or ``DEAD`` (as skip; one server:
        raise ``MemcacheError``), for a call to ``server``."""
        state = self._states.get(server)
        if state is None:
            return CALL
        now = time.monotonic()
        with self._lock:
            if now - state.failed_at <= self.retry_timeout or (state.probe_at and now - state.probe_at < 30):
                return DEAD if state.dead else SKIP
            state.probe_at = now  # this call retries the server; the others keep the answer
            return CALL

    def succeeded(self, server: Any) -> None:
        if self._states and self._states.pop(server, None) is not None:
            self.log(logging.WARNING, "memcached server %s answers again", _name(server))

    def failed(self, server: Any, exc: BaseException) -> None:
        with self._lock:
            state = self._states.get(server)
            if state is None:
                self._states[server] = _State(time.monotonic(), 0, self.retry_attempts <= 0)
                return
            state.failed_at = time.monotonic()
            state.probe_at = 0.0
            state.attempts += 1
            if state.attempts > self.retry_attempts:  # HashClient: the retry after the last allowed one
                state.dead = True

    def answered(self, server: Any, what: str) -> None:
        """Log (rate-limited) that a call was answered without the server."""
        self.log(logging.WARNING, "memcached server %s is failing: %s answered as pymemcache's HashClient does "
                 "during its retry window (a miss or False, as Django's backend); STRICT_ERRORS=True raises "
                 "instead", _name(server), what)

    def failing(self, server: Any) -> bool:
        return server in self._states

    def is_dead(self, server: Any) -> bool:
        state = self._states.get(server)
        return state is not None and state.dead


def _name(server: Any) -> str:
    if isinstance(server, (tuple, list)):
        return f"{server[0]}:{server[1]}"
    return str(server)
