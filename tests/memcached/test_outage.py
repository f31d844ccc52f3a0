"""Several servers, consistent hashing, and outages with real processes killed and restarted."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest

from .conftest import DJANGO_BACKENDS
from .stats import server_stats

PREFIX = "outage"
KEYS = [f"key-{i}" for i in range(300)]

# Key placements across servers: pymemcache's HashClient (rendezvous, as Django's),
# pylibmc's default (modula, as Django's) and pylibmc with ketama consistent hashing.
PLACEMENTS = pytest.mark.parametrize(
    "library, behaviors",
    [("pymemcache", {}), ("pylibmc", {}), ("pylibmc", {"ketama": True})],
    ids=["pymemcache", "pylibmc", "pylibmc-ketama"],
)


def build(cache_for: Any, library: str, servers: list[Any], behaviors: dict[str, Any] | None = None,
          **options: Any) -> Any:
    if behaviors:
        options["behaviors"] = behaviors
    return cache_for([s.location for s in servers], KEY_PREFIX=PREFIX, OPTIONS=options)


def owners(cache_for: Any, servers: list[Any]) -> list[set[str]]:
    """Which keys each server holds, asked of each server alone."""
    return [set(cache_for(s.location, KEY_PREFIX=PREFIX).get_many(KEYS)) for s in servers]


@PLACEMENTS
def test_keys_spread_over_all_servers(cache_for, library, behaviors, three_memcached):
    cache = build(cache_for, library, three_memcached, behaviors)
    assert cache.set_many({key: key for key in KEYS}) == []
    shares = owners(cache_for, three_memcached)
    assert all(len(share) > 30 for share in shares), [len(s) for s in shares]
    assert set().union(*shares) == set(KEYS) and sum(len(s) for s in shares) == len(KEYS)
    assert all(server_stats(s.location)["curr_items"] == len(share) for s, share in zip(three_memcached, shares))


@PLACEMENTS
def test_one_server_down_only_its_share_misses_and_it_comes_back(cache_for, library, behaviors, three_memcached):
    cache = build(cache_for, library, three_memcached, behaviors, IGNORE_EXCEPTIONS=True)
    cache.set_many({key: key for key in KEYS})
    shares = owners(cache_for, three_memcached)
    victim = three_memcached[1]
    survivors = shares[0] | shares[2]
    victim.kill()

    if library == "pylibmc":
        # libmemcached 1.1 silently drops live servers' replies in the multi-get that
        # discovers the dead server (docs/compat.md); it must still not raise or return
        # the dead share.
        assert set(cache.get_many(KEYS)) <= survivors
    for _ in range(3):  # first failure, retry window, and after the server is marked dead
        assert set(cache.get_many(KEYS)) == survivors
        assert {key for key in KEYS if cache.get(key) is not None} == survivors
    assert cache.set_many({key: "again" for key in survivors}) == []
    assert cache.get_many(sorted(survivors)[:5]) == {key: "again" for key in sorted(survivors)[:5]}
    cache.set("fresh", 1)
    cache.delete_many(KEYS)
    for key in sorted(shares[1])[:3]:
        cache.set(key, "while-down")  # no exception with fail-soft: a write to a dead server is a logged failure
        cache.delete(key)

    victim.start()
    lost = sorted(shares[1])
    deadline = time.monotonic() + 20
    back = False
    alone = cache_for(victim.location, KEY_PREFIX=PREFIX)  # fail-soft off: raises while it reconnects
    while not back and time.monotonic() < deadline:
        cache.set_many({key: "back" for key in lost})
        with contextlib.suppress(Exception):
            back = bool(set(alone.get_many(lost)))
        if not back:
            time.sleep(0.2)
    assert back, "the restarted server was never used again"


def test_default_placement_is_djangos_so_a_switch_keeps_the_cache(cache_for, library, three_memcached):
    """With several servers, keys Django's backend stored are found by ours, and back."""
    from django.utils.module_loading import import_string

    locations = [s.location for s in three_memcached]
    theirs = import_string(DJANGO_BACKENDS[library])(locations, {"KEY_PREFIX": PREFIX})
    ours = cache_for(locations, KEY_PREFIX=PREFIX)
    assert theirs.set_many({key: f"django-{key}" for key in KEYS}) == []
    assert ours.get_many(KEYS) == {key: f"django-{key}" for key in KEYS}
    assert ours.set_many({key: f"ours-{key}" for key in KEYS}) == []
    assert theirs.get_many(KEYS) == {key: f"ours-{key}" for key in KEYS}
    ours.delete_many(KEYS[:50])  # an invalidation by new code is seen by old code
    assert theirs.get_many(KEYS[:50]) == {}


def test_incr_with_server_down_raises_never_returns_false(cache_for, library, own_memcached):
    from django_altcache.exceptions import CacheUnavailable

    cache = build(cache_for, library, [own_memcached])
    soft = build(cache_for, library, [own_memcached], IGNORE_EXCEPTIONS=True)
    cache.set("n", 1)
    own_memcached.kill()
    for _ in range(3):
        with pytest.raises(Exception) as info:
            cache.incr("n")
        assert not isinstance(info.value, ValueError)  # the library's error, not "not found"
        with pytest.raises(CacheUnavailable):  # a ValueError: "try incr, except ValueError: set" still works
            soft.incr("n")
    assert soft.get("n") is None
    assert soft.get_many(["n"]) == {}
    assert soft.add("x", 1) is False and soft.delete("n") is False and soft.touch("n") is False


def test_stalled_server_does_not_hang_a_request(cache_for, library, own_memcached):
    options = ({"timeout": 0.3, "connect_timeout": 0.3} if library == "pymemcache"
               else {"behaviors": {"receive_timeout": 300_000, "send_timeout": 300_000,
                                   "_poll_timeout": 300, "connect_timeout": 300}})
    cache = cache_for(own_memcached.location, KEY_PREFIX="stall", OPTIONS={"IGNORE_EXCEPTIONS": True, **options})
    cache.set("k", 1)
    results: list[Any] = []
    own_memcached.freeze()
    try:
        worker = threading.Thread(target=lambda: results.append((cache.get("k", "default"), cache.get_many(["k"]))))
        worker.start()
        worker.join(30)  # generous bound: this detects a hang, not a speed
        assert not worker.is_alive(), "get blocked on a stalled server"
    finally:
        own_memcached.thaw()
    assert results == [("default", {})]
