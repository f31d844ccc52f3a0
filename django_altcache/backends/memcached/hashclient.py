"""pymemcache's HashClient, with failing servers that never leave the hash ring.

pymemcache's own HashClient, after a server fails, answers False/None/{} for that
server's keys while it waits ``retry_timeout``, and after ``retry_attempts`` removes the
server from the hash ring: its keys then land on the other servers, which keep those
copies and serve them again the next time the ring changes (stale reads after an
invalidation). Its failure bookkeeping is also not thread-safe (two threads retiring one
server race on a dict pop).

Here a server never leaves the ring. By default a failing server gets the answers
``HashClient`` gives, as with Django's backend (``window.py``; the fast paths below hand
over to it while a server is failing). With ``STRICT_ERRORS``, or with fail-soft or
breakers (which answer failures themselves), every failure raises the library's own
exception, and, for a pool with a circuit breaker, each server has its own
``CircuitBreaker``: while open, calls for its keys raise ``ConnectionError`` at once
without a connect attempt; after the cooldown one call probes it. A single server gets no
breaker here: the cache-wide one (``_shared/guard.py``) does that job.

Connections are kept across requests (Django's backend reconnects per request), so after
a server restart each idle pooled connection is dead. The first call that finds one
drops the server's idle connections and, when the command may safely run twice (reads,
set, delete, touch, flush), retries once on a new connection instead of failing.

The cost per call is kept at the bare ``pymemcache.Client``'s (``quick``):

- one server: no hash ring (HashClient hashes every key with a pure-Python murmur3 over
  each server, even for one);
- several servers: Django's placement (the same rendezvous hash over the same names),
  remembered per key (``PLACEMENT_MEMO`` keys; the ring never changes, so never stale);
- the pool (``use_pooling=True``) is a deque of ``Client``s: a call pops one (or makes one)
  and appends it back, two atomic operations, where pymemcache's ``PooledClient`` takes a
  lock and enters a context manager per call; idle connections are kept up to
  ``max_pool_size`` (pymemcache's default: unbounded, as its pool);
- a breaker is looked at with one attribute read while closed; its bookkeeping only runs
  after a failure.
"""

from __future__ import annotations

import collections
import socket
from typing import Any

from pymemcache.client.base import PooledClient, check_key_helper
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


# Keys whose server is remembered (several servers): about 100 bytes each; the memo is
# emptied when full (a hot key set larger than this only costs the hash again).
PLACEMENT_MEMO = 10_000
_NONE: Any = object()


def server_name(server: Any) -> str:
    if isinstance(server, (tuple, list)):
        host, port = server
        return f"{host}:{port}"
    return str(server)


def _is_server_failure(exc: BaseException) -> bool:
    return isinstance(exc, SERVER_FAILURES)


