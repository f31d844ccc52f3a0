"""One client per process and configuration, shared by every backend instance.

Django builds a backend instance per thread and per asyncio context, and its
pymemcache backend disconnects after each request; holding the client here
instead keeps connections open for the life of the process. Libraries whose
client is not thread-safe get a per-thread copy (``per_thread``), which dies with
its thread. After ``fork`` the child starts with an empty registry: sockets
inherited from the parent must never be shared by two processes.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

Factory = Callable[[], Any]
PerThread = Callable[[Any], Any]


class SharedClient:
    def __init__(self, factory: Factory, per_thread: PerThread | None = None) -> None:
        self._factory = factory
        self._per_thread = per_thread
        self._lock = threading.Lock()
        self._client: Any = None
        self._local = threading.local()
        self._renewed = 0.0  # per-thread clients built before this (monotonic) are replaced
        # Every thread's client, weakly: pinned across fork() (see _pin_before_fork).
        self._thread_clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def _shared(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
                client = self._client
        return client

    def reset(self) -> None:
        """Forget the clients without closing them: after fork their sockets belong to the parent.

        They are kept alive on purpose: freeing a pylibmc client sends ``quit`` on its
        sockets, which would close the parent's connections.
        """
        _inherited.append((self._client, self._local))
        self._lock = threading.Lock()
        self._client = None
        self._local = threading.local()
        self._thread_clients = weakref.WeakSet()

    def get(self) -> Any:
        if self._per_thread is None:
            return self._client if self._client is not None else self._shared()
        local = self._local
        try:
            if local.born >= self._renewed:
                return local.client
        except AttributeError:
            pass
        client = local.client = self._per_thread(self._shared())
        local.born = time.monotonic()
        self._thread_clients.add(client)
        return client

    def renew(self) -> None:
        """Every thread builds a fresh client at its next ``get()`` (per-thread clients only).

        libmemcached keeps a failed server's retry window in each client, in whole
        seconds; a fresh clone has none, so its next call really tries the server. Every
        thread, not only the caller's: the failure may have been seen on another thread
        (an async twin runs in sync_to_async's), and every clone holds the same stale window.
        """
        self._renewed = time.monotonic()

    def since_renewal(self) -> float:
        return time.monotonic() - self._renewed


_registry: dict[Hashable, SharedClient] = {}
_inherited: list[Any] = []  # clients of the parent process, never used nor freed
_pinned: list[Any] = []
_registry_lock = threading.Lock()


def shared_client(key: Hashable, factory: Factory, per_thread: PerThread | None = None) -> SharedClient:
    handle = _registry.get(key)
    if handle is None:
        with _registry_lock:
            handle = _registry.setdefault(key, SharedClient(factory, per_thread))
    return handle


def _pin_before_fork() -> None:
    # The child frees the thread-local data of every thread but the forking one, and a
    # freed pylibmc client sends "quit" on its sockets, which are the parent's. Holding
    # them here across the fork keeps them alive in the child (and is undone in the parent).
    _pinned.extend(client for handle in list(_registry.values()) for client in list(handle._thread_clients))


def _unpin_in_parent() -> None:
    _pinned.clear()


def _forget_after_fork() -> None:
    # Backend instances created before the fork keep their handle, so reset the
    # handles themselves rather than only forgetting them.
    global _registry_lock
    _registry_lock = threading.Lock()
    _inherited.extend(_pinned)
    _pinned.clear()
    for handle in _registry.values():
        handle.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_pin_before_fork, after_in_parent=_unpin_in_parent,
                        after_in_child=_forget_after_fork)
