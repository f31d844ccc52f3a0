"""RedisCache's native async twins behave as its sync methods (tests/twins.py), on the same server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.twins import IDS, SCENARIOS, assert_twins_agree


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_async_twins_agree(cache_for: Any, redis_url: str, scenario: Any) -> None:
    assert_twins_agree(lambda: cache_for(redis_url, OPTIONS={"clear_prefix_only": True}), scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_async_twins_agree_with_replicas(cache_for: Any, redis_url: str, scenario: Any) -> None:
    # The same server listed twice: reads go through the replica path (and fall back) on both sides.
    assert_twins_agree(lambda: cache_for([redis_url, redis_url], OPTIONS={"clear_prefix_only": True}), scenario)
