"""Rows written by Django's DatabaseCache read by ours, and the other way round."""

from __future__ import annotations

import pytest
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.test.utils import override_settings

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

VALUES = {"int": 42, "text": "héllo ✓", "list": [1, (2, 3), {"x": None}], "bytes": b"\x00\xff"}


@pytest.mark.parametrize("use_tz", [True, False])
def test_both_directions(make_cache, cache_table, use_tz):
    with override_settings(USE_TZ=use_tz):
        ours = make_cache()
        theirs = DjangoDatabaseCache(cache_table, {})
        theirs.set_many({f"dj-{k}": v for k, v in VALUES.items()}, 300)
        theirs.set("dj-forever", "f", None)
        ours.set_many({f"alt-{k}": v for k, v in VALUES.items()}, 300)
        ours.set("alt-forever", "f", None)
        ours.set("alt-expired", "x", -1)

        assert ours.get_many([f"dj-{k}" for k in VALUES]) == {f"dj-{k}": v for k, v in VALUES.items()}
        assert theirs.get_many([f"alt-{k}" for k in VALUES]) == {f"alt-{k}": v for k, v in VALUES.items()}
        assert ours.get("dj-forever") == "f" and theirs.get("alt-forever") == "f"
        assert theirs.get("alt-expired") is None
        assert ours.has_key("dj-int") and theirs.has_key("alt-int")
        assert ours.incr("dj-int") == 43 and theirs.get("dj-int") == 43
        assert theirs.add("alt-text", "no") is False and ours.add("dj-text", "no") is False
        assert ours.touch("dj-list", 100) and theirs.get("dj-list") == VALUES["list"]
