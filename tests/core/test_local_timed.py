"""The time-bounded local tier on the file cache; locmem and dummy do not take it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from django_altcache.local.timed import TimedLocalMixin
from tests.local_timed import check_behaviour, check_options


@pytest.fixture
def make(make_dir: Callable[[], str]) -> Callable[..., Any]:
    directory = make_dir()
    return lambda **params: FileBasedCache(directory, params)


def test_options(make: Callable[..., Any]) -> None:
    check_options(make)


def test_behaviour(make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    check_behaviour(make, FileBasedCache, monkeypatch)


def test_locmem_has_no_local_tier() -> None:
    """In-process already: the option is not declared there (the checks report it as ignored)."""
    cache = LocMemCache("local-tier", {"OPTIONS": {"LOCAL_CACHE": {"ttl": 1}}})
    assert not isinstance(cache, TimedLocalMixin)


def test_the_variant_shadows_no_private_name_of_a_backend() -> None:
    """The tier is a mixin before the backend class: a helper of the same name in the backend
    (the database cache's ``_awrite`` once) would be silently replaced by the tier's."""
    from django_altcache.backends.db import DatabaseCache
    from django_altcache.backends.memcached import PyLibMCCache, PyMemcacheCache

    mine = {name for name in vars(TimedLocalMixin) if name.startswith("_") and not name.startswith("__")}
    for cls in (FileBasedCache, DatabaseCache, PyMemcacheCache, PyLibMCCache):
        theirs = {name for base in cls.__mro__ for name in vars(base)}
        assert mine & theirs == set(), cls.__name__
