"""The in-process backends' async twins behave as their sync methods (tests/twins.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from tests.twins import IDS, SCENARIOS, assert_twins_agree


@pytest.fixture(params=["locmem", "filebased", "dummy"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    name = uuid.uuid4().hex
    return {
        "locmem": lambda: LocMemCache(name, {}),
        "filebased": lambda: FileBasedCache(str(tmp_path / "c"), {}),
        "dummy": lambda: DummyCache(name, {}),
    }[request.param]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_async_twins_agree(make: Any, scenario: Any) -> None:
    assert_twins_agree(make, scenario)
