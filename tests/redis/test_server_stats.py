"""RedisCache.server_stats(): the server's own numbers for cachestats."""

from __future__ import annotations

from typing import Any


def test_info_counts_hits_misses_and_keys(cache: Any) -> None:
    before = cache.server_stats()
    cache.set("present", 1)
    for _ in range(3):
        cache.get("present")
    cache.get("absent")
    after = cache.server_stats()
    assert after["keyspace_hits"] - before["keyspace_hits"] >= 3
    assert after["keyspace_misses"] - before["keyspace_misses"] >= 1
    assert after["db0_keys"] >= 1 and after["servers"] == 1
    assert after["used_memory"] > 0 and isinstance(after["redis_version"], str)
    assert 0 <= after["hit_rate"] <= 1
    for name in ("evicted_keys", "expired_keys", "maxmemory"):
        assert isinstance(after[name], int)


def test_an_unreachable_server_raises_the_librarys_error(cache_for: Any) -> None:
    import redis

    from tests._servers.base import free_port

    cache = cache_for(f"redis://127.0.0.1:{free_port()}", OPTIONS={"IGNORE_EXCEPTIONS": True})
    try:
        cache.server_stats()
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("server_stats() must not answer for a dead server")
