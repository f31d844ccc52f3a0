"""The database cache's async twins behave as its sync methods (tests/twins.py), on every vendor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tests.twins import IDS, SCENARIOS, assert_twins_agree

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "postgres", "mysql"])


@pytest.fixture(autouse=True)
def close_thread_connections() -> Any:
    yield
    # The async twins ran in asgiref's shared thread: its connections must not outlive the test
    # (the test databases could not be dropped at the end).
    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_async_twins_agree(make_cache: Any, scenario: Any) -> None:
    assert_twins_agree(make_cache, scenario)
