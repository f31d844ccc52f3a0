"""Single-flight get_or_set and early refresh on FileBasedCache (processes share the
directory; the lock is the file cache's flock'd ``add``) and LocMemCache (one store per
process: its herd is 4 x (25 threads + 50 tasks) in this process).

No server to kill here: fail-soft is covered by tests/core/test_stampede_unit.py's
``Down`` cache and by the network backends' tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from tests.stampede_common import (
    PROCESSES,
    Workers,
    assert_early_refresh,
    early_refresh,
    early_refresh_options,
    herd_with_django,
    killed_holder,
    raising,
    worker_pool,
)

# Multi-process figures: on the main Python/Django pairs only (tests/conftest.py, ALTCACHE_LIGHT).
pytestmark = pytest.mark.heavy

FILE = "django_altcache.backends.filebased.FileBasedCache"
LOCMEM = "django_altcache.backends.locmem.LocMemCache"
_names = itertools.count()


@pytest.fixture(scope="module")
def file_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("stampede-files"))


@pytest.fixture(scope="module")
def file_workers(file_dir: str) -> Iterator[Workers]:
    yield from worker_pool(PROCESSES, {"backend": FILE, "location": file_dir})


@pytest.fixture(scope="module")
def locmem_workers() -> Iterator[Workers]:
    yield from worker_pool(PROCESSES, {"backend": LOCMEM, "location": "stampede-locmem"}, local=True)


def file_spec(file_dir: str) -> dict[str, Any]:
    return {"backend": FILE, "location": file_dir, "params": {"OPTIONS": {"MAX_ENTRIES": 100_000}}}


def locmem_spec() -> dict[str, Any]:
    return {"backend": LOCMEM, "location": f"stampede-locmem-{next(_names)}"}


def test_file_herd(file_workers: Workers, file_dir: str, tmp_path: Path) -> None:
    herd_with_django(file_workers, file_spec(file_dir), tmp_path, FileBasedCache(file_dir, {}), "filebased")


def test_file_killed_holder(file_workers: Workers, file_dir: str, tmp_path: Path) -> None:
    killed_holder(file_workers, file_spec(file_dir), tmp_path, FileBasedCache(file_dir, {}), lock_timeout=2,
                  lock_ttl=2, label="filebased")


def test_file_raising(file_workers: Workers, file_dir: str, tmp_path: Path) -> None:
    raising(file_workers, file_spec(file_dir), tmp_path, FileBasedCache(file_dir, {}), label="filebased")


def test_locmem_herd(locmem_workers: Workers, tmp_path: Path) -> None:
    spec = locmem_spec()
    herd_with_django(locmem_workers, spec, tmp_path, LocMemCache(spec["location"], {}), "locmem")


def test_locmem_raising(locmem_workers: Workers, tmp_path: Path) -> None:
    spec = locmem_spec()
    raising(locmem_workers, spec, tmp_path, LocMemCache(spec["location"], {}), label="locmem")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_file_early_refresh(tmp_path: Path, mode: str) -> None:
    run = early_refresh(lambda: FileBasedCache(str(tmp_path), {"OPTIONS": early_refresh_options()}),
                        duration=10 if mode == "sync" else 5, timeout=1, mode=mode)
    assert_early_refresh(run, f"filebased {mode}")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_locmem_early_refresh(mode: str) -> None:
    location = f"early-{next(_names)}"
    run = early_refresh(lambda: LocMemCache(location, {"OPTIONS": early_refresh_options()}),
                        duration=10 if mode == "sync" else 5, timeout=1, mode=mode)
    assert_early_refresh(run, f"locmem {mode}")
