"""The in-process store of a local tier: bounded (entries, bytes, LRU), copy-out, and safe fills.

An entry is a tuple ``(payload, ready, deadline, channel, size)``:

- ``payload``/``ready``: what a hit hands out. Immutable values (str, int, bytes, ...) and
  ``MISSING`` (the key is known to be absent) are kept as they are (``ready``); anything else is
  kept pickled and unpickled on each hit, so a caller mutating what it got never changes the next
  hit (Django's locmem does the same).
- ``deadline``: ``time.monotonic()`` after which the entry is not served (the key's own expiry,
  capped by the tier's ``ttl``).
- ``channel``: what the entry's validity hangs on; a hit also needs ``now < channel.lease_until``
  (``tracking.Channel`` for Redis, ``ALWAYS`` for the time-bounded tier).

Fills race with invalidations: a reader fetches a value, a write lands on the server and its
invalidation is applied, then the reader stores what it fetched, which is now stale and will
never be invalidated again. So a fill takes a token *before* it asks the server (``begin``), every
invalidation of the key (and every flush) withdraws the tokens, and ``finish`` stores only while
its token is still the key's. An invalidation applied before ``begin`` concerns a write the
server had already made, which the fetch then sees.

Hits read ``entries`` without the lock (one dict lookup, atomic under the GIL); everything that
changes the store takes it.
"""

from __future__ import annotations

import datetime
import decimal
import math
import pickle
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>", "__slots__": ()})()
ENTRY_OVERHEAD = 200  # bytes counted per entry on top of key and payload (tuple, dict slot, floats)

# Values handed out as they are: nothing a caller does to them can change the stored copy.
IMMUTABLE: frozenset[type] = frozenset({
    str, bytes, int, float, bool, complex, type(None), decimal.Decimal, uuid.UUID,
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta, range,
})
HIGHEST = pickle.HIGHEST_PROTOCOL


class _Always:
    """The channel of entries that depend on no server (the time-bounded tier)."""

    __slots__ = ()
    lease_until = math.inf
    check_at = math.inf

    def catch_up(self, now: float) -> bool:
        return True


ALWAYS: Any = _Always()

Entry = tuple[Any, bool, float, Any, int]


def pack(value: Any, raw: bytes | None = None) -> tuple[Any, bool, int] | None:
    """``(payload, ready, size)`` for ``value``, or None when it cannot be copied out safely.

    ``raw``: the value's pickle as the server returned it (Django's Redis format), reused
    instead of pickling again.
    """
    kind = type(value)
    if kind in IMMUTABLE:
        return value, True, len(value) if kind is str or kind is bytes else 32
    if (kind is tuple or kind is frozenset) and all(type(item) in IMMUTABLE for item in value):
        return value, True, 32 + 32 * len(value)
    if raw is None:
        try:
            raw = pickle.dumps(value, HIGHEST)
        except Exception:  # noqa: BLE001 - an unpicklable value is simply not kept locally
            return None
    return raw, False, len(raw)


class LocalStore:
    """One tier's entries in this process; shared by the sync and async paths of every instance."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pending: dict[str, object] = {}
        self._lock = threading.Lock()
        # Counters of the cold paths (hits are not counted: they must stay one lookup).
        self.fills = self.invalidations = self.flushes = self.evictions = 0

    def __len__(self) -> int:
        return len(self.entries)

    # -- fills -------------------------------------------------------------------------------
    def begin(self, key: str) -> object:
        """Take the key's fill token; call before asking the server for the value."""
        token = object()
        self._pending[key] = token  # one atomic store: an invalidation withdraws it under the lock
        return token

    def finish(self, key: str, token: object, payload: Any, ready: bool, size: int, deadline: float,
               channel: Any) -> bool:
        """Store the fetched value if no invalidation or flush came since ``begin``."""
        size += len(key) + ENTRY_OVERHEAD
        with self._lock:
            if self._pending.get(key) is not token:
                return False
            del self._pending[key]
            if size > self.max_bytes:
                return False
            entries = self.entries
            old = entries.pop(key, None)
            if old is not None:
                self.bytes -= old[4]
            entries[key] = (payload, ready, deadline, channel, size)
            self.bytes += size
            self.fills += 1
            while len(entries) > self.max_entries or self.bytes > self.max_bytes:
                self.bytes -= entries.popitem(last=False)[1][4]
                self.evictions += 1
            return True

    def abandon(self, key: str, token: object) -> None:
        """The fill failed: give its token back (leaves a newer fill's token alone)."""
        with self._lock:
            if self._pending.get(key) is token:
                del self._pending[key]

    # -- invalidation ------------------------------------------------------------------------
    def invalidate(self, key: str) -> None:
        # Nothing held and no fill in flight: nothing to do, and no lock. A fill that takes its
        # token after this check asks the server after the write this invalidation is for.
        if key not in self._pending and key not in self.entries:
            return
        with self._lock:
            self._pending.pop(key, None)
            old = self.entries.pop(key, None)
            if old is not None:
                self.bytes -= old[4]
            self.invalidations += 1

    def invalidate_many(self, keys: Iterable[str]) -> None:
        with self._lock:
            pending, entries = self._pending, self.entries
            for key in keys:
                pending.pop(key, None)
                old = entries.pop(key, None)
                if old is not None:
                    self.bytes -= old[4]
                self.invalidations += 1

    def flush(self) -> None:
        """Forget everything, fills in flight included."""
        with self._lock:
            self.entries.clear()
            self._pending.clear()
            self.bytes = 0
            self.flushes += 1

    def stats(self) -> dict[str, int]:
        return {"entries": len(self.entries), "bytes": self.bytes, "fills": self.fills,
                "invalidations": self.invalidations, "flushes": self.flushes, "evictions": self.evictions}
