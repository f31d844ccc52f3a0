"""Run a protocol generator (protocol.py) against a cache, blocking or on an event loop.

The sync driver calls the cache's public methods; the async one their ``a*`` twins,
``asyncio.sleep`` and awaits the computation when the callable returns an awaitable
(an ``async def`` function). Any error of a step, ``CancelledError`` included, is
thrown into the generator, which releases its lock and re-raises it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import BaseCache

from .protocol import COMPUTE, Call, Sleep, Step


def run_sync(step: Step, cache: BaseCache, compute: Callable[[], Any]) -> Any:
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = step.send(send) if error is None else step.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            error = None  # drop the reference: the traceback holds the frames
        send = None
        try:
            if type(op) is Call:
                send = getattr(cache, op.name)(*op.args, **op.kwargs)
            elif op is COMPUTE:
                send = compute()
            elif type(op) is Sleep:
                time.sleep(op.seconds)
            else:  # pragma: no cover - a protocol bug
                raise TypeError(f"unknown step {op!r}")
        except BaseException as exc:  # noqa: BLE001 - thrown into the protocol, which re-raises
            error = exc


async def run_async(step: Step, cache: BaseCache, compute: Callable[[], Any]) -> Any:
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = step.send(send) if error is None else step.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            error = None
        send = None
        try:
            if type(op) is Call:
                send = await getattr(cache, "a" + op.name)(*op.args, **op.kwargs)
            elif op is COMPUTE:
                send = compute()
                if inspect.isawaitable(send):
                    send = await send
            elif type(op) is Sleep:
                await asyncio.sleep(op.seconds)
            else:  # pragma: no cover - a protocol bug
                raise TypeError(f"unknown step {op!r}")
        except BaseException as exc:  # noqa: BLE001 - thrown into the protocol, which re-raises
            error = exc
