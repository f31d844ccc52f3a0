"""PyMemcacheCache and PyLibMCCache: one implementation over two drivers.

Each class also inherits from Django's class of the same name, so isinstance checks
and the internals Django's tests and user code reach (``_cache``, ``_class``,
``_lib``, ``_servers``, ``client_servers``, ``_options``, Django's
``get_backend_timeout`` and ``validate_key``) keep working. What differs:
the client is shared per process and never disconnected per request, reads and
writes to an unreachable server behave as a miss / a failed write (logged), and
``incr``/``decr`` return an int or raise.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.cache.backends import memcached as django_memcached
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    BaseCache,
    InvalidCacheKey,
    memcache_key_warnings,
)

from django_altcache.backends.base import logger
from django_altcache.options import options_of

from .._keys import FastKeysMixin, is_clean, quiet_for_clean_keys
from .clients import shared_client
from .drivers import Driver, PyLibMCDriver, PyMemcacheDriver
from .location import parse_servers

class MemcachedCache(FastKeysMixin, django_memcached.BaseMemcachedCache):
    driver_class: type[Driver]

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        # Django's BaseMemcachedCache.__init__ is replaced, not extended: it would
        # keep unchecked server strings and the user's OPTIONS without our defaults.
        BaseCache.__init__(self, params)
        self._init_fast_keys()
        self._servers = parse_servers(server)
        driver = self._driver = self.driver_class()
        self._lib = driver.library
        self._class = driver.client_class
        self.LibraryValueNotFoundException = driver.not_found
        self._options = driver.client_options(options_of(params), server)
        servers = self.client_servers
        options = dict(self._options)
        key = (driver.name, tuple(servers), repr(sorted(options.items(), key=lambda item: item[0])))
        self._handle = shared_client(
            key, lambda: driver.new_client(servers, options), driver.per_thread(servers, options)
        )
        self._unavailable = driver.unavailable

    @property
    def client_servers(self) -> list[str]:
        return self._driver.client_servers(self._servers)

    @property
    def _cache(self) -> Any:  # type: ignore[override]
        return self._handle.get()

    def check_backend(self, alias: str) -> list[checks.CheckMessage]:
        """Called by django_altcache's system check for each cache that is ours."""
        off = self._driver.unbounded_timeouts(self._options)
        if not off:
            return []
        return [checks.Warning(
            f"CACHES[{alias!r}]['OPTIONS']: {', '.join(off)} disabled: a stalled memcached server "
            "would block requests indefinitely.",
            hint="Remove these options to use the finite defaults, or set a number of seconds (ms/µs for pylibmc).",
            obj=f"CACHES[{alias!r}]",
            id="django_altcache.W201",
        )]

    @quiet_for_clean_keys
    def validate_key(self, key: str) -> None:
        if is_clean(key):
            return
        for warning in memcache_key_warnings(key):  # Django's exact messages
            raise InvalidCacheKey(warning)

    def _unreachable(self, exc: BaseException, what: str) -> bool:
        if not self._driver.is_unavailable(exc):
            return False
        logger.warning("memcached %s failed, server unavailable (%s): %s", what, self._servers, exc)
        return True

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        try:
            return self._handle.get().get(key, default)
        except self._unavailable as exc:
            if self._unreachable(exc, "get"):
                return default
            raise

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        try:
            return bool(self._handle.get().add(key, value, self.get_backend_timeout(timeout)))
        except self._unavailable as exc:
            if self._unreachable(exc, "add"):
                return False
            raise

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        client = self._handle.get()
        try:
            if client.set(key, value, self.get_backend_timeout(timeout)):
                return
            error: BaseException | None = None
        except self._unavailable as exc:
            if self._unreachable(exc, "set"):
                return
            error = exc
        except Exception as exc:  # e.g. pylibmc.TooBig
            error = exc
        # Django's rule: a refused set (value over the server's item size limit) must not
        # leave the previous value readable, or cached_db sessions would read a stale one.
        try:
            client.delete(key)
        except self._unavailable as exc:
            if not self._unreachable(exc, "delete after failed set"):
                raise
        logger.warning("memcached refused to store key %r (%r); its old value was deleted", key,
                       error if error is not None else "not stored")
        if error is not None:
            raise error

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        try:
            return self._driver.touch(self._handle.get(), key, timeout, self.get_backend_timeout(timeout))
        except self._unavailable as exc:
            if self._unreachable(exc, "touch"):
                return False
            raise

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        try:
            return bool(self._handle.get().delete(key))
        except self._unavailable as exc:
            if self._unreachable(exc, "delete"):
                return False
            raise

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
            raise ValueError("Key '%s' not found" % key)
        return value

    def clear(self) -> None:
        self._handle.get().flush_all()

    def close(self, **kwargs: Any) -> None:
        # Django's pymemcache backend disconnects every server after each request;
        # the shared client keeps its connections for the life of the process.
        pass


class PyMemcacheCache(MemcachedCache, django_memcached.PyMemcacheCache):
    """Drop-in for django.core.cache.backends.memcached.PyMemcacheCache."""

    driver_class = PyMemcacheDriver


class PyLibMCCache(MemcachedCache, django_memcached.PyLibMCCache):
    """Drop-in for django.core.cache.backends.memcached.PyLibMCCache."""

    driver_class = PyLibMCDriver
