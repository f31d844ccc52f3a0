"""The in-process store of a local tier: bounded (entries, bytes, LRU), copy-out, and safe fills.

An entry is a tuple ``(payload, thaw, deadline, channel, size)``:

- ``payload``/``thaw``: what a hit hands out, ``thaw(payload)`` or, when ``thaw`` is None, the
  payload itself. A caller mutating what it got must never change the next hit (Django's locmem
  unpickles on every hit for that). Immutable values (str, int, bytes, ...) and ``MISSING`` (the
  key is known to be absent) are handed out as they are. Small trees of dicts and lists of
  immutable values (most cached API data) are kept as a private copy and copied out container
  by container (``_copier``), several times cheaper than unpickling. Anything else (other
  classes, shared or cyclic references, big trees) is kept pickled and unpickled on each hit.
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
from collections.abc import Callable, Iterable
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>", "__slots__": ()})()
ENTRY_OVERHEAD = 200  # bytes counted per entry on top of key and payload (tuple, dict slot, floats)

# Values handed out as they are: nothing a caller does to them can change the stored copy.
IMMUTABLE: frozenset[type] = frozenset({
    str, bytes, int, float, bool, complex, type(None), decimal.Decimal, uuid.UUID,
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta, range,
})
HIGHEST = pickle.HIGHEST_PROTOCOL
# A tree with more containers and items than this is kept pickled: the scan at fill time and the
# copy per hit grow with it, and pickle's C loop wins on big values.
TREE_MAX_ITEMS = 128

Thaw = Callable[[Any], Any]
_loads: Thaw = pickle.loads


class _Always:
    """The channel of entries that depend on no server (the time-bounded tier)."""

    __slots__ = ()
    lease_until = math.inf
    check_at = math.inf

    def catch_up(self, now: float) -> bool:
        return True


ALWAYS: Any = _Always()

Entry = tuple[Any, "Thaw | None", float, Any, int]


def pack(value: Any, raw: bytes | None = None) -> tuple[Any, Thaw | None, int] | None:
    """``(payload, thaw, size)`` for ``value``, or None when it cannot be copied out safely.

    ``raw``: the value's pickle as the server returned it (Django's Redis format), reused
    instead of pickling again. ``value`` itself is never kept (the caller hands it out).
    """
    kind = type(value)
    if kind in IMMUTABLE:
        return value, None, len(value) if kind is str or kind is bytes else 32
    if (kind is tuple or kind is frozenset) and all(type(item) in IMMUTABLE for item in value):
        return value, None, 32 + 32 * len(value)
    if kind is dict or kind is list:
        plan = _Plan()
        copier = _copier(value, plan)
        if copier is not None:
            return copier(value), copier, len(raw) if raw is not None else plan.size
    if raw is None:
        try:
            raw = pickle.dumps(value, HIGHEST)
        except Exception:  # noqa: BLE001 - an unpicklable value is simply not kept locally
            return None
    return raw, _loads, len(raw)


class _Plan:
    """What a scan has seen so far: items (bounded), containers (each must appear once), bytes."""

    __slots__ = ("items", "seen", "size")

    def __init__(self) -> None:
        self.items = 0
        self.seen: set[int] = set()
        self.size = 64


def _frozen(value: Any, plan: _Plan) -> bool:
    """True for a value that can be shared between the copies: immutable all the way down."""
    kind = type(value)
    if kind in IMMUTABLE:
        if kind is str or kind is bytes:
            plan.size += len(value)
        return True
    if kind is tuple or kind is frozenset:
        plan.items += len(value)
        return plan.items <= TREE_MAX_ITEMS and all(_frozen(item, plan) for item in value)
    return False


def _copier(value: dict[Any, Any] | list[Any], plan: _Plan) -> Thaw | None:
    """A function returning a fresh copy of ``value`` equal to what unpickling its pickle would
    give (same types, same sharing), or None when ``value`` is not such a tree.

    Only exact ``dict``/``list`` (a subclass may copy differently), immutable keys, each
    container reachable once (pickle would share a twice-referenced list; a copy would not).
    """
    if id(value) in plan.seen:
        return None
    plan.seen.add(id(value))
    plan.items += len(value)
    plan.size += 48 + 16 * len(value)
    if plan.items > TREE_MAX_ITEMS:
        return None
    children: list[tuple[Any, Thaw]] = []
    keyed = type(value) is dict
    pairs: Iterable[tuple[Any, Any]] = value.items() if keyed else enumerate(value)  # type: ignore[union-attr]
    shallow: Thaw = dict.copy if keyed else list.copy
    for key, item in pairs:
        if keyed and not _frozen(key, plan):
            return None
        if _frozen(item, plan):
            continue
        kind = type(item)
        if kind is not dict and kind is not list:
            return None
        child = _copier(item, plan)
        if child is None:
            return None
        children.append((key, child))
    if not children:
        return shallow  # C-level copy: the whole cost of a hit on a flat dict or list
    plan_of = tuple(children)

    def copy(tree: Any) -> Any:
        out = shallow(tree)
        for key, child in plan_of:
            out[key] = child(out[key])
        return out

    return copy


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

    def finish(self, key: str, token: object, payload: Any, thaw: Thaw | None, size: int, deadline: float,
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
            entries[key] = (payload, thaw, deadline, channel, size)
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
