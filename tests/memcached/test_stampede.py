"""Single-flight get_or_set and early refresh on PyMemcacheCache and PyLibMCCache, against
real memcached processes. The lock is memcached's ``add``; TTLs are whole seconds, so the
lock is written with ``ceil(lock_timeout) + 1`` and early refresh uses timeouts of 2 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_altcache.backends._shared.breaker import reset_breakers
from tests.stampede_common import (
    PROCESSES,
    Workers,
    assert_early_refresh,
    early_refresh,
    early_refresh_options,
    fail_soft_down,
    herd_with_django,
    killed_holder,
    raising,
    worker_pool,
)

from .conftest import BACKENDS

# Multi-process figures: on the main Python/Django pairs only (tests/conftest.py, ALTCACHE_LIGHT).
pytestmark = pytest.mark.heavy


def backend_path(library: str) -> str:
    cls = BACKENDS[library]
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.fixture
def spec(library: str, memcached_location: str) -> dict[str, Any]:
    return {"backend": backend_path(library), "location": memcached_location, "params": {"KEY_PREFIX": "stampede"}}


@pytest.fixture(scope="module")
def workers(memcached_location: str) -> Iterator[Workers]:
    # Every command carries its own spec (library); the base one only starts Django.
    yield from worker_pool(PROCESSES, {"backend": "", "location": memcached_location})


@pytest.fixture
def cache(library: str, spec: dict[str, Any]) -> Any:
    return BACKENDS[library](spec["location"], dict(spec["params"]))


def test_herd_one_computation(workers: Workers, spec: dict[str, Any], cache: Any, tmp_path: Path,
                              library: str) -> None:
    herd_with_django(workers, spec, tmp_path, cache, library)


def test_killed_holder(workers: Workers, spec: dict[str, Any], cache: Any, tmp_path: Path, library: str) -> None:
    # lock_timeout 2 s is written as a 3 s memcached TTL, which lives between 2 and 3 s.
    killed_holder(workers, spec, tmp_path, cache, lock_timeout=2, lock_ttl=3, label=library)


def test_raising_computation(workers: Workers, spec: dict[str, Any], cache: Any, tmp_path: Path,
                             library: str) -> None:
    raising(workers, spec, tmp_path, cache, label=library)


def test_fail_soft_with_the_server_killed(own_memcached: Any, library: str) -> None:
    from .test_resilience import short_timeouts

    reset_breakers()
    own_memcached.kill()
    try:
        fail_soft_down(lambda options: BACKENDS[library](own_memcached.location, {"OPTIONS": {
            **options, **short_timeouts(library)}}), label=library)
    finally:
        reset_breakers()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_early_refresh(memcached_location: str, library: str, mode: str) -> None:
    run = early_refresh(lambda: BACKENDS[library](memcached_location, {
        "KEY_PREFIX": "early", "OPTIONS": early_refresh_options()}),
        duration=10 if mode == "sync" else 5, timeout=2, lifetime=1, mode=mode)
    assert_early_refresh(run, f"{library} {mode}")
