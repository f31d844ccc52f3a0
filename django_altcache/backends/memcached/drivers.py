"""pymemcache and pylibmc: every difference between the two libraries lives here.

A driver knows how to build the library client from Django's OPTIONS (with our
defaults underneath), which library errors mean "server unreachable", and how to do
the operations whose library behaviour falls short of the backend's contract
(``incr`` returning False, multi-key calls that give up on the whole batch when one
server fails, ``delete_many`` as one command per key).
"""

from __future__ import annotations

import collections
import importlib
import logging
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from django_altcache.options import CacheConfigError, setting_path

logger = logging.getLogger("django_altcache")

# Finite by default so an unreachable or stalled server costs at most about this long.
CONNECT_TIMEOUT = 1.0  # seconds
IO_TIMEOUT = 1.0  # seconds, per socket read/write
# A failed server is skipped for RETRY_TIMEOUT, then tried again; pymemcache removes it
# from the hash ring after RETRY_ATTEMPTS failed retries and re-adds it after DEAD_TIMEOUT.
RETRY_TIMEOUT = 1
RETRY_ATTEMPTS = 2
DEAD_TIMEOUT = 5


def _timeout_option(options: dict[str, Any], key: str, location: Any) -> None:
    value = options.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise CacheConfigError(f"{setting_path(key, location)}: expected a non-negative number, got {value!r}")


class Driver:
    name: str
    module: str
    library: ModuleType
    client_class: type
    not_found: type[BaseException]
    # Errors that may mean "server unreachable"; is_unavailable() has the last word.
    unavailable: tuple[type[BaseException], ...]
    # True when one client may be used by many threads at once.
    thread_safe: bool = True

    def __init__(self) -> None:
        try:
            self.library = importlib.import_module(self.module)
        except ImportError as exc:
            raise CacheConfigError(
                f"CACHES[...]['BACKEND'] needs the {self.module!r} package: "
                f"pip install 'django-altcache[{self.module}]' ({exc})"
            ) from exc
        self.setup()

    def setup(self) -> None:
        raise NotImplementedError

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        raise NotImplementedError

    def client_servers(self, servers: list[str]) -> list[str]:
        return list(servers)

    def new_client(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        return self.client_class(servers, **options)

    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        """How a thread gets its own client from the shared one, or None when sharing is safe."""
        return None

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.unavailable)

    def unbounded_timeouts(self, options: Mapping[str, Any]) -> list[str]:
        """Timeout options the user turned off: a stalled server would then block requests."""
        return []

    def incr(self, client: Any, key: str, delta: int) -> int | None:
        """The new value, or None for a missing key; server failures raise."""
        try:
            return client.decr(key, -delta) if delta < 0 else client.incr(key, delta)
        except self.not_found:
            return None

    def touch(self, client: Any, key: str, timeout: Any, backend_timeout: int) -> bool:
        return bool(client.touch(key, backend_timeout))

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        raise NotImplementedError

    def delete_many(self, client: Any, keys: list[str]) -> None:
        raise NotImplementedError


