"""Fixtures for real servers.

runtests.py starts the shared servers and exports their addresses; a missing one
means its binary was missing. Locally such tests skip with the install hint; under
CI=true they fail, because a skipped backend test there would hide a broken setup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Callable, TypeVar

import pytest

from tests._servers import ServerUnavailable

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"

# Every guarded variant made in this run checks its class's ``leaf_operations`` as it runs
# (django_altcache/backends/_shared/guard.py): a declared leaf that calls another operation of the
# same cache fails the test that made it, and the run (pytest_sessionfinish). Read when a
# variant is made, so none may exist yet.
os.environ.setdefault("DJANGO_ALTCACHE_CHECK_LEAVES", "1")
_guard_module = sys.modules.get("django_altcache.backends._shared.guard")
if _guard_module is not None and _guard_module._variants:
    raise RuntimeError("guarded variants were made before tests/conftest.py turned the leaf checks on")


def missing_server(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a backend test may not be skipped)", pytrace=False)
    pytest.skip(message)


def server_env(var: str, what: str) -> str:
    value = os.environ.get(var)
    if not value:
        missing_server(
            f"{what} is not available ({var} unset): run the suite through ./runtests.py, "
            f"which starts it, and install the server ({os.environ.get(var + '_HINT', 'see README')})"
        )
    return value  # type: ignore[return-value]


def dedicated(factory: Callable[..., AbstractContextManager[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
    """Start a server just for one test or module (outage tests kill it)."""
    try:
        manager = factory(*args, **kwargs)
        server = manager.__enter__()
    except ServerUnavailable as exc:
        missing_server(str(exc))
        raise  # unreachable; missing_server raises
    try:
        yield server
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return server_env("ALTCACHE_REDIS_URL", "redis-server")


@pytest.fixture(scope="session")
def memcached_location() -> str:
    return server_env("ALTCACHE_MEMCACHED_LOCATION", "memcached")


@pytest.fixture(scope="session")
def postgres_port() -> str:
    return server_env("ALTCACHE_PG_PORT", "PostgreSQL")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """ALTCACHE_LIGHT=1 (./dev on the oldest and newest claimed Python/Django pairs): leave out
    the tests marked ``heavy``, multi-process figures (stampede herds, early refresh over
    seconds) and the browser, which run on the two main pairs; every other test runs."""
    import os

    if os.environ.get("ALTCACHE_LIGHT") != "1":
        return
    kept = [item for item in items if item.get_closest_marker("heavy") is None]
    left = [item for item in items if item.get_closest_marker("heavy") is not None]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def _leaf_violations() -> list[str]:
    guard = sys.modules.get("django_altcache.backends._shared.guard")
    return list(getattr(guard, "leaf_violations", ()))


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _leaf_violations():  # even one a backend's ``except`` swallowed
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The stampede tests' figures (Django's get_or_set computations, take-over times...),
    reported on every run rather than asserted; and any leaf declaration found wrong."""
    violations = _leaf_violations()
    if violations:
        terminalreporter.section("leaf_operations declared wrongly (the run fails)")
        for line in sorted(set(violations)):
            terminalreporter.write_line(line)
    common = sys.modules.get("tests.stampede_common")
    lines = getattr(common, "REPORT", None)
    if lines:
        terminalreporter.section("stampede figures")
        for line in lines:
            terminalreporter.write_line(line)


# The network configurations of the outage contract, shared by every group (tests/contract/).
from tests.contract.fixtures import targets_session  # noqa: E402,F401 - a fixture
