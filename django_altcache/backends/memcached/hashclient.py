"""pymemcache's HashClient, with failed servers that raise instead of answering defaults.

pymemcache's own HashClient, after a server fails, answers False/None/{} for that
server's keys while it waits ``retry_timeout`` (a silent miss even with
``ignore_exc=False``), and after ``retry_attempts`` removes the server from the hash
ring: its keys then land on the other servers, which keep those copies and serve them
again the next time the ring changes (stale reads after an invalidation). Its failure
bookkeeping is also not thread-safe (two threads retiring one server race on a dict pop).

Here a server never leaves the ring, every failure raises the library's own exception,
and, for a pool with a circuit breaker, each server has its own ``CircuitBreaker``:
while open, calls for its keys raise ``ConnectionError`` at once without a connect
attempt; after the cooldown one call probes it. A single server gets no breaker here:
the cache-wide one (backends/resilience.py) does that job.

Connections are kept across requests (Django's backend reconnects per request), so after
a server restart each idle pooled connection is dead. The first call that finds one
drops the server's idle connections and, when the command may safely run twice (reads,
set, delete, touch, flush), retries once on a new connection instead of failing.
"""

from __future__ import annotations

from typing import Any

from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheUnexpectedCloseError

from django_altcache.backends._shared.breaker import CircuitBreaker, call_through
from django_altcache.conf.resilience import BreakerSettings

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
    def __init__(self, servers: Any, *, server_breaker: BreakerSettings | None = None, **kwargs: Any) -> None:
        super().__init__(servers, **kwargs)
        self.breakers: dict[Any, CircuitBreaker] = {}
        if server_breaker is not None:
            for client in self.clients.values():
                name = f"memcached server {server_name(client.server)}"
                self.breakers[client.server] = CircuitBreaker(name, server_breaker)

    def _safely_run_func(self, client: Any, func: Any, default_val: Any, *args: Any, **kwargs: Any) -> Any:
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

    @staticmethod
    def _run_healing(client: Any, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return func(*args, **kwargs)
        except STALE_CONNECTION:
            if getattr(func, "__name__", None) not in REPEATABLE:
                raise
            _drop_idle_connections(client)
        return func(*args, **kwargs)

    def _safely_run_set_many(self, client: Any, values: dict[Any, Any], *args: Any, **kwargs: Any) -> list[Any]:
        failed = self._safely_run_func(client, client.set_many, None, values, *args, **kwargs)
        return list(values) if failed is None else list(failed)

    def breaker_states(self) -> dict[str, str]:
        return {server_name(server): ("open" if breaker.is_open else "closed")
                for server, breaker in self.breakers.items()}


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
