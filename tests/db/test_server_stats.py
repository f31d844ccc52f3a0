"""DatabaseCache.server_stats(): rows and expired rows, on each vendor."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_rows_and_expired_rows(cache: Any) -> None:
    cache.set_many({f"live{i}": i for i in range(5)}, timeout=60)
    cache.set_many({f"gone{i}": i for i in range(3)}, timeout=0.05)
    deadline = time.monotonic() + 5
    stats = cache.server_stats()
    while stats["expired_rows"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
        stats = cache.server_stats()
    assert (stats["rows"], stats["expired_rows"]) == (8, 3)
    assert stats["table"] == cache._table and stats["max_entries"] == cache._max_entries
