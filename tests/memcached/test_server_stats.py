"""PyMemcacheCache/PyLibMCCache.server_stats(): memcached's stats for cachestats."""

from __future__ import annotations

from typing import Any


def test_stats_count_hits_misses_items_and_bytes(cache: Any) -> None:
    before = cache.server_stats()
    cache.set("present", "x" * 100)
    cache.get("present")
    cache.get("present")
    cache.get("absent")
    after = cache.server_stats()
    assert after["get_hits"] - before["get_hits"] >= 2
    assert after["get_misses"] - before["get_misses"] >= 1
    assert after["curr_items"] >= 1 and after["bytes"] >= 100 and after["servers"] == 1
    assert isinstance(after["evictions"], int) and after["limit_maxbytes"] > 0
    assert isinstance(after["version"], str) and 0 <= after["hit_rate"] <= 1
