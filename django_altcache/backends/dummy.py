"""DummyCache: Django's do-nothing backend, with native async twins.

Every operation still builds and validates the key, so a bad key warns in
development exactly as it would against a real backend (Django does the same).
The async twins (``InlineAsyncMixin``) call the sync code directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from django_altcache.conf.common import DUMMY

from ._shared.keys import FastKeysMixin
from ._shared.twins import InlineAsyncMixin
from ..stampede.mixin import StampedeMixin
from .base import AltCache


class DummyCache(StampedeMixin, AltCache, InlineAsyncMixin, FastKeysMixin, BaseCache):
    spec = DUMMY
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"add", "get", "set", "touch", "delete", "has_key", "get_many", "set_many",
                                 "delete_many", "clear"})

    def __init__(self, host: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_stampede(host, args[0] if args else kwargs.get("params", {}))  # single-flight get_or_set (docs/stampede.md)
        self._init_fast_keys()

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        self.make_and_validate_key(key, version=version)
        return True

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        self.make_and_validate_key(key, version=version)
        return default

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self.make_and_validate_key(key, version=version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        self.make_and_validate_key(key, version=version)
        return False

    def delete(self, key: Any, version: Any = None) -> bool:
        self.make_and_validate_key(key, version=version)
        return False

    def has_key(self, key: Any, version: Any = None) -> bool:
        self.make_and_validate_key(key, version=version)
        return False

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        for key in keys:
            self.make_and_validate_key(key, version=version)
        return {}

    def set_many(self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        for key in data:
            self.make_and_validate_key(key, version=version)
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        for key in keys:
            self.make_and_validate_key(key, version=version)

    def clear(self) -> None:
        pass

    def server_stats(self) -> dict[str, Any]:
        """Nothing is stored, so there is nothing to report."""
        return {}
