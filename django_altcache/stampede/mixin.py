"""``StampedeMixin``: get_or_set/aget_or_set that are single-flight when OPTIONS["STAMPEDE"] is set.

Without the option ``get_or_set`` is Django's own ``BaseCache.get_or_set`` (called
as is) and ``aget_or_set`` runs Django's native async steps (``aget``, ``aadd``,
``aget``). With it, both go through ``engine.Stampede``, which calls the cache's
public methods, so the fail-soft layer answers each step once (it never wraps
``get_or_set`` itself as an operation of its own: nothing here is guarded twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from django_altcache.conf.stampede import STAMPEDE

from .engine import Stampede, runtime
from .settings import StampedeSettings

if TYPE_CHECKING:  # the mixin sees BaseCache's API; at run time it adds no base
    from django.core.cache.backends.base import BaseCache as _Base
else:
    _Base = object

# Django 6.1's BaseCache.aget_or_set hands a subclass's own get_or_set to a thread
# (sync_to_async); Django 5.2's always runs the async steps. Ours does what the installed
# Django does, for subclasses of our backends that override get_or_set.
_DJANGO_ROUTES_OVERRIDES = "__func__" in BaseCache.aget_or_set.__code__.co_names


def runtime_for(cache: BaseCache, location: Any, params: Mapping[str, Any],
                settings: StampedeSettings | None) -> Stampede | None:
    """The runtime for parsed settings (None when off), shared by every instance (one per
    thread in Django) of the same cache: same class, LOCATION, KEY_PREFIX, VERSION, key function."""
    if settings is None:
        return None
    cls = type(cache)
    scope = (cls.__module__, cls.__qualname__, repr(location), params.get("KEY_PREFIX", ""),
             params.get("VERSION", 1), repr(params.get("KEY_FUNCTION")))
    return runtime(settings, scope)


class StampedeMixin(_Base):
    """Put first in a backend's bases; call ``_init_stampede`` first in its ``__init__``."""

    _stampede: Stampede | None = None

    def _init_stampede(self, location: Any, params: Mapping[str, Any]) -> None:
        """``self._stampede`` from the parsed OPTIONS["STAMPEDE"] (``AltCache.__new__`` parsed it)."""
        self._stampede = runtime_for(self, location, params, self._parsed[STAMPEDE])  # type: ignore[attr-defined]

    def get_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        stampede = self._stampede
        if stampede is None:
            return BaseCache.get_or_set(self, key, default, timeout=timeout, version=version)
        return stampede.get_or_set(self, key, default, timeout, version)

    async def aget_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        stampede = self._stampede
        if stampede is not None:
            return await stampede.aget_or_set(self, key, default, timeout, version)
        cls = type(self)
        cls = cls.__dict__.get("_bare", cls)  # a class-level guard's variant stands for its class
        if _DJANGO_ROUTES_OVERRIDES and cls.get_or_set is not StampedeMixin.get_or_set:
            return await sync_to_async(self.get_or_set, thread_sensitive=True)(
                key, default, timeout=timeout, version=version)
        # Django's BaseCache.aget_or_set, step for step (it would take our get_or_set for
        # an override and hop to a thread on Django 6.1).
        val = await self.aget(key, self._missing_key, version=version)
        if val is self._missing_key:
            if callable(default):
                default = default()
            await self.aadd(key, default, timeout=timeout, version=version)
            return await self.aget(key, default, version=version)
        return val
