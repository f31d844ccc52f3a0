"""In-process caches for the stampede unit tests: one that records the public calls it
receives (sync and async alike, so the twins can be compared), and one that answers as
a fail-soft cache does during an outage (every read misses, every write is refused)."""

from __future__ import annotations

import itertools
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from django_altcache.backends.locmem import LocMemCache

_names = itertools.count()
OPS = ("get", "get_many", "add", "set", "set_many", "delete", "delete_many", "touch")


class Recording(LocMemCache):
    """LocMemCache that appends ``(op, first argument)`` for every public call; async
    twins record the same name as the sync method, so both paths can be compared."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(name, params)
        self.calls: list[tuple[str, Any]] = []

    @classmethod
    def build(cls, params: dict[str, Any] | None = None) -> Any:
        """A fresh store (LocMemCache's are per LOCATION), built as Django builds a backend."""
        return cls(f"recording-{next(_names)}", params or {})

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def _note(self, op: str, first: Any) -> None:
        self.calls.append((op, first))


def _recorded(op: str) -> None:
    base = getattr(LocMemCache, op)

    def sync(self: Recording, *args: Any, **kwargs: Any) -> Any:
        self._note(op, args[0] if args else None)
        return base(self, *args, **kwargs)

    async def asyn(self: Recording, *args: Any, **kwargs: Any) -> Any:
        self._note(op, args[0] if args else None)
        return base(self, *args, **kwargs)

    sync.__name__, asyn.__name__ = op, "a" + op
    setattr(Recording, op, sync)
    setattr(Recording, "a" + op, asyn)


for _op in OPS:
    _recorded(_op)


class Down(Recording):
    """What a fail-soft cache answers while its server is down."""

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        self._note("get", key)
        return default

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        self._note("get_many", keys)
        return {}

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        self._note("add", key)
        return False

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._note("set", key)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        self._note("set_many", list(data))
        return list(data)

    def delete(self, key: Any, version: Any = None) -> bool:
        self._note("delete", key)
        return False

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self.get(key, default, version)

    async def aget_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return self.get_many(keys, version)

    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self.add(key, value, timeout, version)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self.set(key, value, timeout, version)

    async def aset_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        return self.set_many(data, timeout, version)

    async def adelete(self, key: Any, version: Any = None) -> bool:
        return self.delete(key, version)
