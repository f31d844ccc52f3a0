"""pymemcache's HashClient, with failing servers that never leave the hash ring.

pymemcache's own HashClient, after a server fails, answers False/None/{} for that
server's keys while it waits ``retry_timeout``, and after ``retry_attempts`` removes the
server from the hash ring: its keys then land on the other servers, which keep those
copies and serve them again the next time the ring changes (stale reads after an
invalidation). Its failure bookkeeping is also not thread-safe (two threads retiring one
server race on a dict pop).

Here a server never leaves the ring. By default a failing server gets the answers
``HashClient`` gives, as with Django's backend (``window.py``). With ``STRICT_ERRORS``, or
with fail-soft or breakers (which answer failures themselves), every failure raises the
library's own exception, and, for a pool with a circuit breaker, each server has its own
``CircuitBreaker``: while open, calls for its keys raise ``ConnectionError`` at once
without a connect attempt; after the cooldown one call probes it. A single server gets no
breaker here: the cache-wide one (``_shared/guard.py``) does that job.

Connections are kept across requests (Django's backend reconnects per request), so after
a server restart each idle pooled connection is dead. The first call that finds one
drops the server's idle connections and, when the command may safely run twice (reads,
set, delete, touch, flush), retries once on a new connection instead of failing.
"""

from __future__ import annotations

import socket
from typing import Any

from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from django_altcache.backends._shared.breaker import CircuitBreaker, RateLimitedLog, call_through
from django_altcache.conf.resilience import DEFAULT_LOG_INTERVAL, BreakerSettings

from .window import CALL, DEAD, RetryWindows

# What says "this server is unreachable": socket errors and timeouts, and a
# connection the server closed (a killed server, mid-reply).
SERVER_FAILURES: tuple[type[BaseException], ...] = (OSError, MemcacheUnexpectedCloseError)
# A connection the server closed while it sat idle in the pool (server restarted).
STALE_CONNECTION: tuple[type[BaseException], ...] = (MemcacheUnexpectedCloseError, ConnectionResetError,
                                                      BrokenPipeError)
# Commands whose second run cannot differ from the first (not add, incr, decr, cas, append...).
REPEATABLE = frozenset({"get", "get_many", "get_multi", "gets", "gets_many", "set", "set_many", "set_multi",
                        "delete", "delete_many", "delete_multi", "touch", "flush_all", "version", "stats"})


def server_name(server: Any) -> str:
    if isinstance(server, (tuple, list)):
        host, port = server
        return f"{host}:{port}"
    return str(server)


def _is_server_failure(exc: BaseException) -> bool:
    return isinstance(exc, SERVER_FAILURES)


class FailFastHashClient(HashClient):  # type: ignore[misc]
    """``retry_windows``: Django's answers while a server fails (``window.py``), the default;
    False (``STRICT_ERRORS``, or fail-soft/breakers that answer failures themselves): every
    failure raises."""

    def __init__(self, servers: Any, *, server_breaker: BreakerSettings | None = None,
                 retry_windows: bool = False, **kwargs: Any) -> None:
        super().__init__(servers, **kwargs)
        self.breakers: dict[Any, CircuitBreaker] = {}
        self.windows: RetryWindows | None = None
        if retry_windows:  # HashClient's own settings (pymemcache's defaults 2, 1 s, 60 s)
            self.windows = RetryWindows(self.retry_attempts, self.retry_timeout, self.dead_timeout,
                                        RateLimitedLog(DEFAULT_LOG_INTERVAL))
        if server_breaker is not None:
            for client in self.clients.values():
                name = f"memcached server {server_name(client.server)}"
                self.breakers[client.server] = CircuitBreaker(name, server_breaker)

    def _safely_run_func(self, client: Any, func: Any, default_val: Any, *args: Any, **kwargs: Any) -> Any:
        if self.windows is not None:
            return self._run_windowed(self.windows, client, func, default_val, args, kwargs)
        breaker = self.breakers.get(client.server)
        try:
            if breaker is None:
                return self._run_healing(client, func, args, kwargs)
            return call_through(breaker, lambda: self._run_healing(client, func, args, kwargs),
                                _is_server_failure, ConnectionError)
        except Exception:
            if self.ignore_exc:
                return default_val
            raise

    def _run_windowed(self, windows: RetryWindows, client: Any, func: Any, default_val: Any,
                      args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """As ``HashClient._safely_run_func`` answers (window.py), without leaving the ring."""
        server = client.server
        what = getattr(func, "__name__", "call")
        # Django's HashClient, with its only server out of the ring, raises this from every
        # keyed call; flush_all still reaches it.
        alone = len(self.clients) == 1 and what != "flush_all"
        decision = windows.before(server)
        if decision != CALL:
            if decision == DEAD and alone:
                raise MemcacheError("All servers seem to be down right now")
            windows.answered(server, what)
            return default_val
        try:
            result = self._run_healing(client, func, args, kwargs)
        except OSError as exc:
            dead = windows.is_dead(server) and what != "flush_all"  # HashClient's flush_all still raises
            windows.failed(server, exc)
            if dead and alone:
                raise MemcacheError("All servers seem to be down right now") from exc
            if dead:
                return default_val
            if self.ignore_exc:
                return default_val
            raise
        except Exception:
            if self.ignore_exc:
                return default_val
            raise
        windows.succeeded(server)
        return result

    @staticmethod
    def _run_healing(client: Any, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return func(*args, **kwargs)
        except STALE_CONNECTION:
            _drop_idle_connections(client)
            if getattr(func, "__name__", None) not in REPEATABLE:
                # Not sent twice (add, incr...), but a server that is gone says so as Django's
                # backend (a new connection per request) would: the socket error, which counts.
                _raise_if_unreachable(client)
                raise
        return func(*args, **kwargs)

    def _safely_run_set_many(self, client: Any, values: dict[Any, Any], *args: Any, **kwargs: Any) -> list[Any]:
        failed = self._safely_run_func(client, client.set_many, None, values, *args, **kwargs)
        return list(values) if failed is None else list(failed)

    def breaker_states(self) -> dict[str, str]:
        return {server_name(server): ("open" if breaker.is_open else "closed")
                for server, breaker in self.breakers.items()}


def _raise_if_unreachable(client: Any) -> None:
    """Connect to ``client``'s server (and close): raise the socket error if it cannot be reached."""
    server = client.server
    timeout = getattr(client, "connect_timeout", None)
    if isinstance(server, (tuple, list)):
        socket.create_connection((server[0], server[1]), timeout=timeout).close()
    else:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(server))


def _drop_idle_connections(client: Any) -> None:
    """Close a PooledClient's idle connections: they all predate what killed this one.

    Connections in use by other threads are left to fail (and be dropped) on their own.
    A plain Client (use_pooling=False) already closed its one socket.
    """
    pool = getattr(client, "client_pool", None)
    if pool is None or not hasattr(pool, "_free_objs"):
        return
    with pool._lock:
        idle = list(pool._free_objs)
        pool._free_objs.clear()
    for connection in idle:
        connection.close()
