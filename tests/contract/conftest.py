"""One fixture per network configuration (``targets.py``), as Django's BaseCacheTests runs one
API suite against every backend: a test that takes ``target`` runs against each of them."""

from __future__ import annotations

from .fixtures import target_fixture
from .targets import TARGETS

target = target_fixture(list(TARGETS))