class PyMemcacheDriver(Driver):
    """pymemcache's HashClient: rendezvous hashing, per-server failure tracking.

    ``use_pooling=True`` puts a thread-safe PooledClient behind each server, so
    one HashClient serves the whole process. HashClient raises the socket error on
    a server's first failure and then answers with a default (False/None/{}) while
    the server is in its retry window; both are handled here.
    """

    name = "pymemcache"
    module = "pymemcache"

    def setup(self) -> None:
        import pymemcache.exceptions
        import pymemcache.serde

        self.client_class = self.library.HashClient
        self.not_found = KeyError  # never raised by pymemcache; missing keys come back as None
        self._base_error = pymemcache.exceptions.MemcacheError
        self._closed_error = pymemcache.exceptions.MemcacheUnexpectedCloseError
        self.unavailable = (OSError, self._base_error, KeyError)
        self._pickle_serde = pymemcache.serde.pickle_serde

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        for key in ("connect_timeout", "timeout", "retry_timeout", "dead_timeout"):
            _timeout_option(options, key, location)
        # Django's three defaults first (same bytes on the wire: pickle at the highest
        # protocol), then ours, then the user's OPTIONS on top, as Django does.
        return {
            "allow_unicode_keys": True,
            "default_noreply": False,
            "serde": self._pickle_serde,
            "use_pooling": True,
            "connect_timeout": CONNECT_TIMEOUT,
            "timeout": IO_TIMEOUT,
            "retry_attempts": RETRY_ATTEMPTS,
            "retry_timeout": RETRY_TIMEOUT,
            "dead_timeout": DEAD_TIMEOUT,
            **options,
        }

    def unbounded_timeouts(self, options: Mapping[str, Any]) -> list[str]:
        return [key for key in ("connect_timeout", "timeout") if options.get(key) is None]

    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        if options.get("use_pooling"):
            return None
        # Without pooling each server has a single socket: one HashClient per thread.
        return lambda shared: self.new_client(servers, options)

    def is_unavailable(self, exc: BaseException) -> bool:
        # HashClient raises a bare MemcacheError when every server is marked dead, and
        # its failure bookkeeping is not thread-safe: two threads retiring the same
        # failed server race on a dict pop (KeyError). pymemcache raises KeyError nowhere else.
        return (isinstance(exc, (OSError, self._closed_error, KeyError))
                or type(exc) is self._base_error)

    def incr(self, client: Any, key: str, delta: int) -> int | None:
        value = client.decr(key, -delta) if delta < 0 else client.incr(key, delta)
        if value is False:
            # HashClient's answer while the key's server is in its retry window.
            raise ConnectionError(f"memcached server for key {key!r} is unavailable (marked failed)")
        return value

    def _each_server(self, client: Any, keys: Iterable[str]) -> tuple[dict[Any, list[str]], list[str]]:
        """Keys grouped by their server's client, and the keys no live server takes."""
        batches: dict[Any, list[str]] = collections.defaultdict(list)
        orphans: list[str] = []
        for key in keys:
            try:
                server = client._get_client(key)
            except Exception as exc:
                if not self.is_unavailable(exc):
                    raise
                server = None
            if server is None:
                orphans.append(key)
            else:
                batches[server].append(key)
        return batches, orphans

    def _run(self, client: Any, server: Any, what: str, default: Any, func: Any, *args: Any) -> Any:
        try:
            return client._safely_run_func(server, func, default, *args)
        except Exception as exc:
            if not self.is_unavailable(exc):
                raise
            logger.warning("memcached %s: server %s unavailable: %s", what, server.server, exc)
            return default

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        try:
            return client.get_multi(keys)
        except Exception as exc:
            if not self.is_unavailable(exc):
                raise
        # One server failed mid-batch: ask each server on its own so the others still answer.
        found: dict[str, Any] = {}
        for server, batch in self._each_server(client, keys)[0].items():
            found.update(self._run(client, server, "get_many", {}, server.get_many, batch))
        return found

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        try:
            return list(client.set_multi(data, timeout))
        except Exception as exc:
            if not self.is_unavailable(exc):
                raise
        batches, failed = self._each_server(client, data)
        for server, batch in batches.items():
            values = {key: data[key] for key in batch}
            result = self._run(client, server, "set_many", None, server.set_many, values, timeout)
            failed.extend(batch if result is None else result)
        return failed

    def delete_many(self, client: Any, keys: list[str]) -> None:
        # HashClient.delete_many sends one command per key and waits for each reply;
        # pymemcache's per-server delete_many pipelines them: one round trip per server.
        for server, batch in self._each_server(client, keys)[0].items():
            self._run(client, server, "delete_many", False, server.delete_many, batch)


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
    thread_safe = False

    def setup(self) -> None:
        lib = self.library
        self.client_class = lib.Client
        self.not_found = lib.NotFound
        self._down = tuple(
            getattr(lib, name)
            for name in ("ConnectionError", "ServerDown", "ServerDead", "NoServers", "ReadError", "WriteError",
                         "UnknownReadFailure", "SocketCreateError", "ConnectionBindError", "HostLookupError",
                         "UnixSocketError")
            if hasattr(lib, name)
        )
        self._base_error = lib.Error
        self.unavailable = (lib.Error,)

    def is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, self._down):
            return True
        # libmemcached's MEMCACHED_ERRNO (26, a failed socket call) and MEMCACHED_TIMEOUT
        # (31) have no pylibmc class: they arrive as a bare pylibmc.Error
        # "error 31 from memcached_get(...): ... A TIMEOUT OCCURRED".
        return type(exc) is self._base_error and str(exc).startswith(("error 26 from", "error 31 from"))

    def _soft(self, exc: BaseException, what: str) -> bool:
        if not self.is_unavailable(exc):
            return False
        logger.warning("memcached %s: server unavailable: %s", what, exc)
        return True

    def client_options(self, options: dict[str, Any], location: Any) -> dict[str, Any]:
        behaviors = options.get("behaviors") or {}
        if not isinstance(behaviors, Mapping):
            raise CacheConfigError(f"{setting_path('behaviors', location)} must be a dict")
        defaults: dict[str, Any] = {
            "tcp_nodelay": True,
            # libmemcached units: connect/poll in milliseconds, send/receive in microseconds.
            "connect_timeout": int(CONNECT_TIMEOUT * 1000),
            "_poll_timeout": int(IO_TIMEOUT * 1000),
            "send_timeout": int(IO_TIMEOUT * 1_000_000),
            "receive_timeout": int(IO_TIMEOUT * 1_000_000),
            # Mark a server failed after one error, skip it for retry_timeout seconds,
            # then try it again: only its share of keys misses meanwhile.
            "remove_failed": 1,
            "retry_timeout": RETRY_TIMEOUT,
            "dead_timeout": DEAD_TIMEOUT,
        }
        merged = {**options, "behaviors": {**defaults, **behaviors}}
        try:
            self.library.client._behaviors_numeric(merged["behaviors"])
        except (ValueError, KeyError) as exc:
            raise CacheConfigError(f"{setting_path('behaviors', location)}: {exc}") from exc
        return merged

    def client_servers(self, servers: list[str]) -> list[str]:
        return [server.removeprefix("unix:") for server in servers]

    def unbounded_timeouts(self, options: Mapping[str, Any]) -> list[str]:
        behaviors = options.get("behaviors") or {}
        keys = ("connect_timeout", "_poll_timeout", "send_timeout", "receive_timeout")
        return [f"behaviors.{key}" for key in keys if not behaviors.get(key)]

    def per_thread(self, servers: list[str], options: Mapping[str, Any]) -> Any:
        return lambda shared: shared.clone()

    def touch(self, client: Any, key: str, timeout: Any, backend_timeout: int) -> bool:
        # libmemcached's touch does not expire a key with a negative TTL; delete instead (as Django).
        if timeout == 0:
            return bool(client.delete(key))
        return bool(client.touch(key, backend_timeout))

    def _each_key(self, what: str, func: Any, items: Iterable[Any]) -> list[Any]:
        """Fallback during an outage: one call per item, collecting the items that failed."""
        failed = []
        for item in items:
            try:
                if not func(item):
                    failed.append(item)
            except self._base_error as exc:
                if not self._soft(exc, what):
                    raise
                failed.append(item)
        return failed

    def get_many(self, client: Any, keys: list[str]) -> dict[str, Any]:
        # libmemcached's mget skips failed servers and returns what the others have.
        try:
            return client.get_multi(keys)
        except self._base_error as exc:
            if not self._soft(exc, "get_many"):
                raise
            return {}

    def set_many(self, client: Any, data: dict[str, Any], timeout: int) -> list[str]:
        try:
            return list(client.set_multi(data, timeout))
        except self._base_error as exc:
            if not self.is_unavailable(exc):
                raise
            # pylibmc gives up on the whole batch when one server is down.
            return self._each_key("set_many", lambda key: client.set(key, data[key], timeout), data)

    def delete_many(self, client: Any, keys: list[str]) -> None:
        try:
            client.delete_multi(keys)
        except self._base_error as exc:
            if not self.is_unavailable(exc):
                raise
            self._each_key("delete_many", client.delete, keys)


DRIVERS: dict[str, type[Driver]] = {"pymemcache": PyMemcacheDriver, "pylibmc": PyLibMCDriver}
