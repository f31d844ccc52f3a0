"""The time-bounded local tier of the backends whose server cannot invalidate (memcached, the
database and file caches): ``OPTIONS["LOCAL_CACHE"] = {"ttl": seconds, ...}``.

A value read is kept in process memory for up to ``ttl`` seconds (or the fraction of it the
entry has left, as far as the tier can tell: it does not know the server's expiry, so ``ttl``
should be short). This process's own writes invalidate its copies as soon as they return (with
the fill tokens of ``store``); other processes' writes are seen when the copy
expires: a read may be up to ``ttl`` seconds stale. That is the documented contract.

It is a *variant* of the backend class (made once per class, like the guard's), chosen by
``AltCache.__new__`` when the option is set: the public methods read through the store and
invalidate around writes, then call the class's own. Without the option the class is used as
it is. The guard, when on, wraps this variant, so a local hit is a hit for the metrics and an
outage never reaches the store.

Writes run with local reads off (a context variable): a composed write (Django's
``incr_version`` is a ``get`` then a ``set``) must build on the server's value, never on a
possibly stale local copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func

from django_altcache.backends._shared.registry import ProcessRegistry
from django_altcache.conf import Parsed
from django_altcache.conf.local import TIMED_LOCAL_CACHE, TimedLocalSettings

from .store import ALWAYS, MISSING, LocalStore, pack

_monotonic = time.monotonic
_ABSENT: Any = object()
_writing: ContextVar[bool] = ContextVar("django_altcache_local_writing", default=False)
STORES: ProcessRegistry[LocalStore] = ProcessRegistry()
_variants: dict[type, type] = {}
_lock = threading.Lock()


def local_variant(cls: type, parsed: Parsed) -> type:
    """``cls`` itself, or its time-bounded local-tier variant when ``LOCAL_CACHE`` asks for it."""
    spec = getattr(cls, "spec", None)
    if spec is None or spec.options.get(TIMED_LOCAL_CACHE.name) is not TIMED_LOCAL_CACHE:
        return cls
    if parsed[TIMED_LOCAL_CACHE] is None or issubclass(cls, TimedLocalMixin):
        return cls
    variant = _variants.get(cls)
    if variant is None:
        with _lock:
            variant = _variants.get(cls)
            if variant is None:
                namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
                variant = _variants[cls] = type(cls.__name__, (TimedLocalMixin, cls), namespace)
    return variant


def _store_for(cls: type, location: Any, settings: TimedLocalSettings) -> LocalStore:
    key = ("timed-local", cls.__module__, cls.__qualname__, repr(location), settings)
    return STORES.get(key, lambda: LocalStore(settings.max_entries, settings.max_bytes))


class TimedLocalMixin(BaseCache):
    """Placed before the backend class in the variant's MRO (see the module doc)."""

    _local_store: LocalStore
    _local_ttl: float
    _local_prefixes: tuple[str, ...]
    _parsed: Parsed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self._parsed[TIMED_LOCAL_CACHE]
        assert settings is not None
        location = args[0] if args else next(iter(kwargs.values()), None)
        self._local_store = _store_for(type(self), location, settings)
        self._local_entries = self._local_store.entries
        self._local_ttl = settings.ttl
        if not settings.prefixes and self.key_func is default_key_func:
            self._local_prefixes = (f"{self.key_prefix}:",)
        else:
            self._local_prefixes = tuple(self.make_key(prefix) for prefix in (settings.prefixes or ("",)))

    @property
    def local_store(self) -> LocalStore:
        return self._local_store

    # -- reads ---------------------------------------------------------------------------
    def _local(self, made: str) -> Any:
        """The fresh local payload of ``made`` (``MISSING`` for a known-absent key), else ``_ABSENT``."""
        entry = self._local_entries.get(made)
        if entry is not None and _monotonic() < entry[2] and not _writing.get():
            payload, thaw = entry[0], entry[1]
            return payload if thaw is None else thaw(payload)
        return _ABSENT

    def _keeps(self, made: str) -> bool:
        return made.startswith(self._local_prefixes) and not _writing.get()

    def _begin(self, made: str) -> tuple[object, float]:
        return self._local_store.begin(made), _monotonic()

    def _finish(self, made: str, token: object, started: float, value: Any) -> None:
        store = self._local_store
        packed = (MISSING, None, 0) if value is _ABSENT else pack(value)
        if packed is None:
            store.abandon(made, token)
        else:
            store.finish(made, token, *packed, started + self._local_ttl, ALWAYS)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version=version)
        value = self._local(made)
        if value is not _ABSENT:
            return default if value is MISSING else value
        if not self._keeps(made):
            return super().get(key, default, version)
        token, started = self._begin(made)
        try:
            value = super().get(key, _ABSENT, version)
        except BaseException:
            self._local_store.abandon(made, token)
            raise
        self._finish(made, token, started, value)
        return default if value is _ABSENT else value

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        made = self.make_and_validate_key(key, version=version)
        value = self._local(made)
        if value is not _ABSENT:
            return default if value is MISSING else value
        if not self._keeps(made):
            return await super().aget(key, default, version)
        token, started = self._begin(made)
        try:
            value = await super().aget(key, _ABSENT, version)
        except BaseException:
            self._local_store.abandon(made, token)
            raise
        self._finish(made, token, started, value)
        return default if value is _ABSENT else value

    def _split(self, keys: Iterable[Any], version: Any) -> tuple[dict[Any, Any], dict[str, Any]]:
        found: dict[Any, Any] = {}
        missing: dict[str, Any] = {}
        for key in keys:
            made = self.make_and_validate_key(key, version=version)
            value = self._local(made)
            if value is _ABSENT:
                missing[made] = key
            elif value is not MISSING:
                found[key] = value
        return found, missing

    def _fill_many(self, missing: dict[str, Any], fetched: dict[Any, Any],
                   tokens: dict[str, tuple[object, float]]) -> None:
        for made, (token, started) in tokens.items():
            key = missing[made]
            self._finish(made, token, started, fetched[key] if key in fetched else _ABSENT)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        found, missing = self._split(keys, version)
        if missing:
            tokens = {made: self._begin(made) for made in missing if self._keeps(made)}
            try:
                fetched = super().get_many(list(missing.values()), version)
            except BaseException:
                self._abandon(tokens)
                raise
            self._fill_many(missing, fetched, tokens)
            found.update(fetched)
        return found

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        found, missing = self._split(keys, version)
        if missing:
            tokens = {made: self._begin(made) for made in missing if self._keeps(made)}
            try:
                fetched = await super().aget_many(list(missing.values()), version)
            except BaseException:
                self._abandon(tokens)
                raise
            self._fill_many(missing, fetched, tokens)
            found.update(fetched)
        return found

    def _abandon(self, tokens: dict[str, tuple[object, float]]) -> None:
        for made, (token, _) in tokens.items():
            self._local_store.abandon(made, token)

    def has_key(self, key: Any, version: Any = None) -> bool:
        value = self._local(self.make_and_validate_key(key, version=version))
        if value is _ABSENT:
            return super().has_key(key, version)
        return value is not MISSING

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        value = self._local(self.make_and_validate_key(key, version=version))
        if value is _ABSENT:
            return await super().ahas_key(key, version)
        return value is not MISSING

    # -- writes: this process's copies go once the write returns ------------------------------
    def _local_key(self, key: Any, version: Any) -> str:
        return self.make_key(key, version=version)

    # After the write, not before (see local/redis.py): no read that starts once the write has
    # returned gets the old value from here.
    def _local_write(self, keys: list[str], call: Callable[..., Any], *args: Any) -> Any:
        token = _writing.set(True)
        try:
            return call(*args)
        finally:
            _writing.reset(token)
            self._local_store.invalidate_many(keys)

    async def _local_awrite(self, keys: list[str], call: Callable[..., Any], *args: Any) -> Any:
        token = _writing.set(True)
        try:
            return await call(*args)
        finally:
            _writing.reset(token)
            self._local_store.invalidate_many(keys)

    def _local_versions(self, key: Any, delta: int, version: Any) -> list[str]:
        version = self.version if version is None else version
        return [self._local_key(key, version), self._local_key(key, version + delta)]

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._local_write([self._local_key(key, version)], super().set, key, value, timeout, version)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._local_write([self._local_key(key, version)], super().add, key, value, timeout, version)  # type: ignore[no-any-return]

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._local_write([self._local_key(key, version)], super().touch, key, timeout, version)  # type: ignore[no-any-return]

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._local_write([self._local_key(key, version)], super().delete, key, version)  # type: ignore[no-any-return]

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._local_write([self._local_key(key, version)], super().incr, key, delta, version)

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._local_write([self._local_key(key, version)], super().decr, key, delta, version)

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return self._local_write(self._local_versions(key, delta, version), super().incr_version, key, delta, version)  # type: ignore[no-any-return]

    def decr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return self._local_write(self._local_versions(key, -delta, version), super().decr_version, key, delta, version)  # type: ignore[no-any-return]

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        data = dict(data)
        return self._local_write([self._local_key(key, version) for key in data], super().set_many, data, timeout, version)  # type: ignore[no-any-return]

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        keys = list(keys)
        self._local_write([self._local_key(key, version) for key in keys], super().delete_many, keys, version)

    def clear(self) -> None:
        try:
            super().clear()
        finally:
            self._local_store.flush()

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        await self._local_awrite([self._local_key(key, version)], super().aset, key, value, timeout, version)

    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return await self._local_awrite([self._local_key(key, version)], super().aadd, key, value, timeout, version)  # type: ignore[no-any-return]

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return await self._local_awrite([self._local_key(key, version)], super().atouch, key, timeout, version)  # type: ignore[no-any-return]

    async def adelete(self, key: Any, version: Any = None) -> bool:
        return await self._local_awrite([self._local_key(key, version)], super().adelete, key, version)  # type: ignore[no-any-return]

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self._local_awrite([self._local_key(key, version)], super().aincr, key, delta, version)

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self._local_awrite([self._local_key(key, version)], super().adecr, key, delta, version)

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return await self._local_awrite(self._local_versions(key, delta, version), super().aincr_version, key, delta, version)  # type: ignore[no-any-return]

    async def adecr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return await self._local_awrite(self._local_versions(key, -delta, version), super().adecr_version, key, delta, version)  # type: ignore[no-any-return]

    async def aset_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        data = dict(data)
        return await self._local_awrite([self._local_key(key, version) for key in data], super().aset_many, data, timeout, version)  # type: ignore[no-any-return]

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        keys = list(keys)
        await self._local_awrite([self._local_key(key, version) for key in keys], super().adelete_many, keys, version)

    async def aclear(self) -> None:
        try:
            await super().aclear()
        finally:
            self._local_store.flush()
