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
