"""What happened to the demo's servers (the outage drill), for the dashboard's timeline.

demo.py and the site share one process under ``./dev demo --load``, so a module-level
list is enough; it keeps the last ``KEEP`` events.
"""

from __future__ import annotations

import threading
import time
from typing import Any

KEEP = 50
_events: list[dict[str, Any]] = []
_lock = threading.Lock()


def note(text: str, kind: str = "info") -> None:
    with _lock:
        _events.append({"t": time.time(), "text": text, "kind": kind})
        del _events[:-KEEP]


def recent() -> list[dict[str, Any]]:
    with _lock:
        return list(_events)


def clear() -> None:
    with _lock:
        _events.clear()
