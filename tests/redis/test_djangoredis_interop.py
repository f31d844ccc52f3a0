"""django-redis and ours on the same Redis database and KEY_PREFIX: each reads what the other wrote.

Plain values (ints raw, the rest pickled), TTLs, counters, and the hash, set and sorted-set data
django-redis's methods write: set and sorted-set members are compared by Redis byte for byte, so
a member written by one must be found, scored and removed by the other.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

django_redis_cache = pytest.importorskip("django_redis.cache")

from django_altcache.backends.redis import RedisCache  # noqa: E402
from tests.redis.conftest import for_redis_py  # noqa: E402

VALUES: dict[str, Any] = {
    "int": 42, "negative": -7, "big": 2**70, "bool": True, "none": None, "float": 1.5, "text": "héllo",
    "bytes": b"\x00\x80raw", "list": [1, "two", (3,)], "dict": {"a": {"b": [1, 2]}}, "set": {1, 2},
    "decimal": Decimal("1.10"), "date": datetime.date(2024, 2, 29),
}


@pytest.fixture
def pair(redis_url: str, prefix: str) -> Iterator[tuple[Any, RedisCache]]:
    """(django-redis's cache, ours) on the same server and prefix."""
    theirs = django_redis_cache.RedisCache(for_redis_py(redis_url), {"KEY_PREFIX": prefix})
    ours = RedisCache(redis_url, {"KEY_PREFIX": prefix})
    yield theirs, ours
    theirs.close()


def test_values_both_ways(pair: tuple[Any, RedisCache]) -> None:
    theirs, ours = pair
    theirs.set_many({f"dr-{name}": value for name, value in VALUES.items()}, timeout=100)
    assert ours.get_many([f"dr-{name}" for name in VALUES]) == {f"dr-{name}": v for name, v in VALUES.items()}
    ours.set_many({f"ours-{name}": value for name, value in VALUES.items()}, timeout=100)
    assert theirs.get_many([f"ours-{name}" for name in VALUES]) == {f"ours-{name}": v for name, v in VALUES.items()}
    for name, value in VALUES.items():
        assert ours.get(f"dr-{name}", "miss") == value and theirs.get(f"ours-{name}", "miss") == value
    assert 90 < ours.ttl("dr-int") <= 100 and 90 < theirs.ttl("ours-int") <= 100
    assert asyncio.run(ours.aget("dr-dict")) == VALUES["dict"]


def test_counters_and_versions_both_ways(pair: tuple[Any, RedisCache]) -> None:
    theirs, ours = pair
    theirs.set("n", 10)
    assert ours.incr("n", 5) == 15 and theirs.incr("n") == 16 and ours.get("n") == 16
    theirs.incr("created", ignore_key_check=True)
    assert ours.incr("created", ignore_key_check=True) == 2
    ours.set("v", "x", version=3)
    assert theirs.get("v", version=3) == "x"
    assert theirs.set("only", 1, nx=True) is True and ours.set("only", 2, nx=True) is False
    assert sorted(theirs.keys("on*")) == sorted(ours.keys("on*")) == ["only"]
    assert ours.delete_many(["n", "created", "nope"]) == 2 and theirs.get("n") is None


def test_hashes_both_ways(pair: tuple[Any, RedisCache]) -> None:
    theirs, ours = pair
    theirs.hset("h", "count", 3)
    theirs.hset("h", mapping={"obj": {"x": [1]}, "name": "n"})
    assert ours.hgetall("h") == {"count": 3, "obj": {"x": [1]}, "name": "n"}
    assert ours.hget("h", "obj") == {"x": [1]} and sorted(ours.hkeys("h")) == sorted(theirs.hkeys("h"))
    ours.hset("h2", mapping={"a": 1, "b": ("t",)})
    assert theirs.hlen("h2") == 2 and theirs.hexists("h2", "b")
    raw = theirs.client.get_client()
    assert theirs.client.decode(raw.hget(theirs.make_key("h2"), "b")) == ("t",)
    assert theirs.hdel("h2", "a") == 1 and ours.hgetall("h2") == {"b": ("t",)}


def test_sets_both_ways(pair: tuple[Any, RedisCache]) -> None:
    theirs, ours = pair
    members = [1, "a", (1, 2), 2.5, None]
    theirs.sadd("s", *members)
    assert ours.smembers("s") == set(members)
    for member in members:
        assert ours.sismember("s", member), member  # found by its bytes
    assert ours.smismember("s", "a", "b") == [True, False]
    assert ours.srem("s", "a", (1, 2)) == 2 and theirs.smembers("s") == {1, 2.5, None}
    ours.sadd("s2", "x", 7, ("y",))
    assert theirs.smembers("s2") == {"x", 7, ("y",)} and theirs.sismember("s2", ("y",))
    assert theirs.smove("s2", "s", "x") is True and ours.sismember("s", "x")
    assert ours.sunion("s", "s2") == theirs.sunion("s", "s2")
    assert ours.sdiff("s", "s2") == theirs.sdiff("s", "s2") and ours.sinter("s", "s2") == theirs.sinter("s", "s2")
    assert theirs.srem("s2", 7) == 1 and ours.scard("s2") == 1


def test_sorted_sets_both_ways(pair: tuple[Any, RedisCache]) -> None:
    theirs, ours = pair
    theirs.zadd("z", {"a": 1, 2: 2, ("t",): 3})
    assert ours.zrange("z", 0, -1, withscores=True) == [("a", 1.0), (2, 2.0), (("t",), 3.0)]
    assert ours.zscore("z", 2) == 2.0 and ours.zrank("z", ("t",)) == 2  # an int member too: pickled by both
    assert ours.zincrby("z", 10, "a") == 11.0 and theirs.zscore("z", "a") == 11.0
    ours.zadd("z", {"b": 0.5, 99: 4})
    assert theirs.zrange("z", 0, -1) == ["b", 2, ("t",), 99, "a"]
    assert theirs.zrem("z", 99) == 1 and ours.zrem("z", "b") == 1
    assert ours.zrangebyscore("z", 2, 3) == theirs.zrangebyscore("z", 2, 3) == [2, ("t",)]
    assert theirs.zpopmax("z") == ("a", 11.0) and ours.zpopmin("z") == (2, 2.0)
    assert theirs.zcard("z") == ours.zcard("z") == 1
