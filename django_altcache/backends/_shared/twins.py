"""Async twins: one helper, three policies.

Django's ``BaseCache`` runs every ``a*`` method through ``sync_to_async(thread_sensitive=True)``,
and builds several from others (``aget_many`` awaits ``aget`` once per key, ``aincr`` is
``aget`` + ``aset``). Ours pick one policy per backend, each the twin of the sync method:

- ``inline``: the sync method called on the event loop. Only where every operation is bounded
  and never waits on I/O (dummy, locmem: a short in-process lock): a thread hop costs tens of
  microseconds, and serialises all such calls of a process on one thread.
- ``in_thread``: the sync method in one thread hop (Django's DB thread with
  ``thread_sensitive=True``: database connections are per thread), keeping its single round
  trip and its atomicity where Django's twins would split it.
- native: a real asyncio implementation, written by the backend (Redis over ``redis.asyncio``).

The file cache's twins try inline first and fall back to a thread when a lock is busy
(``filebased.py``): a variant of ``inline`` for work that is usually non-blocking.

A twin calls the *public* sync method: under the guard (``guard.py``) the async call is
guarded once, and the sync call inside it runs unguarded (the context, copied into the
thread by asgiref, says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

# Django's async operations, each the twin of the sync method without the "a".
OPERATIONS = ("add", "get", "set", "touch", "delete", "has_key", "get_many", "set_many", "delete_many",
              "incr", "decr", "incr_version", "decr_version", "clear", "close")


def inline(op: str) -> Callable[..., Awaitable[Any]]:
    async def twin(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, op)(*args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + op
    twin.__doc__ = f"``{op}`` on the event loop (it never blocks)."
    twin.inline_of = op  # type: ignore[attr-defined]  # the guard runs ``op`` itself (guard.py)
    return twin


def in_thread(op: str) -> Callable[..., Awaitable[Any]]:
    async def twin(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await sync_to_async(getattr(self, op), thread_sensitive=True)(*args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + op
    twin.__doc__ = f"``{op}`` in one thread hop."
    return twin


def twins(policy: Callable[[str], Callable[..., Awaitable[Any]]], *ops: str) -> dict[str, Any]:
    """``{"aget": ..., ...}`` for a class body: ``locals().update(twins(in_thread, "get", ...))``."""
    return {"a" + op: policy(op) for op in (ops or OPERATIONS)}


class InlineAsyncMixin:
    """Every async twin inline (dummy, locmem)."""

    locals().update(twins(inline))
