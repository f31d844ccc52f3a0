"""What a backend makes of its OPTIONS (and LOCATION) is made once per parse, not per instance
(Django builds an instance per thread and per ASGI task), and is made again when what it was
made from changes: the OPTIONS dict in place, django-redis's global settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_altcache.backends.db import DatabaseCache
from django_altcache.backends.memcached import PyMemcacheCache
from django_altcache.backends.redis import RedisCache
from django_altcache.conf import CacheConfigError


def test_instances_of_one_entry_share_its_class_choice_and_parse() -> None:
    options: dict[str, Any] = {}
    params = {"OPTIONS": options}
    first, second = RedisCache("redis://127.0.0.1:1", dict(params)), RedisCache("redis://127.0.0.1:1", dict(params))
    assert first is not second and type(first) is type(second) is RedisCache
    assert first._parsed is second._parsed and first._parsed.plans[RedisCache] is RedisCache
    options["IGNORE_EXCEPTIONS"] = True  # changed in place: parsed again, now guarded
    third = RedisCache("redis://127.0.0.1:1", dict(params))
    assert third._parsed is not first._parsed
    assert type(third) is not RedisCache and isinstance(third, RedisCache) and third._guard is not None


def test_django_redis_globals_change_the_class_chosen_for_the_same_options() -> None:
    options: dict[str, Any] = {}
    assert RedisCache("redis://127.0.0.1:1", {"OPTIONS": options})._guard is None
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        inside = RedisCache("redis://127.0.0.1:1", {"OPTIONS": options})
        assert inside._guard is not None and inside.resilience.ignore_exceptions
    assert RedisCache("redis://127.0.0.1:1", {"OPTIONS": options})._guard is None  # restored


def test_memcached_plans_follow_the_location_and_the_options() -> None:
    options: dict[str, Any] = {}
    one = PyMemcacheCache("127.0.0.1:1", {"OPTIONS": options})
    again = PyMemcacheCache("127.0.0.1:1", {"OPTIONS": options})
    other = PyMemcacheCache(["127.0.0.1:2", "127.0.0.1:3"], {"OPTIONS": options})
    assert one._handle is again._handle and one._servers == again._servers == ["127.0.0.1:1"]
    assert one._servers is not again._servers  # each instance's own list, as Django's
    assert other._servers == ["127.0.0.1:2", "127.0.0.1:3"] and other._handle is not one._handle
    one._options["timeout"] = 99  # an instance's options are its own
    assert again._options["timeout"] != 99
    options["timeout"] = 7  # changed in place: another client, with the new value
    changed = PyMemcacheCache("127.0.0.1:1", {"OPTIONS": options})
    assert changed._handle is not one._handle and changed._options["timeout"] == 7


def test_a_bad_location_is_reported_on_every_construction() -> None:
    options: dict[str, Any] = {}
    for _ in range(2):  # not remembered as made
        with pytest.raises(CacheConfigError, match="LOCATION"):
            PyMemcacheCache("", {"OPTIONS": options})
        with pytest.raises(CacheConfigError, match="LOCATION"):
            DatabaseCache("bad`name", {"OPTIONS": options})
    assert DatabaseCache("good_name", {"OPTIONS": options})._table == "good_name"
