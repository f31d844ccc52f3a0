"""pymemcache and pylibmc: every difference between the two libraries lives here.

A driver knows how to build the library client from Django's OPTIONS (with our
defaults underneath), which library errors mean "server unreachable", and how to do
the operations whose library behaviour falls short of the backend's contract
(``incr`` returning False, multi-key calls that give up on the whole batch when one
server fails, ``delete_many`` as one command per key).

Failures of one server: by default they raise, as the library raises them. With
fail-soft on for a pool, the backend sets ``on_server_failure`` and the multi-key
operations then skip a failed server's keys (reported there) so the other servers'
keys still count; single-key operations raise and the resilience layer answers them.
"""

from __future__ import annotations

import collections
import functools
import importlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from django_altcache.conf import CacheConfigError
from django_altcache.conf.resilience import BreakerSettings

from .options import PYMEMCACHE_VALUES, check_library_values

# Finite by default so an unreachable or stalled server costs at most about this long.
CONNECT_TIMEOUT = 1.0  # seconds
IO_TIMEOUT = 1.0  # seconds, per socket read/write
# libmemcached skips a failed server for retry_timeout whole seconds (1 is its minimum);
# pylibmc clients are renewed sooner (PyLibMCDriver.after_outage) to retry faster.
RETRY_TIMEOUT = 1

ServerFailure = Callable[[str, BaseException], None]
_MISSING = object()


