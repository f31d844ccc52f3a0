"""The time-bounded local tier on the database cache (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from django_altcache.backends.db import DatabaseCache
from tests.local_timed import check_behaviour, check_options

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_options(make_cache: Callable[..., Any]) -> None:
    check_options(make_cache)


def test_behaviour(make_cache: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    check_behaviour(make_cache, DatabaseCache, monkeypatch)
