"""A test runner for Django's runtests.py that records every outcome as JSON.

This file is copied next to Django's ``tests/runtests.py`` (as ``altcache_recorder.py``)
and named by ``TEST_RUNNER`` in the generated settings; it must import nothing from
django-altcache's test tree. The JSON goes to $ALTCACHE_CONFORMANCE_RESULTS:
``{"tests": {test_id: {"status", "duration", "detail"}}, "complete": bool}``.
"""

from __future__ import annotations

import json
import os
import signal
import time
import unittest
from typing import Any

from django.test.runner import DiscoverRunner

# Worst first: a test whose subtest failed stays failed when the test itself ends.
_RANK = {"passed": 0, "expected_failure": 0, "skipped": 1, "failed": 2, "error": 2, "unexpected_success": 2}
RECORDS: dict[str, dict[str, Any]] = {}
STARTED: dict[str, float] = {}
CURRENT = [""]  # the test running now, named if the driver stops a hung run


def _record(test: Any, status: str, detail: str = "") -> None:
    key = test.id()
    entry = RECORDS.setdefault(key, {"status": status, "duration": 0.0, "detail": ""})
    if _RANK[status] >= _RANK[entry["status"]]:
        entry["status"] = status
    if detail:
        entry["detail"] = (entry["detail"] + "\n" + detail).strip()


def recording(base: type[unittest.TextTestResult]) -> type[unittest.TextTestResult]:
    class RecordingResult(base):  # type: ignore[valid-type, misc]
        def startTest(self, test: Any) -> None:
            STARTED[test.id()] = time.perf_counter()
            CURRENT[0] = test.id()
            super().startTest(test)

        def stopTest(self, test: Any) -> None:
            super().stopTest(test)
            started, entry = STARTED.pop(test.id(), None), RECORDS.get(test.id())
            if started is not None and entry is not None:  # skipped classes never start
                entry["duration"] = round(time.perf_counter() - started, 3)

        def addSuccess(self, test: Any) -> None:
            super().addSuccess(test)
            _record(test, "passed")

        def addError(self, test: Any, err: Any) -> None:
            super().addError(test, err)
            _record(test, "error", self._exc_info_to_string(err, test))

        def addFailure(self, test: Any, err: Any) -> None:
            super().addFailure(test, err)
            _record(test, "failed", self._exc_info_to_string(err, test))

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            _record(test, "skipped", reason)

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            super().addExpectedFailure(test, err)
            _record(test, "expected_failure")

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            _record(test, "unexpected_success", "unexpected success")

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            super().addSubTest(test, subtest, err)
            if err is None:
                return
            failed = issubclass(err[0], test.failureException)
            _record(test, "failed" if failed else "error",
                    f"[{subtest._subDescription()}]\n{self._exc_info_to_string(err, test)}")

    return RecordingResult


def _write(complete: bool) -> None:
    path = os.environ["ALTCACHE_CONFORMANCE_RESULTS"]
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        json.dump({"tests": RECORDS, "complete": complete, "running": "" if complete else CURRENT[0]},
                  out, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _stopped(signum: int, frame: Any) -> None:
    """The driver's timeout: keep what ran, and name the test that hung."""
    _write(complete=False)
    os._exit(128 + signum)


class RecordingRunner(DiscoverRunner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Tracebacks of parallel workers cannot cross processes without tblib; the
        # conformance driver runs several processes itself instead.
        self.parallel = 1
        signal.signal(signal.SIGTERM, _stopped)

    def get_resultclass(self) -> type[unittest.TextTestResult]:
        return recording(super().get_resultclass() or unittest.TextTestResult)

    def run_suite(self, suite: Any, **kwargs: Any) -> Any:
        complete = False
        try:
            result = super().run_suite(suite, **kwargs)
            complete = True
            return result
        finally:
            _write(complete)
