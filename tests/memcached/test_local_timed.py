"""The time-bounded local tier on both memcached backends, real servers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local_timed import check_behaviour, check_options
from tests.memcached.conftest import BACKENDS


def test_options(cache_for: Any, memcached_location: str) -> None:
    check_options(lambda **params: cache_for(memcached_location, KEY_PREFIX="local-timed", **params))


def test_behaviour(cache_for: Any, memcached_location: str, library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check_behaviour(lambda **params: cache_for(memcached_location, KEY_PREFIX="local-timed", **params),
                    BACKENDS[library], monkeypatch)


def test_with_fail_soft_the_guard_wraps_the_tier(cache_for: Any, own_memcached: Any, library: str) -> None:
    cache = cache_for(own_memcached.location, OPTIONS={"LOCAL_CACHE": {"ttl": 30}, "IGNORE_EXCEPTIONS": True})
    mro = type(cache).__mro__
    assert "_bare" in type(cache).__dict__ and mro[1].__name__ == mro[0].__name__  # guard, then the tier
    cache.set("k", "v")
    assert cache.get("k") == "v"
    own_memcached.kill()
    assert cache.get("k") == "v"  # held locally: time-bounded, as documented
    assert cache.get("other", "dflt") == "dflt"  # fail-soft for the rest
    cache.set("k", "w")  # a write that fails: the local copy goes anyway
    assert cache.get("k", "gone") == "gone"
