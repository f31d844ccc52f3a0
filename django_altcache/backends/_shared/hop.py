"""One thread hop per event-loop tick for the async twins that must run sync code.

Django's async twins are ``sync_to_async(thread_sensitive=True)`` of the sync method: one
hop to the thread that owns the caller's database connection for *each* call. Under
``asyncio.gather`` of many calls, the hops themselves (a future, an executor hand-off, a
thread wake-up and a wake-up of the loop, each way) cost more than the work.

``hop(func, *args)`` queues the call and returns a future; the first call queued in a
tick schedules a flush at the end of that tick (``loop.call_soon``), so every call made by
the tasks already running is in the batch. The batch then runs in *one*
``sync_to_async(thread_sensitive=True)`` hop, call after call, in the order they were made,
in the thread asgiref would have used for each of them, and every caller's future is
settled when the hop returns.

What is kept from one hop per call:

- the thread: calls are batched only with calls bound for the same thread (the same outer
  ``async_to_sync`` thread, or the same ``ThreadSensitiveContext``, e.g. one ASGI request),
  so each call sees the database connection, and the transaction, its own hop would have;
- the context: each call runs in a copy of its caller's context (contextvars), as
  ``sync_to_async`` copies it;
- the order and the serialisation: thread-sensitive calls already ran one at a time on
  that thread; a batch runs them one at a time, in the order they were made;
- errors: each caller gets its own call's exception.

What differs: a caller's result arrives when the whole batch is done (a batch is at most
the calls made in one tick), and a call whose caller was cancelled while queued still runs
if its batch had started, as a ``sync_to_async`` call already in its thread does.

``hop_group(group, item)`` queues an item for a *vectorised* call: adjacent items of the same
``group`` in a batch are handed to one ``group(items)`` call, which answers each item with
``(True, result)`` or ``(False, exception)``. The memcached backends use it for ``aget``:
gathered reads become one multi-get, one round trip, in place of one per key (a read of
several keys in one round trip answers as the same reads one after the other would, with
no write of the batch between them).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Callable
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async

Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], contextvars.Context, "asyncio.Future[Any]"]
Group = Callable[[list[Any]], list[tuple[bool, Any]]]
# A queued call of a group: func is _GROUPED, args is (group, item).
_GROUPED: Any = object()


# asgiref keeps AsyncToSync.executors in a ContextVar of per-thread storages (asgiref.local._CVar);
# reading it directly costs a ContextVar.get instead of a lock and two calls per async call.
_EXECUTORS_VAR = getattr(AsyncToSync.executors.__dict__.get("_storage"), "__dict__", {}).get("_data")


def inside_async_to_sync() -> bool:
    """Whether this async code runs for ``async_to_sync`` called from a sync thread: its
    thread-sensitive calls then go back to that thread (and its transaction)."""
    if isinstance(_EXECUTORS_VAR, contextvars.ContextVar):
        storage = _EXECUTORS_VAR.get(None)
        if storage is None or getattr(storage, "thread_id", None) != threading.get_ident():
            return False
        return getattr(storage, "data", {}).get("current") is not None
    return getattr(AsyncToSync.executors, "current", None) is not None


def _thread_key() -> tuple[Any, Any]:
    """Which thread ``sync_to_async(thread_sensitive=True)`` would pick for the current context."""
    return getattr(AsyncToSync.executors, "current", None), SyncToAsync.thread_sensitive_context.get(None)


class _Batcher:
    __slots__ = ("loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[tuple[Any, Any], list[Call]] = {}

    def add(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        key = _thread_key()
        calls = self.pending.get(key)
        if calls is None:
            calls = self.pending[key] = []
            self.loop.call_soon(self.flush, key)
        calls.append((func, args, kwargs, contextvars.copy_context(), future))
        return future

    def flush(self, key: tuple[Any, Any]) -> None:
        calls = self.pending.pop(key)
        # Started from the first caller's context, so asgiref picks the thread it would have.
        calls[0][3].run(self.loop.create_task, _hop(calls))


async def _hop(calls: list[Call]) -> None:
    try:
        outcomes = await sync_to_async(_run_calls, thread_sensitive=True)(calls)
    except BaseException as exc:  # the hop itself failed (cancelled, executor shut down)
        for *_, future in calls:
            if not future.done():
                future.set_exception(exc)
        if not isinstance(exc, Exception):
            raise
        return
    for (*_, future), (ok, value) in zip(calls, outcomes):
        if future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _run_calls(calls: list[Call]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    index, count = 0, len(calls)
    while index < count:
        func, args, kwargs, context, future = calls[index]
        if func is _GROUPED:
            group = args[0]
            end = index + 1
            while end < count and calls[end][0] is _GROUPED and calls[end][1][0] == group:
                end += 1
            outcomes.extend(_run_group(group, calls[index:end]))
            index = end
            continue
        index += 1
        if future.cancelled():  # cancelled before its batch started: not run
            outcomes.append((False, asyncio.CancelledError()))
            continue
        try:
            outcomes.append((True, context.run(func, *args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - handed to its caller
            outcomes.append((False, exc))
    return outcomes


def _run_group(group: Group, calls: list[Call]) -> list[tuple[bool, Any]]:
    """One vectorised call for adjacent items of one group (in the first caller's context)."""
    try:
        answers = calls[0][3].run(group, [call[1][1] for call in calls])
    except BaseException as exc:  # noqa: BLE001 - every item of the group gets it
        return [(False, exc)] * len(calls)
    if len(answers) != len(calls):
        error = RuntimeError(f"{group!r} answered {len(answers)} items for {len(calls)}")
        return [(False, error)] * len(calls)
    return answers


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = weakref.WeakKeyDictionary()


def hop(func: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """``await hop(f, *args)``: ``f(*args)`` in the caller's thread-sensitive thread, batched per tick."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _Batcher(loop)
    return batcher.add(func, args, kwargs)


def hop_group(group: Group, item: Any) -> asyncio.Future[Any]:
    """``await hop_group(group, item)``: ``item`` answered by one ``group(items)`` call with the
    adjacent items of the same ``group`` (compared with ``==``: bound methods of one object)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _Batcher(loop)
    return batcher.add(_GROUPED, (group, item), {})


def batched(op: str) -> Callable[..., Any]:
    """Async-twin policy (``_shared/twins.py``): the sync method through ``hop``."""
    async def twin(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await hop(getattr(self, op), *args, **kwargs)

    twin.__name__ = twin.__qualname__ = "a" + op
    twin.__doc__ = f"``{op}`` in a thread hop shared by the calls of one event-loop tick."
    return twin
