"""The memcached backends' async twins behave as their sync methods (tests/twins.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.twins import IDS, SCENARIOS, assert_twins_agree


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_async_twins_agree(cache_for: Any, memcached_location: str, scenario: Any) -> None:
    assert_twins_agree(lambda: cache_for(memcached_location, KEY_PREFIX="twins"), scenario)