class Driver:
    name: str
    module: str
    library: ModuleType
    client_class: type
    not_found: type[BaseException]
    # Library errors that may mean "server unreachable"; is_unavailable() has the last word.
    errors: tuple[type[BaseException], ...]
    # Whether get_many raises when a server fails (else its keys just read as misses), so that
    # gathered reads may share one multi-get and still fail as they would alone.
    multi_get_reports_failures = True

    def __init__(self, breaker: BreakerSettings | None = None, pool: bool = False, lenient: bool = False) -> None:
        """``breaker``: the cache's CIRCUIT_BREAKER settings (None when off); ``pool``: several servers;
        ``lenient``: answer failures as Django's backend does (the library's retry window, a
        read timeout reported as a miss), the default; False with STRICT_ERRORS, fail-soft or
        breakers, where every failure raises."""
        try:
            # sys.modules first: import_module costs more than the rest of a cheap construction.
            self.library = sys.modules.get(self.module) or importlib.import_module(self.module)
        except ImportError as exc:
            raise CacheConfigError(f"needs the {self.module!r} package: pip install 'django-altcache[{self.module}]' "
                                   f"({exc})", ("BACKEND",)) from exc
        self.breaker = breaker
        self.pool = pool
        self.lenient = lenient
        self.on_server_failure: ServerFailure | None = None
        self.setup()

    def setup(self) -> None:
        raise NotImplementedError

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        raise NotImplementedError

    def client_servers(self, servers: list[str]) -> list[str]:
        return list(servers)

    def new_client(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        return self.client_class(servers, **options)

    def probe_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Options for a throw-away one-server client (ping): no failure state to share."""
        return dict(options)

    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        """How a thread gets its own client from the shared one, or None when sharing is safe."""
        return None

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.errors)

    def connection_error(self, message: str) -> BaseException:
        """The library's own exception for "the server is unreachable" (breaker open)."""
        raise NotImplementedError

    def after_outage(self, handle: Any, exc: BaseException, probing: bool) -> None:
        """Called for each outage error; ``probing``: the cache-wide breaker was open."""

    def server_breakers(self, client: Any) -> dict[str, str]:
        """Per-server breaker states, when the driver keeps them."""
        return {}

    def skipped(self, client: Any, key: str) -> bool:
        """Whether a False from ``client`` for ``key`` was a failing server's retry-window answer."""
        return False


    def incr(self, client: Any, key: str, delta: int) -> int | None:
        """The new value, or None for a missing key; server failures raise."""
        try:
            return client.decr(key, -delta) if delta < 0 else client.incr(key, delta)
        except self.not_found:
            return None

    def touch(self, client: Any, key: str, timeout: Any, backend_timeout: int) -> bool:
        return bool(client.touch(key, backend_timeout))

    def get(self, client: Any, key: str, default: Any) -> Any:
        return client.get(key, default)

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        raise NotImplementedError

    def delete_many(self, client: Any, keys: list[str]) -> None:
        raise NotImplementedError

    def clear(self, client: Any) -> None:
        client.flush_all()

    def _tolerated(self, exc: BaseException, what: str) -> bool:
        """True when a failed server's share may be skipped (reported) instead of raising."""
        if self.on_server_failure is None or not self.is_unavailable(exc):
            return False
        self.on_server_failure(what, exc)
        return True


@functools.cache
def _pymemcache_parts() -> tuple[type, type[BaseException], type[BaseException], Any, Any]:
    """Imported on first use (pymemcache is an extra), once: a driver is built per instance."""
    import pymemcache.exceptions

    from .hashclient import FailFastHashClient
    from .serde import SERDE, UNREADABLE

    # SERDE: Django's pickle_serde bytes; unreadable values read as a miss.
    return (FailFastHashClient, pymemcache.exceptions.MemcacheError,
            pymemcache.exceptions.MemcacheUnexpectedCloseError, SERDE, UNREADABLE)


class PyMemcacheDriver(Driver):
    """pymemcache's HashClient (our FailFastHashClient): rendezvous hashing, per-server breakers.

    ``use_pooling=True`` puts a thread-safe PooledClient behind each server, so
    one HashClient serves the whole process.
    """

    name = "pymemcache"
    module = "pymemcache"

    def setup(self) -> None:
        (self.client_class, self._base_error, self._closed_error, self._pickle_serde,
         self._unreadable_value) = _pymemcache_parts()
        self.not_found = KeyError  # never raised by pymemcache; missing keys come back as None
        self.errors = (OSError, self._base_error)

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        check_library_values(options, PYMEMCACHE_VALUES)
        # Django's three defaults first (same bytes on the wire: pickle at the highest
        # protocol), then ours, then the user's OPTIONS on top, as Django does.
        return {
            "allow_unicode_keys": True,
            "default_noreply": False,
            "serde": self._pickle_serde,
            "use_pooling": True,
            "connect_timeout": CONNECT_TIMEOUT,
            "timeout": IO_TIMEOUT,
            **options,
            # A pool's breakers are per server, here; a single server's is the cache's own.
            "server_breaker": self.breaker if self.pool else None,
            # HashClient's answers while a server fails (window.py), unless failures must raise.
            "retry_windows": self.lenient,
        }

    def probe_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "server_breaker": None, "retry_windows": False}


    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        if options.get("use_pooling"):
            return None
        # Without pooling each server has a single socket: one HashClient per thread.
        return lambda shared: self.new_client(servers, options)

    def is_unavailable(self, exc: BaseException) -> bool:
        # A bare MemcacheError is HashClient's "all servers seem to be down".
        return isinstance(exc, (OSError, self._closed_error)) or type(exc) is self._base_error

    def connection_error(self, message: str) -> BaseException:
        # A dead server raises ConnectionRefusedError/ConnectionResetError (ConnectionError
        # subclasses), a stalled one socket.timeout: all OSError, which is what HashClient
        # itself treats as "server failed". MemcacheUnexpectedCloseError is not an OSError
        # and means a reply cut short, not "not tried".
        return ConnectionError(message)

    def server_breakers(self, client: Any) -> dict[str, str]:
        return dict(client.breaker_states())

    def get(self, client: Any, key: str, default: Any) -> Any:
        value = client.get(key, default)
        if value is self._unreadable_value:
            self._forget_unreadable(client, [key])
            return default
        return value

    def _forget_unreadable(self, client: Any, keys: list[str]) -> None:
        try:  # so add() wins over it; a later good value may be lost to this rare race, as elsewhere
            for key in keys:
                client.delete(key)
        except Exception:  # noqa: BLE001 - the caller asked for a read
            pass

    def skipped(self, client: Any, key: str) -> bool:
        windows = getattr(client, "windows", None)
        return windows is not None and windows.failing(client._get_client(key).server)

    def incr(self, client: Any, key: str, delta: int) -> int | None:
        value = client.decr(key, -delta) if delta < 0 else client.incr(key, delta)
        if value is False and not self.lenient:
            # HashClient's answer for a failed server: in its retry window (returned as
            # Django's backend does when lenient), or under OPTIONS={'ignore_exc': True}.
            raise ConnectionError(f"memcached server for key {key!r} is unavailable")
        return value  # type: ignore[no-any-return]

    def _each_server(self, client: Any, keys: Iterable[str]) -> dict[Any, list[str]]:
        batches: dict[Any, list[str]] = collections.defaultdict(list)
        for key in keys:
            batches[client._get_client(key)].append(key)
        return batches

    def _on_each(self, client: Any, what: str, calls: Iterable[tuple[Any, Any, tuple[Any, ...]]]) -> list[Any]:
        """Run ``(server, func, args)`` calls; a failure is skipped when tolerated, else raised
        after every server was tried (an invalidation reaches all the servers it can)."""
        results: list[Any] = []
        first_error: BaseException | None = None
        for server, func, args in calls:
            try:
                results.append(client._safely_run_func(server, func, None, *args))
            except Exception as exc:  # noqa: BLE001 - _tolerated() decides, others are re-raised
                if not self._tolerated(exc, what):
                    first_error = first_error or exc
                results.append(exc)
        if first_error is not None:
            raise first_error
        return results

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        if self.on_server_failure is None:
            found: dict[str, Any] = client.get_multi(keys)
        else:
            found = {}
            batches = self._each_server(client, keys)
            for result in self._on_each(client, "get_many", ((s, s.get_many, (b,)) for s, b in batches.items())):
                if isinstance(result, dict):
                    found.update(result)
        unreadable = self._unreadable_value
        if any(value is unreadable for value in found.values()):
            bad = [key for key, value in found.items() if value is unreadable]
            self._forget_unreadable(client, bad)
            found = {key: value for key, value in found.items() if value is not unreadable}
        return found

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        if self.on_server_failure is None:
            return list(client.set_multi(data, timeout))
        batches = self._each_server(client, data)
        calls = [(s, s.set_many, ({key: data[key] for key in batch}, timeout)) for s, batch in batches.items()]
        failed: list[str] = []
        for batch, result in zip(batches.values(), self._on_each(client, "set_many", calls)):
            # None: HashClient's answer under OPTIONS={'ignore_exc': True}.
            failed.extend(batch if result is None or isinstance(result, BaseException) else result)
        return failed

    def delete_many(self, client: Any, keys: list[str]) -> None:
        # HashClient.delete_many sends one command per key and waits for each reply;
        # pymemcache's per-server delete_many pipelines them: one round trip per server.
        batches = self._each_server(client, keys)
        self._on_each(client, "delete_many", ((s, s.delete_many, (b,)) for s, b in batches.items()))

    def clear(self, client: Any) -> None:
        self._on_each(client, "clear", ((s, s.flush_all, ()) for s in client.clients.values()))


