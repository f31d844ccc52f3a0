"""Rate-limited logging of stored values that cannot be decoded.

A rotated SECRET_KEY without a fallback, a planted value or a bad deploy can make
every read fail to decode: one log record per cache per ``INTERVAL`` seconds, each
counting the ones left out since, keeps that visible without flooding the logs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger("django_altcache")
INTERVAL = 10.0  # seconds between two records about the same cache

_last: dict[str, float] = {}
_skipped: dict[str, int] = {}
_lock = threading.Lock()


def report_unreadable(where: str, key: Any, exc: BaseException) -> None:
    """Log (at most once per INTERVAL per ``where``) that ``key``'s value was unreadable."""
    now = time.monotonic()
    with _lock:
        last = _last.get(where)
        if last is not None and now - last < INTERVAL:
            _skipped[where] = _skipped.get(where, 0) + 1
            return
        _last[where] = now
        skipped = _skipped.pop(where, 0)
    more = f" ({skipped} more unreadable values in the last {INTERVAL:g} s were not logged)" if skipped else ""
    logger.warning("cache %s: cannot decode the value of key %r (%s: %s); read as a miss and deleted%s",
                   where, key, type(exc).__name__, exc, more)


def reset() -> None:
    """Forget the rate-limit state (tests)."""
    with _lock:
        _last.clear()
        _skipped.clear()
