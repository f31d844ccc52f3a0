"""Process-wide registries that a forked child starts afresh.

Several pieces keep one object per process for many backend instances (breakers, shared
clients, file-cache directory state, the watchdog). After ``fork`` the child must not use
what the parent's threads may hold (a lock taken at fork time stays taken forever in the
child; a socket would be shared by two processes), so each registry is emptied in the child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ProcessRegistry(Generic[V]):
    """A dict of per-process singletons, built once under a lock, forgotten in a forked child.

    ``on_fork`` runs on each forgotten value in the child (e.g. to keep a parent's client alive
    without using it); ``stale`` may ask for a rebuild of a found value (e.g. other settings).
    """

    def __init__(self, on_fork: Callable[[V], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[Hashable, V] = {}
        self._on_fork = on_fork
        _ALL.append(self)  # type: ignore[arg-type]

    def get(self, key: Hashable, build: Callable[[], V], stale: Callable[[V], bool] | None = None) -> V:
        value = self._values.get(key)
        if value is not None and (stale is None or not stale(value)):
            return value
        with self._lock:
            value = self._values.get(key)
            if value is None or (stale is not None and stale(value)):
                value = self._values[key] = build()
            return value

    def values(self) -> list[V]:
        return list(self._values.values())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        values, self._values = self._values, {}
        if self._on_fork is not None:
            for value in values.values():
                self._on_fork(value)


_ALL: list[ProcessRegistry[object]] = []


def _forget_all_in_child() -> None:
    for registry in _ALL:
        registry._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all_in_child)
