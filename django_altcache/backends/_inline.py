"""Async twins for backends whose sync operations never block.

Django's ``BaseCache`` runs every ``a*`` method through ``sync_to_async(thread_sensitive=True)``,
which for an in-memory store costs a thread hop (tens of microseconds, and all such calls of
a process serialised on one thread) around work that takes a microsecond and never waits on
I/O. Here each twin calls its sync method directly on the event loop. Only for backends
whose every operation is bounded and non-blocking (dummy, locmem: a short in-process lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

if TYPE_CHECKING:  # the mixin sees BaseCache's API; at run time it adds no base
    from django.core.cache.backends.base import BaseCache as _Base
else:
    _Base = object


class InlineAsyncMixin(_Base):
    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self.add(key, value, timeout, version)

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self.get(key, default, version)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self.set(key, value, timeout, version)

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self.touch(key, timeout, version)

    async def adelete(self, key: Any, version: Any = None) -> bool:
        return self.delete(key, version)

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        return self.has_key(key, version)

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        return self.get_many(keys, version=version)

    async def aset_many(self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        return self.set_many(data, timeout=timeout, version=version)

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        self.delete_many(keys, version=version)

    async def aget_or_set(self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self.get_or_set(key, default, timeout=timeout, version=version)

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self.incr(key, delta=delta, version=version)

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self.incr(key, delta=-delta, version=version)

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        return self.incr_version(key, delta=delta, version=version)

    async def aclear(self) -> None:
        self.clear()

    async def aclose(self, **kwargs: Any) -> None:
        self.close(**kwargs)
