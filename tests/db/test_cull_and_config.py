"""Culling policy and configuration errors."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test.utils import override_settings

from django_altcache.backends.db import DatabaseCache
from django_altcache.conf import CacheConfigError

from .conftest import rows


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_cull_evicts_expired_then_soonest_never_forever(vendor_alias, cache_table, make_cache):
    cache = make_cache(OPTIONS={"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2, "CULL_PROBABILITY": 1.0})
    for i in range(4):
        cache.set(f"forever{i}", i, None)
    for i in range(3):
        cache.set(f"dead{i}", i, -1)
    # "a..." keys sort first alphabetically: Django's cull would drop them first.
    for i in range(4):
        cache.set(f"a-late{i}", i, 5000 + i)
    for i in range(3):
        cache.set(f"z-soon{i}", i, 100 + i)
    left = set(rows(vendor_alias, cache_table))
    assert {f":1:forever{i}" for i in range(4)} <= left
    assert not any("dead" in key for key in left)
    assert {f":1:a-late{i}" for i in range(4)} <= left
    assert len(left) <= 11


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_cull_probability_zero_never_culls(vendor_alias, cache_table, make_cache):
    cache = make_cache(OPTIONS={"MAX_ENTRIES": 5, "CULL_PROBABILITY": 0})
    cache.set_many({f"k{i}": i for i in range(20)})
    cache.set("one-more", 1)
    assert len(rows(vendor_alias, cache_table)) == 21


@pytest.mark.parametrize("table", ['with"quote', "with`tick", "with'single", "nul\x00", ""])
def test_bad_table_name_is_refused_at_configuration(table):
    with override_settings(CACHES={"bad": {"BACKEND": "django_altcache.backends.db.DatabaseCache",
                                           "LOCATION": table}}):
        with pytest.raises(CacheConfigError, match="LOCATION"):
            caches["bad"]


@pytest.mark.parametrize("options, message", [
    ({"CULL_PROBABILITY": 2}, "CULL_PROBABILITY"),
    ({"CULL_PROBABILITY": "often"}, "CULL_PROBABILITY"),
    ({"UNLOGGED": "yes"}, "UNLOGGED"),
])
def test_bad_options_name_the_setting(options, message):
    with pytest.raises(CacheConfigError, match=message):
        DatabaseCache("fine table", {"OPTIONS": options})


def test_pseudo_model_for_routers_and_djangos_isinstance():
    from django.core.cache.backends.db import BaseDatabaseCache

    cache = DatabaseCache("t", {})
    meta = cache.cache_model_class._meta
    assert isinstance(cache, BaseDatabaseCache)
    assert (meta.app_label, meta.model_name, meta.object_name, meta.db_table) == (
        "django_cache", "cacheentry", "CacheEntry", "t")