class QuickPool(PooledClient):  # type: ignore[misc]
    """``PooledClient`` whose cache commands take a ``Client`` from a deque (no lock) and put it back."""

    def __init__(self, server: Any, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self.idle: collections.deque[Any] = collections.deque()
        limit = kwargs.get("max_pool_size")
        self.max_idle = 2**31 if limit is None else int(limit)

    def _call(self, name: str, args: tuple[Any, ...]) -> Any:
        idle = self.idle
        try:
            client = idle.pop()
        except IndexError:
            client = self._create_client()
        try:
            result = getattr(client, name)(*args)
        except BaseException:
            client.close()  # a Client reconnects at its next use
            raise
        finally:
            if len(idle) < self.max_idle:
                idle.append(client)
            else:
                client.close()
        return result

    def get(self, key: Any, default: Any = None, **kwargs: Any) -> Any:
        if kwargs:
            return super().get(key, default, **kwargs)
        idle = self.idle  # _call, inlined for the hottest command
        try:
            client = idle.pop()
        except IndexError:
            client = self._create_client()
        try:
            return client.get(key, default)
        except BaseException:
            client.close()
            raise
        finally:
            if len(idle) < self.max_idle:
                idle.append(client)
            else:
                client.close()

    def _make(name: str) -> Any:  # noqa: N805 - builds the class body's methods
        def method(self: QuickPool, *args: Any, **kwargs: Any) -> Any:
            if kwargs:
                return getattr(PooledClient, name)(self, *args, **kwargs)
            return self._call(name, args)

        method.__name__ = name
        return method

    for _name, _command in (("set", "set"), ("add", "add"), ("delete", "delete"), ("incr", "incr"),
                            ("decr", "decr"), ("touch", "touch"), ("get_many", "get_many"),
                            ("get_multi", "get_many"), ("set_many", "set_many"), ("set_multi", "set_many"),
                            ("delete_many", "delete_many"), ("delete_multi", "delete_many"),
                            ("flush_all", "flush_all")):
        locals()[_name] = _make(_command)
    del _name, _command, _make

    def close(self) -> None:
        while self.idle:
            try:
                self.idle.pop().close()
            except IndexError:
                break
        super().close()

    disconnect_all = close


class FailFastHashClient(HashClient):  # type: ignore[misc]
    """``retry_windows``: Django's answers while a server fails (``window.py``), the default;
    False (``STRICT_ERRORS``, or fail-soft/breakers that answer failures themselves): every
    failure raises."""

    def __init__(self, servers: Any, *, server_breaker: BreakerSettings | None = None,
                 retry_windows: bool = False, **kwargs: Any) -> None:
        self._quick_pool = kwargs.get("use_pooling", False) and not kwargs.get("pool_idle_timeout")
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
        # One server: no ring to consult. Several: Django's placement, remembered per key.
        self._only = next(iter(self.clients.values())) if len(self.clients) == 1 else None
        self._placement: dict[Any, Any] = {}

    def add_server(self, server: Any, port: Any = None) -> None:
        if not self._quick_pool:
            super().add_server(server, port)
            return
        if port is not None:
            server = (server, port)
        client = QuickPool(server, **self.default_kwargs)
        client.client_class = self.client_class
        key = self._make_client_key(server)
        self.clients[key] = client
        self.hasher.add_node(key)

    def _get_client(self, key: Any) -> Any:
        """The key's server: the rendezvous hash of HashClient, never a server removed."""
        only = self._only
        if only is not None:
            return only
        client = self._placement.get(key)
        if client is None:
            check_key_helper(key, self.allow_unicode_keys, self.key_prefix)  # HashClient's errors
            client = self.clients[self.hasher.get_node(key)]
            placement = self._placement
            if len(placement) >= PLACEMENT_MEMO:
                placement.clear()
            placement[key] = client
        return client

    def quick(self, cmd: str, key: Any, default: Any, *args: Any) -> Any:
        """``cmd(key, *args)`` on the key's server: what ``_run_cmd`` does, without its layers
        while the server's breaker is closed (the general path takes over otherwise)."""
        client = self._only or self._get_client(key)
        breaker = self.breakers.get(client.server) if self.breakers else None
        windows = self.windows
        if (self.ignore_exc or (breaker is not None and (breaker._open_until or breaker._count))
                or (windows is not None and windows._states)):
            return self._safely_run_func(client, getattr(client, cmd), default, key, *args)
        try:
            return getattr(client, cmd)(key, *args)
        except STALE_CONNECTION:
            if cmd not in REPEATABLE:
                if breaker is not None:
                    breaker.failure(MemcacheUnexpectedCloseError())
                self._check_reachable(client)
                raise
            _drop_idle_connections(client)
            return self._safely_run_func(client, getattr(client, cmd), default, key, *args)
        except SERVER_FAILURES as exc:
            if breaker is not None:
                breaker.failure(exc)
            self._note_failure(client, exc)
            raise

    # The commands the backend uses, through quick() (HashClient's signatures).
    def get(self, key: Any, default: Any = None, **kwargs: Any) -> Any:
        only = self._only
        windows = self.windows
        if only is None or kwargs or self.breakers or self.ignore_exc or (windows is not None and windows._states):
            if kwargs:
                return super().get(key, default, **kwargs)
            return self.quick("get", key, default, default)
        try:  # quick(), inlined for one server without a breaker
            return only.get(key, default)
        except STALE_CONNECTION:
            _drop_idle_connections(only)
            return self.quick("get", key, default, default)
        except OSError as exc:
            self._note_failure(only, exc)
            raise

    def _quick_command(cmd: str) -> Any:  # noqa: N805 - builds the class body's methods
        repeatable = cmd in REPEATABLE

        def method(self: FailFastHashClient, key: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs:
                return getattr(HashClient, cmd)(self, key, *args, **kwargs)
            only = self._only
            windows = self.windows
            if (only is None or self.breakers or self.ignore_exc or not isinstance(only, QuickPool)
                    or (windows is not None and windows._states)):
                return self.quick(cmd, key, False, *args)
            try:  # quick(), inlined for one pooled server without a breaker
                return only._call(cmd, (key, *args))
            except STALE_CONNECTION:
                _drop_idle_connections(only)
                if not repeatable:
                    self._check_reachable(only)
                    raise
                return self.quick(cmd, key, False, *args)
            except OSError as exc:
                self._note_failure(only, exc)
                raise

        method.__name__ = cmd
        return method

    for _cmd in ("set", "add", "delete", "incr", "decr", "touch"):
        locals()[_cmd] = _quick_command(_cmd)
    del _cmd, _quick_command

    def get_many(self, keys: Any, gets: bool = False, *args: Any, **kwargs: Any) -> Any:
        only = self._only
        windows = self.windows
        if (only is None or gets or args or kwargs or self.ignore_exc or self.breakers
                or (windows is not None and windows._states)):
            return super().get_many(keys, gets, *args, **kwargs)
        try:
            return only.get_many(keys)
        except STALE_CONNECTION:
            _drop_idle_connections(only)
            return super().get_many(keys, gets)
        except OSError as exc:
            self._note_failure(only, exc)
            raise

    get_multi = get_many

    def set_many(self, values: Any, *args: Any, **kwargs: Any) -> Any:
        only = self._only
        windows = self.windows
        if only is None or kwargs or self.ignore_exc or self.breakers or (windows is not None and windows._states):
            return super().set_many(values, *args, **kwargs)
        try:
            return list(only.set_many(values, *args))
        except STALE_CONNECTION:
            _drop_idle_connections(only)
            return super().set_many(values, *args)
        except OSError as exc:
            self._note_failure(only, exc)
            raise

    set_multi = set_many

    # -- failures, off the fast paths ---------------------------------------------------------
    def _note_failure(self, client: Any, exc: BaseException) -> None:
        """A fast path's server failure: it opens the server's retry window (window.py)."""
        if self.windows is not None and isinstance(exc, OSError):
            self.windows.failed(client.server, exc)

    def _check_reachable(self, client: Any) -> None:
        """After a stale connection, for a command that is not sent twice: a server that is gone
        raises the socket error Django's backend (a new connection per request) would have."""
        try:
            _raise_if_unreachable(client)
        except OSError as exc:
            self._note_failure(client, exc)
            raise

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
            if dead or self.ignore_exc:
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
    if isinstance(client, QuickPool):
        for idle in list(client.idle):
            idle.close()  # each reconnects at its next use
        return
    pool = getattr(client, "client_pool", None)
    if pool is None or not hasattr(pool, "_free_objs"):
        return
    with pool._lock:
        idle = list(pool._free_objs)
        pool._free_objs.clear()
    for connection in idle:
        connection.close()
