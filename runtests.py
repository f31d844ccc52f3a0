#!/usr/bin/env python3
"""Run django-altcache's tests against real servers.

    ./runtests.py                      everything: our tests, then Django's own tests/cache
    ./runtests.py redis db             only these groups (core, db, redis, memcached, project)
    ./runtests.py --no-conformance     skip the Django-suite conformance step
    ./runtests.py --conformance-only   only the conformance step
    ./runtests.py redis -- -k ttl -x   anything after "--" goes to pytest

Servers (redis-server, valkey-server, memcached, PostgreSQL 15, MariaDB) are started on 127.0.0.1 on
free ports in temp dirs, their addresses exported as ALTCACHE_* variables, and always
stopped at the end, on failures and on Ctrl-C too. A missing server binary makes its
tests skip with an install hint, or fail when CI=true.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tests._servers import ServerUnavailable  # noqa: E402
from tests._servers.registry import GROUP_SERVICES, SERVICES  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
# The conformance runner's own unit tests ride with the core group.
GROUP_PATHS = {"core": ("tests/core", "tests/conformance/test_conformance.py")}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help=f"test groups to run: {', '.join(GROUP_SERVICES)} (default: all)")
    parser.add_argument("--no-conformance", action="store_true", help="skip Django's own cache tests")
    parser.add_argument("--conformance-only", action="store_true", help="only Django's own cache tests")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUP_SERVICES]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUP_SERVICES)}")
    return args, passthrough


class _Terminated(KeyboardInterrupt):
    """SIGTERM, sent to runtests alone (its children did not get it)."""


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(f"signal {signum}")


# How long an interrupted child (pytest, the conformance run) gets to stop the servers its own
# fixtures started: a Redis Cluster or a MariaDB takes a few seconds on a busy machine.
CHILD_GRACE = 60.0


def run_child(cmd: list[str], env: dict[str, str]) -> int:
    """``subprocess.call``, except when interrupted: ``call`` kills the child 0.25 s after an
    interrupt, which orphaned every server its fixtures had started. Here the child gets up to
    CHILD_GRACE seconds to run its fixtures' teardown before the kill. A Ctrl-C reached it
    already (the terminal signals the whole process group); a SIGTERM sent to runtests alone
    is passed on as SIGINT (a second SIGINT would cut pytest's teardown short)."""
    with subprocess.Popen(cmd, cwd=ROOT, env=env) as child:
        try:
            return child.wait()
        except KeyboardInterrupt as exc:
            if child.poll() is None:
                if isinstance(exc, _Terminated):
                    child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=CHILD_GRACE)
                except subprocess.TimeoutExpired:
                    child.kill()
            raise


def start_services(stack: contextlib.ExitStack, names: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in names:
        service = SERVICES[name]
        started = time.monotonic()
        try:
            server = stack.enter_context(service.start())
        except ServerUnavailable as exc:
            label = "FAIL" if IN_CI else "SKIP"
            print(f"[runtests] {label}: {exc}. Its tests will {'fail' if IN_CI else 'skip'}.", flush=True)
            env[service.hint_var] = service.hint
            continue
        env.update(service.env(server))
        print(f"[runtests] started {name} in {time.monotonic() - started:.1f}s: "
              f"{', '.join(f'{k}={v}' for k, v in service.env(server).items())}", flush=True)
    return env


def junit_counts(path: Path) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not path.exists():
        return counts
    root = ET.parse(path).getroot()
    for suite in root.iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["skipped"] += skipped
        counts["passed"] += tests - failed - skipped
    return counts


def main(argv: list[str]) -> int:
    args, pytest_args = parse_args(argv)
    groups = args.groups or list(GROUP_SERVICES)
    needed = sorted({svc for group in groups for svc in GROUP_SERVICES[group]})
    if not args.no_conformance and not args.groups:
        needed = sorted(set(needed) | {"redis", "valkey", "memcached", "postgres"})
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # A background job of a script (./dev's lanes) starts with SIGINT ignored, and an ignored
    # signal stays ignored across exec: pytest would then never see the SIGINT run_child passes
    # on. A handled one is reset to the default in the children, where Python makes it
    # KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    totals = {"passed": 0, "failed": 0, "skipped": 0}
    exit_code = 0
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="altcache-run-") as tmp:
        try:
            env = {**os.environ, **start_services(stack, needed), "PYTHONPATH": str(ROOT)}
            if not args.conformance_only:
                junit = Path(tmp) / "pytest.xml"
                paths = [str(ROOT / path) for g in groups for path in GROUP_PATHS.get(g, (f"tests/{g}",))
                         if (ROOT / path).exists()]
                cmd = [sys.executable, "-m", "pytest", f"--junitxml={junit}", "-p", "no:cacheprovider",
                       *paths, *pytest_args]
                print(f"[runtests] {' '.join(cmd)}", flush=True)
                code = run_child(cmd, env)
                if code not in (0, 5):
                    exit_code = 1
                for key, value in junit_counts(junit).items():
                    totals[key] += value
            if not args.no_conformance:
                summary = Path(tmp) / "conformance.json"
                cmd = [sys.executable, "-m", "tests.conformance", "--summary", str(summary),
                       *(["--groups", ",".join(groups)] if args.groups else [])]
                print(f"[runtests] {' '.join(cmd)}", flush=True)
                code = run_child(cmd, env)
                if code != 0:
                    exit_code = 1
                if summary.exists():
                    for key, value in json.loads(summary.read_text()).items():
                        if key in totals:
                            totals[key] += int(value)
                elif code != 0:
                    totals["failed"] += 1
        except KeyboardInterrupt:
            print("[runtests] interrupted; stopping servers", flush=True)
            exit_code = 130
    if exit_code == 0 and totals["failed"]:
        exit_code = 1
    if totals["passed"] == 0 and exit_code == 0:
        print("[runtests] no test ran", flush=True)
        exit_code = 1
    print(f"runtests: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped",
          flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
