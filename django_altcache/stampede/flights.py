"""In-process coalescing: one caller per key and process talks to the cache.

Across processes the lock in the cache decides who computes. Inside a process, the
threads (or the asyncio tasks of one event loop) that miss the same key at the same
time need not all poll the cache: the first becomes the *leader* and runs the protocol,
the others wait on an event for its outcome and then read the value from the cache
(so each gets its own copy, as from any cache read). A leader whose call raised wakes
them with ``ok=False``: they start over, and one of them leads the next attempt.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Hashable
from typing import Any


class Flight:
    __slots__ = ("event", "ok", "value")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False
        self.value: Any = None


class ThreadFlights:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Flight] = {}

    def join(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether this caller leads it."""
        with self._lock:
            flight = self._running.get(key)
            if flight is None:
                flight = self._running[key] = Flight()
                return flight, True
            return flight, False

    def land(self, key: Hashable, flight: Flight, ok: bool, value: Any = None) -> None:
        with self._lock:
            if self._running.get(key) is flight:
                del self._running[key]
        flight.ok, flight.value = ok, value
        flight.event.set()

    def forked(self) -> None:
        # A parent thread may have held the lock at fork time; its flights are not ours.
        self._lock = threading.Lock()
        self._running = {}


class TaskFlight:
    __slots__ = ("future", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[bool] = loop.create_future()
        self.value: Any = None


class TaskFlights:
    """Per event loop: tasks of different loops (threads) never wait on each other's futures."""

    def __init__(self) -> None:
        self._running: dict[tuple[int, Hashable], TaskFlight] = {}

    def join(self, key: Hashable) -> tuple[TaskFlight, bool]:
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        flight = self._running.get(slot)
        if flight is not None and not flight.future.done():
            return flight, False
        flight = self._running[slot] = TaskFlight(loop)
        return flight, True

    def land(self, key: Hashable, flight: TaskFlight, ok: bool, value: Any = None) -> None:
        slot = (id(asyncio.get_running_loop()), key)
        if self._running.get(slot) is flight:
            del self._running[slot]
        flight.value = value
        if not flight.future.done():
            flight.future.set_result(ok)

    def forked(self) -> None:
        self._running = {}


_all: list[ThreadFlights | TaskFlights] = []


def register(flights: ThreadFlights | TaskFlights) -> None:
    _all.append(flights)


def _after_fork_in_child() -> None:
    for flights in _all:
        flights.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
