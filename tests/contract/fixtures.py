"""The session's network configurations (``targets.py``), started when a test first needs one.

``targets_session`` is registered in tests/conftest.py, so every test group shares one set of
servers; ``target_fixture(names)`` makes a fixture that runs a test against each named one,
inside ``Target.session()`` (servers running and thawed, no breaker or client state left).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .targets import TARGETS, Target

_started: dict[str, Target] = {}
_unavailable: dict[str, BaseException] = {}


@pytest.fixture(scope="session")
def targets_session(django_db_blocker: Any) -> Iterator[dict[str, Target]]:
    yield _started
    with django_db_blocker.unblock():
        for target in _started.values():
            target.close()
    _started.clear()


def started(name: str, targets: dict[str, Target]) -> Target:
    if name in _unavailable:
        raise _unavailable[name]
    target = targets.get(name)
    if target is None:
        target = TARGETS[name]()
        try:
            target.start()
        except BaseException as exc:  # a missing server skips (or fails under CI) every test of it
            _unavailable[name] = exc
            target.close()
            raise
        targets[name] = target
    return target


def target_fixture(names: list[str]) -> Any:
    @pytest.fixture(params=names)
    def fixture(request: pytest.FixtureRequest, targets_session: dict[str, Target],
                django_db_blocker: Any) -> Iterator[Target]:
        with django_db_blocker.unblock():
            target = started(request.param, targets_session)
            with target.session():
                yield target

    return fixture
