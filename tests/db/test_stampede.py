"""Single-flight get_or_set and early refresh on DatabaseCache: SQLite, PostgreSQL and MariaDB.

The lock is the database's insert-if-absent (``add``); processes share the table, so
one computation per expiry holds across them as on the network caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from django_altcache.backends.db import DatabaseCache
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

from tests.contract.fixtures import target_fixture
from tests.contract.targets import Target

# Multi-process figures: on the main Python/Django pairs only (tests/conftest.py, ALTCACHE_LIGHT).
pytestmark = pytest.mark.heavy

BACKEND = "django_altcache.backends.db.DatabaseCache"
uses_db = pytest.mark.django_db(databases="__all__", transaction=True)
# PostgreSQL and MariaDB servers of the outage contract (tests/contract), killed in a test.
outage = target_fixture(["postgresql", "mysql"])


def close_connections() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    yield from worker_pool(PROCESSES, {"backend": BACKEND, "location": ""})


@pytest.fixture
def spec(vendor_alias: str, cache_table: str) -> dict[str, Any]:
    return {"backend": BACKEND, "location": cache_table, "params": {"OPTIONS": {"MAX_ENTRIES": 100_000}},
            "db": {"alias": vendor_alias, "name": connections[vendor_alias].settings_dict["NAME"]}}


@pytest.fixture
def cache(make_cache: Callable[..., DatabaseCache]) -> DatabaseCache:
    return make_cache()


@uses_db
def test_herd_one_computation(workers: Workers, spec: dict[str, Any], cache: DatabaseCache, tmp_path: Path,
                              vendor_alias: str) -> None:
    herd_with_django(workers, spec, tmp_path, cache, f"db {connections[vendor_alias].vendor}")


@uses_db
def test_killed_holder(workers: Workers, spec: dict[str, Any], cache: DatabaseCache, tmp_path: Path,
                       vendor_alias: str) -> None:
    killed_holder(workers, spec, tmp_path, cache, lock_timeout=2, lock_ttl=2,
                  label=f"db {connections[vendor_alias].vendor}")


@uses_db
def test_raising_computation(workers: Workers, spec: dict[str, Any], cache: DatabaseCache, tmp_path: Path,
                             vendor_alias: str) -> None:
    raising(workers, spec, tmp_path, cache, label=f"db {connections[vendor_alias].vendor}")


def test_fail_soft_with_the_server_killed(outage: Target) -> None:
    reset_breakers()
    outage.kill()
    fail_soft_down(lambda options: outage.cache(**options),
                   label=f"db {outage.vendor}", close=close_connections)


@uses_db
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_early_refresh(make_cache: Callable[..., DatabaseCache], vendor_alias: str, mode: str) -> None:
    run = early_refresh(lambda: make_cache(OPTIONS=early_refresh_options()),
                        duration=10 if mode == "sync" else 5, timeout=1, mode=mode, close=close_connections)
    assert_early_refresh(run, f"db {connections[vendor_alias].vendor} {mode}")
