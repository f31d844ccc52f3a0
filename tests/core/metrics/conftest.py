from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from django_altcache.metrics.recorder import _recorders, _registry_lock

_aliases = itertools.count()


@pytest.fixture
def alias() -> Iterator[str]:
    """A fresh cache alias, forgotten after the test (recorders are per process)."""
    name = f"metrics-test-{next(_aliases)}"
    yield name
    with _registry_lock:
        _recorders.pop(name, None)
