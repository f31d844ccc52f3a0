"""The portable path (any vendor without a fast path), run on the vendors we have."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from django_altcache.backends.db.dialects import PortableDialect

from .conftest import rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def portable(vendor_alias, cache_table, make_cache):
    def make(**params):
        cache = make_cache(**params)
        connection = connections[vendor_alias]
        cache._dialects[(vendor_alias, connection.vendor)] = PortableDialect(connection, cache_table)
        return cache
    return make


def test_portable_semantics(portable, vendor_alias, cache_table):
    cache = portable()
    cache.set("a", 1)
    cache.set("a", 2)  # UPDATE path
    assert cache.get("a") == 2
    assert cache.add("a", 3) is False
    cache.set("gone", 1, -1)
    assert cache.add("gone", "back") is True  # an expired row does not block add
    assert cache.get("gone") == "back"
    cache.set_many({"b": 1, "c": 2})
    assert cache.get_many(["a", "b", "c"]) == {"a": 2, "b": 1, "c": 2}
    assert cache.incr("b", 4) == 5
    assert cache.incr_version("c") == 2 and cache.get("c", version=2) == 2


def test_portable_cull_and_purge(portable, vendor_alias, cache_table):
    cache = portable(OPTIONS={"MAX_ENTRIES": 6, "CULL_FREQUENCY": 2, "CULL_PROBABILITY": 1.0})
    cache.set_many({f"forever{i}": i for i in range(3)}, None)
    cache.set_many({f"soon{i}": i for i in range(3)}, 100)
    cache.set("late", 1, 5000)
    cache.set("trigger", 1, 4000)
    left = set(rows(vendor_alias, cache_table))
    assert {":1:forever0", ":1:forever1", ":1:forever2", ":1:late", ":1:trigger"} <= left
    assert len(left) < 8
    cache.set("old", 1, 0.01)
    time.sleep(0.05)
    assert cache.purge_expired() == 1
