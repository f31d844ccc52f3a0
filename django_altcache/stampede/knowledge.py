"""What a process knows of its entries' metadata, for early refresh (XFetch).

The metadata key is read along with the value (``get_many``, still one round trip) only
the first time a process sees a value and once the logical expiry it knew has passed;
until then this process's copy is used, and it is checked against the cache (under the
lock) before anything is recomputed, so knowledge older than another process's refresh
costs a read, never a computation.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .protocol import valid_meta

NO_META_RECHECK = 1.0  # seconds before a value seen without metadata is looked at again
KNOWN_LIMIT = 10_000  # entries per cache and process
# XFetch fires with probability exp(-(expiry - now) / (spent * beta)): below e**-40 (4e-18)
# there is no point drawing, so a hit far from expiry does one float comparison.
DRAW_HORIZON = 40.0


class Known:
    """One entry's metadata as this process knows it."""

    __slots__ = ("draw_from", "expiry", "recheck_at", "spent")

    def __init__(self, spent: float, expiry: float | None, recheck_at: float, draw_from: float) -> None:
        self.spent = spent
        self.expiry = expiry
        self.recheck_at = recheck_at  # from then on, read the metadata again with the value
        self.draw_from = draw_from  # no XFetch draw before (math.inf: never)

    def pause(self, until: float) -> None:
        """No draw before ``until`` (someone else is refreshing, or a refresh just failed)."""
        self.draw_from = max(self.draw_from, until)


class Knowledge:
    """Per cache and process, shared by its threads: plain dict operations, atomic under the GIL."""

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self._known: dict[tuple[Any, Any], Known] = {}

    def get(self, slot: tuple[Any, Any]) -> Known | None:
        return self._known.get(slot)

    def learn(self, slot: tuple[Any, Any], meta: Any, now: float) -> Known:
        if valid_meta(meta):
            spent, expiry = float(meta[0]), float(meta[1])
            known = Known(spent, expiry, recheck_at=expiry, draw_from=expiry - spent * self.beta * DRAW_HORIZON)
        else:  # a value stored without metadata (plain set, Django's backend, no timeout)
            known = Known(0.0, None, recheck_at=now + NO_META_RECHECK, draw_from=math.inf)
        if len(self._known) >= KNOWN_LIMIT:
            self._known.clear()  # amortised bound; entries are re-learned on their next read
        self._known[slot] = known
        return known

    def learned(self, slot: tuple[Any, Any], meta: tuple[float, float] | None) -> None:
        """This process just stored ``meta`` (None: it stored none)."""
        if meta is not None:
            self.learn(slot, meta, 0.0)

    def forget(self, slot: tuple[Any, Any]) -> None:
        self._known.pop(slot, None)

    def clear(self) -> None:
        self._known.clear()

    def draw(self, known: Known, now: float) -> bool:
        """XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): recompute early with a
        probability that grows as expiry nears, scaled by the time the value took."""
        if now < known.draw_from or known.expiry is None:
            return False
        # 1 - random() is in (0, 1]: log() never sees 0.
        return now - known.spent * self.beta * math.log(1.0 - random.random()) >= known.expiry