class PyLibMCDriver(Driver):
    """pylibmc over libmemcached: Django's key placement, timed retry of failed servers.

    Key placement stays libmemcached's default (modula), as with Django's backend, so
    old and new code agree on which server holds a key during a switch; consistent
    hashing is one option away (``behaviors={"ketama": True}``, docs/compat.md).

    A pylibmc.Client must not be used by two threads at once. Each thread gets a
    clone of one process-wide client: no lock, no pool to size or to exhaust, and a
    thread's connections close when the thread ends (pylibmc's ThreadMappedPool
    would keep them until relinquished; ClientPool blocks when empty).
    """

    name = "pylibmc"
    module = "pylibmc"

    def setup(self) -> None:
        from .libmc import Client  # unreadable values read as a miss

        lib = self.library
        self.client_class = Client
        self.not_found = lib.NotFound
        self._down = tuple(
            getattr(lib, name)
            # SomeErrors: a call to every server (flush_all) that some of them failed.
            for name in ("ConnectionError", "ServerDown", "ServerDead", "NoServers", "ReadError", "WriteError",
                         "UnknownReadFailure", "SocketCreateError", "ConnectionBindError", "HostLookupError",
                         "UnixSocketError", "SomeErrors")
            if hasattr(lib, name)
        )
        # libmemcached answered from its retry window, without trying the server.
        self._skipped = tuple(getattr(lib, name) for name in ("ServerDown", "ServerDead") if hasattr(lib, name))
        self._base_error = lib.Error
        self.errors = (lib.Error,)
        cooldown = self.breaker.cooldown if self.breaker is not None else float(RETRY_TIMEOUT)
        self.retry_timeout = max(RETRY_TIMEOUT, math.ceil(cooldown))
        self.renew_after = cooldown
        self.silent_timeout: float | None = None  # set by client_options()
        # libmemcached's mget leaves a failed server's keys out of a pool's answer.
        self.multi_get_reports_failures = not self.pool

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, self._down):
            return True
        # libmemcached's MEMCACHED_ERRNO (26, a failed socket call) and MEMCACHED_TIMEOUT
        # (31) have no pylibmc class: they arrive as a bare pylibmc.Error
        # "error 31 from memcached_get(...): ... A TIMEOUT OCCURRED", or from incr/decr
        # as "1 keys failed" (a missing key is NotFound, a non-numeric value ClientError).
        return type(exc) is self._base_error and str(exc).startswith(("error 26 from", "error 31 from")) or (
            type(exc) is self._base_error and str(exc).endswith(" keys failed"))

    def _timed_out(self, exc: BaseException) -> bool:
        return type(exc) is self._base_error and str(exc).startswith("error 31 from")

    def connection_error(self, message: str) -> BaseException:
        # libmemcached's own word for a server it skips: SERVER_TEMPORARILY_DISABLED.
        return self.library.ServerDown(message)  # type: ignore[no-any-return]

    def after_outage(self, handle: Any, exc: BaseException, probing: bool) -> None:
        # Each clone keeps libmemcached's retry window (1-2 s: whole seconds, compared
        # strictly). A probe of the cache-wide breaker must really try the server, and a
        # window older than the cooldown may hide a server that is back: start afresh.
        # (A per-server breaker's own skip says nothing about libmemcached's window.)
        libmemcached_skip = isinstance(exc, self._skipped) and not getattr(exc, "breaker_skip", False)
        if probing or (libmemcached_skip and handle.since_renewal() >= self.renew_after):
            handle.renew()

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        behaviors = options.get("behaviors") or {}
        if not isinstance(behaviors, Mapping):
            raise CacheConfigError("must be a dict", ("OPTIONS", "behaviors"))
        defaults: dict[str, Any] = {
            "tcp_nodelay": True,
            # libmemcached units: connect/poll in milliseconds, send/receive in microseconds.
            "connect_timeout": int(CONNECT_TIMEOUT * 1000),
            "_poll_timeout": int(IO_TIMEOUT * 1000),
            "send_timeout": int(IO_TIMEOUT * 1_000_000),
            "receive_timeout": int(IO_TIMEOUT * 1_000_000),
            # A failed server is skipped this long, then tried again; it is never removed
            # (no remove_failed): with ketama its keys would move to the other servers and
            # be served from there, stale, the next time it fails. Lenient (Django's answers,
            # no breaker): libmemcached's own 2 s, as Django's backend has.
            **({} if self.lenient else {"retry_timeout": self.retry_timeout}),
            # Only with a user's remove_failed: libmemcached 1.1's 0 never retries a dead server.
            "dead_timeout": self.retry_timeout,
        }
        merged = {**options, "behaviors": {**defaults, **behaviors}}
        # pylibmc's own validation, early (an error naming the option, not at the first call);
        # private, so without it the client reports a bad behaviour when it is built.
        validate = getattr(self.library.client, "_behaviors_numeric", None)
        if validate is not None:
            try:
                validate(merged["behaviors"])
            except (ValueError, KeyError) as exc:
                raise CacheConfigError(str(exc), ("OPTIONS", "behaviors")) from exc
        poll = merged["behaviors"].get("_poll_timeout")
        # One server only: in a pool, a multi-get waiting on one server still returns the
        # others' keys, and a long legitimate transfer must not read as an outage.
        if not self.pool and isinstance(poll, (int, float)) and poll > 0:
            self.silent_timeout = 0.9 * poll / 1000
        return merged

    def client_servers(self, servers: list[str]) -> list[str]:
        return [server.removeprefix("unix:") for server in servers]


    def _guarded(self) -> bool:
        # A pool with a breaker gets one breaker per server (guarded.py).
        return self.pool and self.breaker is not None

    def new_client(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        client = self.client_class(servers, **options)
        if self._guarded() and len(servers) > 1:
            from .guarded import ServerBreakers

            assert self.breaker is not None
            client.altcache_breakers = ServerBreakers(list(servers), self.breaker)
        return client

    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        if not self._guarded():
            return lambda shared: shared.clone()
        from .guarded import GuardedClient

        return lambda shared: GuardedClient(shared, shared.altcache_breakers, is_outage=self.is_unavailable,
                                            skipped=self.connection_error)

    def server_breakers(self, client: Any) -> dict[str, str]:
        breakers = getattr(client, "_breakers", None)
        return breakers.states() if breakers is not None else {}

    def touch(self, client: Any, key: str, timeout: Any, backend_timeout: int) -> bool:
        # libmemcached's touch does not expire a key with a negative TTL; delete instead (as Django).
        if timeout == 0:
            return bool(client.delete(key))
        return bool(client.touch(key, backend_timeout))

    def _each_key(self, what: str, func: Any, items: Iterable[Any]) -> list[Any]:
        """Fallback when one server failed a batch: one call per item, collecting the items that failed."""
        failed: list[Any] = []
        items = list(items)
        for done, item in enumerate(items):
            try:
                if not func(item):
                    failed.append(item)
            except self._base_error as exc:
                if not self._tolerated(exc, what):
                    raise
                if self._timed_out(exc):
                    # A server that accepts connections but does not answer: libmemcached 1.1
                    # has no retry window for it, so each further key could wait the I/O
                    # timeout again. The rest of the batch counts as failed.
                    return failed + items[done:]
                failed.append(item)
        return failed

    def get(self, client: Any, key: str, default: Any) -> Any:
        if self.silent_timeout is None or self.lenient:
            # Lenient: a read timeout reported as a miss stays a miss, as with Django's backend.
            return client.get(key, default)
        started = time.perf_counter()
        value = client.get(key, _MISSING)
        if value is _MISSING:
            self._raise_if_timed_out(started, f"memcached_get({key})")
            return default
        return value

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        # libmemcached's mget skips a server in its retry window and returns what the others have.
        started = time.perf_counter()
        found: dict[str, Any] = client.get_multi(keys)
        if not found and self.silent_timeout is not None and not self.lenient:
            self._raise_if_timed_out(started, "memcached_mget")
        return found

    def _raise_if_timed_out(self, started: float, what: str) -> None:
        # pylibmc's get_multi (and libmemcached 1.0's get) report a read timeout as "no
        # value": a frozen server would look healthy to the breaker and every call would
        # wait the timeout. A miss that took the whole poll timeout is that timeout.
        if self.silent_timeout is not None and time.perf_counter() - started >= self.silent_timeout:
            raise self._base_error(f"error 31 from {what}: A TIMEOUT OCCURRED (answered as a miss by "
                                   "pylibmc after the whole _poll_timeout; reported by django-altcache)")

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        try:
            return list(client.set_multi(data, timeout))
        except self._base_error as exc:
            if self.on_server_failure is None or not self.is_unavailable(exc):
                raise
            # pylibmc gives up on the whole batch when one server is down.
            return self._each_key("set_many", lambda key: client.set(key, data[key], timeout), data)

    def delete_many(self, client: Any, keys: list[str]) -> None:
        try:
            client.delete_multi(keys)
        except self._base_error as exc:
            if self.on_server_failure is None or not self.is_unavailable(exc):
                raise
            self._each_key("delete_many", client.delete, keys)
