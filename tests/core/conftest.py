"""Factories that build our backend and Django's with the same parameters, for side-by-side tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache.backends import dummy as django_dummy
from django.core.cache.backends import filebased as django_filebased
from django.core.cache.backends import locmem as django_locmem

from django_altcache.backends import dummy, filebased, locmem

_names = itertools.count()

Factory = Callable[..., Any]


def _locmem(cls: type) -> Factory:
    def make(**params: Any) -> Any:
        # A fresh LOCATION per cache: locmem stores are per-process globals.
        return cls(f"core-tests-{next(_names)}", params)
    return make


@pytest.fixture
def make_dir(tmp_path: Path) -> Callable[[], str]:
    def make() -> str:
        path = tmp_path / f"cache{next(_names)}"
        return str(path)
    return make


BACKENDS = {
    "dummy": (django_dummy.DummyCache, dummy.DummyCache),
    "locmem": (django_locmem.LocMemCache, locmem.LocMemCache),
    "filebased": (django_filebased.FileBasedCache, filebased.FileBasedCache),
}


@pytest.fixture(params=list(BACKENDS))
def backend_pair(request: pytest.FixtureRequest, make_dir: Callable[[], str]) -> tuple[Factory, Factory]:
    """(Django's factory, ours) for one backend kind: ``factory(**params) -> cache``."""
    theirs, ours = BACKENDS[request.param]
    if request.param == "filebased":
        return (lambda **p: theirs(make_dir(), p)), (lambda **p: ours(make_dir(), p))
    if request.param == "dummy":
        return (lambda **p: theirs("", p)), (lambda **p: ours("", p))
    return _locmem(theirs), _locmem(ours)
