"""Immutable views of a recorder's counters, and the figures derived from them.

Shared by every reader (Prometheus, ``cachestats``, the demo dashboard) so that a hit
rate or a p99 means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The operations whose hits and misses make an alias's hit rate. get_or_set counts once (its
# inner lookups are not counted: backends/_shared/guard.py), a miss when its callable ran.
LOOKUPS = frozenset({"get", "get_many", "has_key", "get_or_set"})


@dataclass(frozen=True)
class OpStats:
    op: str
    api: str  # "sync" or "async"
    calls: int
    hits: int
    misses: int
    errors: int
    fallbacks: int
    seconds: float  # sum of the timed calls' durations
    buckets: tuple[int, ...]  # timed calls per latency bucket, not cumulative; last is +Inf
    errors_by_class: dict[str, int] = field(default_factory=dict)

    @property
    def timed(self) -> int:
        return sum(self.buckets)


@dataclass(frozen=True)
class BreakerStats:
    state: str  # "open" or "closed"
    opens: int  # times it opened since the process started counting
    since: float  # time.time() of the last change


def quantile(q: float, bounds: Sequence[float], buckets: Sequence[int]) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket that
    holds the q-th call (from 0 in the first bucket; the last finite bound past it)."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


def merged(ops: Iterable[OpStats], width: int) -> list[int]:
    total = [0] * width
    for stats in ops:
        for index, count in enumerate(stats.buckets):
            total[index] += count
    return total


@dataclass(frozen=True)
class Snapshot:
    alias: str
    backend: str
    taken: float  # time.time()
    started: float  # when this process began counting for the alias
    bounds: tuple[float, ...]
    latency: bool  # whether calls are timed
    ops: list[OpStats]
    breakers: dict[str, BreakerStats]

    def used(self) -> list[OpStats]:
        return [stats for stats in self.ops if stats.calls]

    @property
    def calls(self) -> int:
        return sum(stats.calls for stats in self.ops)

    @property
    def hits(self) -> int:
        return sum(stats.hits for stats in self.ops if stats.op in LOOKUPS)

    @property
    def misses(self) -> int:
        return sum(stats.misses for stats in self.ops if stats.op in LOOKUPS)

    @property
    def errors(self) -> int:
        return sum(stats.errors for stats in self.ops)

    @property
    def fallbacks(self) -> int:
        return sum(stats.fallbacks for stats in self.ops)

    @property
    def hit_rate(self) -> float | None:
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else None

    def latency_buckets(self) -> list[int]:
        return merged(self.ops, len(self.bounds) + 1)

    def quantile(self, q: float) -> float | None:
        return quantile(q, self.bounds, self.latency_buckets())

    def errors_by_class(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for stats in self.ops:
            for name, count in stats.errors_by_class.items():
                total[name] = total.get(name, 0) + count
        return total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``ops`` lists only the operations that were called."""
        return {
            "alias": self.alias, "backend": self.backend, "taken": self.taken, "started": self.started,
            "calls": self.calls, "hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate,
            "errors": self.errors, "fallbacks": self.fallbacks, "errors_by_class": self.errors_by_class(),
            "latency": self.latency, "bounds": list(self.bounds),
            "latency_buckets": self.latency_buckets() if self.latency else None,
            "p50": self.quantile(0.5) if self.latency else None,
            "p99": self.quantile(0.99) if self.latency else None,
            "breakers": {side: {"state": b.state, "opens": b.opens, "since": b.since}
                         for side, b in sorted(self.breakers.items())},
            "ops": [{"op": s.op, "api": s.api, "calls": s.calls, "hits": s.hits, "misses": s.misses,
                     "errors": s.errors, "fallbacks": s.fallbacks, "seconds": s.seconds,
                     "errors_by_class": s.errors_by_class} for s in self.used()],
        }
