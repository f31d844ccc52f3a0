"""Single-flight get_or_set and early refresh on RedisCache, against real redis-server processes.

The herd: 4 processes x (25 threads + 50 asyncio tasks) on one expired key, 200 ms
computation: exactly one computation with STAMPEDE; Django's get_or_set in the same
test is reported, not asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_altcache.backends.redis import RedisCache
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
    slow,
    worker_pool,
)

# Multi-process figures: on the main Python/Django pairs only (tests/conftest.py, ALTCACHE_LIGHT).
pytestmark = pytest.mark.heavy

BACKEND = "django_altcache.backends.redis.RedisCache"


@pytest.fixture(scope="module")
def spec(redis_url: str) -> dict[str, Any]:
    return {"backend": BACKEND, "location": redis_url, "params": {"KEY_PREFIX": "stampede"}}


@pytest.fixture(scope="module")
def workers(spec: dict[str, Any]) -> Iterator[Workers]:
    yield from worker_pool(PROCESSES, spec)


@pytest.fixture
def cache(spec: dict[str, Any]) -> RedisCache:
    return RedisCache(spec["location"], dict(spec["params"]))


def test_herd_one_computation(workers: Workers, spec: dict[str, Any], cache: RedisCache, tmp_path: Path) -> None:
    herd_with_django(workers, spec, tmp_path, cache, "redis")


def test_killed_holder(workers: Workers, spec: dict[str, Any], cache: RedisCache, tmp_path: Path) -> None:
    killed_holder(workers, spec, tmp_path, cache, lock_timeout=2, lock_ttl=2, label="redis")


def test_raising_computation(workers: Workers, spec: dict[str, Any], cache: RedisCache, tmp_path: Path) -> None:
    raising(workers, spec, tmp_path, cache, label="redis")


def test_fail_soft_with_the_server_killed(own_redis: Any) -> None:
    reset_breakers()
    own_redis.kill()
    try:
        fail_soft_down(lambda options: RedisCache(own_redis.url, {"OPTIONS": {
            **options, "socket_timeout": 0.2, "socket_connect_timeout": 0.2}}), label="redis")
    finally:
        reset_breakers()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_early_refresh(redis_url: str, mode: str) -> None:
    run = early_refresh(lambda: RedisCache(redis_url, {"KEY_PREFIX": "early", "OPTIONS": early_refresh_options()}),
                        duration=10 if mode == "sync" else 5, timeout=1, mode=mode)
    assert_early_refresh(run, f"redis {mode}")


@slow
def test_early_refresh_60s(redis_url: str) -> None:
    """The issue's figure: 1,000 reads/s for 60 s, 5 s timeout."""
    run = early_refresh(lambda: RedisCache(redis_url, {"KEY_PREFIX": "early60", "OPTIONS": early_refresh_options()}),
                        duration=60, timeout=5)
    assert_early_refresh(run, "redis 60 s")
