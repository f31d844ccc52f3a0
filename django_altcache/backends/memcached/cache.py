"""PyMemcacheCache and PyLibMCCache: one implementation over two drivers.

Each class also inherits from Django's class of the same name, so isinstance checks
and the internals Django's tests and user code reach (``_cache``, ``_class``,
``_lib``, ``_servers``, ``client_servers``, ``_options``, Django's
``get_backend_timeout`` and ``validate_key``) keep working. What differs:
the client is shared per process and never disconnected per request, and a failing
server never leaves the hash ring. A server failure gets Django's answers by default
(pymemcache's retry window: ``window.py``), the library's exception on every call with
``STRICT_ERRORS``, or the fail-soft answers with ``IGNORE_EXCEPTIONS`` (``_shared/guard.py``).

Operations built from other operations (``has_key``, ``decr``, ``incr_version``, the
async twins) call the public methods; with fail-soft on, the guard (``_shared/guard.py``)
answers only the outermost call, so one failure is counted once.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.core.cache.backends import memcached as django_memcached
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    BaseCache,
    InvalidCacheKey,
    memcache_key_warnings,
)

from django_altcache.backends._shared.breaker import shared_log
from django_altcache.backends._shared.hop import batched, hop_group
from django_altcache.backends._shared.twins import twins
from django_altcache.backends.base import AltCache, PingResult, logger
from django_altcache.stampede.mixin import StampedeMixin

from .._shared.keys import FastKeysMixin, is_clean, quiet_for_clean_keys
from .clients import shared_client
from .codec import driver_factory
from .drivers import Driver, PyLibMCDriver, PyMemcacheDriver
from .options import PYLIBMC_SPEC, PYMEMCACHE_SPEC, parse_servers


class MemcachedCache(StampedeMixin, AltCache, FastKeysMixin, django_memcached.BaseMemcachedCache):
    driver_class: type[Driver]
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"get", "get_many", "set", "add", "touch", "delete", "set_many", "delete_many",
                                 "clear", "incr"})

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        # Django's BaseMemcachedCache.__init__ is replaced, not extended: it would
        # keep unchecked server strings and the user's OPTIONS without our defaults.
        BaseCache.__init__(self, params)
        self._init_stampede(server, params)  # single-flight get_or_set (docs/stampede.md)
        self._init_fast_keys()
        parsed = self._parsed
        # What the OPTIONS and LOCATION make is made once (Django builds an instance per thread
        # and per ASGI task); a LOCATION that is not a string is keyed by its repr.
        where = server if isinstance(server, str) else repr(server)
        self._servers = list(parsed.plan(("memcached servers", where), lambda: tuple(parse_servers(server))))
        pool = len(self._servers) > 1
        resilience = self.resilience
        # Without STRICT_ERRORS, fail-soft or breakers, failures answer as Django's backend's do.
        lenient = not (resilience.strict or resilience.active)
        self._codec = self._init_codec(server, params)
        driver = self._driver = driver_factory(self.driver_class, self._codec)(resilience.breaker, pool, lenient)
        self._lib = driver.library
        self._class = driver.client_class
        self.LibraryValueNotFoundException = driver.not_found
        self._options = driver.client_options(dict(parsed.rest), server)
        servers = self.client_servers
        options = dict(self._options)
        # The shared client's key, from what the options were made of (the same inputs give the
        # same options): its repr costs more than the rest of the construction.
        key = parsed.plan(("memcached client", type(self), where, self._codec), lambda: (
            driver.name, tuple(servers), repr(sorted(options.items(), key=lambda item: item[0])),
            repr(resilience.breaker) if pool else None))  # a pool's per-server breakers live in its client
        self._handle = shared_client(
            key, lambda: driver.new_client(servers, options), driver.per_thread(servers, options)
        )
        name = f"{driver.name} {';'.join(self._servers)}"
        # A pool's breakers are per server (the driver's): a cache-wide one would let one
        # dead server of three turn every key into a miss.
        self._init_guard(name, errors=driver.errors, make_error=driver.connection_error,
                         is_outage=driver.is_unavailable, after_outage=self._after_outage, breakers=not pool)
        if pool and resilience.ignore_exceptions:
            self._server_log = shared_log(f"cache {name}", resilience.log_interval)
            driver.on_server_failure = self._server_failed

    def _after_outage(self, exc: BaseException, probing: bool) -> None:
        """After an outage error: the driver may act on it (pylibmc renews the threads' clients
        so the next attempt, a probe of the cache-wide breaker, really tries the server)."""
        self._driver.after_outage(self._handle, exc, probing)

    def _server_failed(self, what: str, exc: BaseException) -> None:
        """A pool with fail-soft on: one server's share of a multi-key call was skipped."""
        self._driver.after_outage(self._handle, exc, False)
        self._server_log(logging.WARNING,
                         "cache %s: %s skipped an unavailable server's keys (IGNORE_EXCEPTIONS): %s: %s",
                         ";".join(self._servers), what, type(exc).__name__, exc)

    @property
    def client_servers(self) -> list[str]:
        return self._driver.client_servers(self._servers)

    @property
    def _cache(self) -> Any:  # type: ignore[override]
        return self._handle.get()

    @quiet_for_clean_keys
    def validate_key(self, key: str) -> None:
        if is_clean(key):
            return
        for warning in memcache_key_warnings(key):  # Django's exact messages
            raise InvalidCacheKey(warning)

    # -- health ---------------------------------------------------------------------------
    def servers_description(self) -> list[str]:
        return list(self._servers)

    def breaker_states(self) -> dict[str, Any]:
        states = super().breaker_states()
        servers = self._driver.server_breakers(self._handle.get())
        if servers:
            states["servers"] = servers
        return states

    def ping(self) -> PingResult:
        """A set/get/delete round trip on each server, each through its own fresh client:
        no fail-soft, breaker or library retry window in between."""
        started = time.perf_counter()
        options = self._driver.probe_options(self._options)
        failures: list[tuple[str, BaseException]] = []
        for configured, server in zip(self._servers, self.client_servers):
            try:
                self._probe(self._driver.new_client([server], options))
            except Exception as exc:  # noqa: BLE001 - any failure of a server is reported, naming it
                failures.append((configured, exc))
        if failures:
            raise self._ping_error(failures)
        return PingResult(time.perf_counter() - started, list(self._servers))

    @staticmethod
    def _probe(client: Any) -> None:
        key, value = f"altcache-ping:{uuid.uuid4().hex}", uuid.uuid4().hex
        client.set(key, value, 30)
        read = client.get(key)
        client.delete(key)
        if read != value:
            raise RuntimeError(f"probe key written but read back as {read!r}")

    def _ping_error(self, failures: list[tuple[str, BaseException]]) -> BaseException:
        detail = "; ".join(f"{server}: {type(exc).__name__}: {exc}" for server, exc in failures)
        first = failures[0][1]
        message = f"memcached ping failed for {len(failures)} of {len(self._servers)} server(s): {detail}"
        error: BaseException | None = None
        if isinstance(first, self._driver.errors):
            try:
                error = type(first)(message)  # the library's own class, naming every failed server
            except Exception:  # noqa: BLE001 - a class that wants other arguments
                error = None
        if error is None:  # e.g. a probe read back wrong: still the library's connection error
            error = self._driver.connection_error(message)
        error.__cause__ = first
        return error

    # -- the cache API --------------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return self._driver.get(self._handle.get(), key, default)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        missing = self._missing_key
        return self.get(key, missing, version) is not missing

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._handle.get().add(key, value, self.get_backend_timeout(timeout)))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        client = self._handle.get()
        try:
            if client.set(key, value, self.get_backend_timeout(timeout)):
                return
            if self._driver.skipped(client, key):
                return  # a failing server's retry window answered (logged there), as with Django
            error: BaseException | None = None
        except Exception as exc:
            if self._driver.is_unavailable(exc):
                raise  # nothing was refused: the server is unreachable
            error = exc  # e.g. pylibmc.TooBig, an unpicklable value
        self._forget_refused(client, key, error)

    def _forget_refused(self, client: Any, key: str, error: BaseException | None) -> None:
        # Django's rule: a refused set (value over the server's item size limit) must not
        # leave the previous value readable, or cached_db sessions would read a stale one.
        client.delete(key)
        logger.warning("memcached refused to store key %r (%r); its old value was deleted", key,
                       error if error is not None else "not stored")
        if error is not None:
            raise error

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._driver.touch(self._handle.get(), key, timeout, self.get_backend_timeout(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return bool(self._handle.get().delete(key))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        made = self.make_and_validate_keys(keys, version)
        if not made:
            return {}
        key_map = dict(zip(made, keys))
        found = self._driver.get_many(self._handle.get(), made)
        return {key_map[key]: value for key, value in found.items()}

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        originals = list(data)
        made = self.make_and_validate_keys(originals, version)
        if not made:
            return []
        safe_data = dict(zip(made, data.values()))
        failed = self._driver.set_many(self._handle.get(), safe_data, self.get_backend_timeout(timeout))
        if not failed:
            return []
        original_keys = dict(zip(made, originals))
        return [original_keys[key] for key in failed]

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        made = self.make_and_validate_keys(keys, version)
        if made:
            self._driver.delete_many(self._handle.get(), made)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        value = self._driver.incr(self._handle.get(), key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found")
        return value

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version)

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # Django's (get, set with the default timeout, delete): memcached's text protocol
        # does not tell the TTL left.
        if version is None:
            version = self.version
        value = self.get(key, self._missing_key, version=version)
        if value is self._missing_key:
            raise ValueError(f"Key '{key}' not found")
        self.set(key, value, version=version + delta)
        self.delete(key, version=version)
        return version + delta

    def decr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr_version(key, -delta, version)

    def clear(self) -> None:
        self._driver.clear(self._handle.get())

    def close(self, **kwargs: Any) -> None:
        # Django's pymemcache backend disconnects every server after each request;
        # the shared client keeps its connections for the life of the process.
        pass

    # Async twins: the sync method in a thread hop shared by the calls of one event-loop tick
    # (_shared/hop.py); aget/ahas_key of one tick are one multi-get (one round trip) there.
    # pymemcache and pylibmc are blocking clients; the asyncio clients evaluated (aiomcache,
    # emcache) cost more per gathered call than this and are not used (docs/compat.md).
    locals().update(twins(batched, "get_many", "add", "set", "touch", "delete", "set_many",
                          "delete_many", "incr", "decr", "incr_version", "decr_version", "clear"))

    def server_stats(self) -> dict[str, Any]:
        """memcached's ``stats`` summed over the servers, for ``cachestats``."""
        from django_altcache.metrics import server_stats

        return server_stats.memcached(self._handle.get())

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """``get`` in the tick's thread hop, with the tick's other reads: one multi-get."""
        return await hop_group(self._get_group, (key, default, version))

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        missing = self._missing_key
        return await hop_group(self._get_group, (key, missing, version)) is not missing  # type: ignore[no-any-return]

    def _get_group(self, items: list[tuple[Any, Any, Any]]) -> list[tuple[bool, Any]]:
        """``get`` for each ``(key, default, version)``, in one multi-get when there are several."""
        if len(items) == 1 or not self._driver.multi_get_reports_failures:
            return [_outcome(self.get, *item) for item in items]
        made: list[Any] = []
        for key, _default, version in items:
            try:
                made.append(self.make_and_validate_key(key, version=version))
            except Exception as exc:  # noqa: BLE001 - that item's own error (an invalid key)
                made.append(exc)
        wanted = list(dict.fromkeys(m for m in made if isinstance(m, str)))
        try:
            found = self._driver.get_many(self._handle.get(), wanted) if wanted else {}
        except Exception:  # noqa: BLE001 - a failed server: each read answers for itself, as alone
            return [_outcome(self.get, *item) for item in items]
        return [(False, m) if not isinstance(m, str) else (True, found.get(m, item[1]))
                for m, item in zip(made, items)]


def _outcome(func: Any, *args: Any) -> tuple[bool, Any]:
    try:
        return True, func(*args)
    except Exception as exc:  # noqa: BLE001 - handed to that item's caller
        return False, exc


class PyMemcacheCache(MemcachedCache, django_memcached.PyMemcacheCache):
    """Drop-in for django.core.cache.backends.memcached.PyMemcacheCache."""

    driver_class = PyMemcacheDriver
    spec = PYMEMCACHE_SPEC


class PyLibMCCache(MemcachedCache, django_memcached.PyLibMCCache):
    """Drop-in for django.core.cache.backends.memcached.PyLibMCCache."""

    driver_class = PyLibMCDriver
    spec = PYLIBMC_SPEC
