"""Listeners for what single-flight did, off the hit path (for tests, logs and metrics).

``listen(callback)`` registers ``callback(event, key)``; it is called for every call
that did not simply hit: ``"miss"`` when a call found no value and entered the
protocol, then one of protocol's outcomes (``"computed"``, ``"found"``, ``"stale"``,
``"timed_out"``, ``"refused"``, ``"followed"`` for a caller that waited on another
thread's or task's flight), and for early refresh ``"refreshed"``, ``"skipped"``,
``"busy"`` or ``"refresh_failed"``. A hit emits nothing, so listening costs nothing there.
A listener must be fast and must not raise (errors are logged and dropped).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("django_altcache")

Listener = Callable[[str, Any], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Register ``listener``; returns a function that unregisters it."""
    _listeners.append(listener)

    def stop() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return stop


def emit(event: str, key: Any) -> None:
    for listener in tuple(_listeners):
        try:
            listener(event, key)
        except Exception:  # noqa: BLE001 - a listener must never break a cache call
            logger.exception("stampede event listener %r failed", listener)
