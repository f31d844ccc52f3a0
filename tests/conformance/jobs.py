"""Run Django's runtests.py in child processes, at most ``jobs`` at a time, bounded in time.

Django's own ``--parallel`` needs tblib to carry tracebacks between processes, so
concurrency comes from several runtests.py processes over disjoint test classes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


try:  # loaded here, not in the forked child
    _PRCTL = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child: if this driver is killed outright (runtests.py kills it on
    Ctrl-C), Linux sends the child SIGTERM instead of leaving it running against
    servers that are being stopped."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Job:
    name: str  # also names its settings module, log and results files
    run: str  # the database run (sqlite, postgresql, ...)
    labels: list[str]
    settings_module: str
    returncode: int | None = None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False
    running: str = ""  # the test that was running when an incomplete run ended
    seconds: float = 0.0
    timed_out: bool = False

    def log_path(self, tests_dir: Path) -> Path:
        return tests_dir.parent / f"{self.name}.log"

    def results_path(self, tests_dir: Path) -> Path:
        return tests_dir.parent / f"{self.name}.json"


def _pump(stream: TextIO, log: TextIO, prefix: str | None) -> None:
    for line in stream:
        log.write(line)
        if prefix is not None:
            sys.stdout.write(f"{prefix}{line}")
            sys.stdout.flush()


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop a child's whole process group (runtests.py may have spawned helpers)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def run_jobs(jobs: list[Job], tests_dir: Path, *, parallel: int, timeout: float, verbose: bool,
             patterns: list[str], log) -> None:
    pending = list(jobs)
    running: list[tuple[Job, subprocess.Popen[str], threading.Thread, TextIO, float]] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                cmd = [sys.executable, "runtests.py", *job.labels, f"--settings={job.settings_module}",
                       "--parallel=1", "--noinput", f"--verbosity={2 if verbose else 1}",
                       *(arg for pattern in patterns for arg in ("-k", pattern))]
                env = {**os.environ, "ALTCACHE_CONFORMANCE_RESULTS": str(job.results_path(tests_dir)),
                       "PYTHONDONTWRITEBYTECODE": "1"}
                env.pop("DJANGO_SETTINGS_MODULE", None)
                log(f"start {job.name}: {len(job.labels)} test classes on {job.run}")
                logfile = open(job.log_path(tests_dir), "w")
                logfile.write(" ".join(cmd) + "\n")
                proc = subprocess.Popen(cmd, cwd=tests_dir, env=env, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_die_with_parent)
                assert proc.stdout is not None
                prefix = f"[{job.name}] " if verbose else None
                pump = threading.Thread(target=_pump, args=(proc.stdout, logfile, prefix), daemon=True)
                pump.start()
                running.append((job, proc, pump, logfile, time.monotonic()))
            time.sleep(0.2)
            for entry in list(running):
                job, proc, pump, logfile, started = entry
                if proc.poll() is None and time.monotonic() - started > timeout:
                    log(f"{job.name} still running after {timeout:.0f}s: stopping it")
                    job.timed_out = True
                    _stop(proc)
                if proc.poll() is None:
                    continue
                pump.join(timeout=10)
                logfile.close()
                running.remove(entry)
                job.returncode = proc.returncode
                job.seconds = time.monotonic() - started
                _load(job, tests_dir)
                log(f"done {job.name} in {job.seconds:.0f}s (exit {job.returncode}, {len(job.records)} tests)")
    finally:
        for job, proc, _pump_thread, logfile, _ in running:
            _stop(proc)
            logfile.close()


def _load(job: Job, tests_dir: Path) -> None:
    path = job.results_path(tests_dir)
    if path.is_file():
        data = json.loads(path.read_text())
        job.records = data["tests"]
        job.complete = bool(data["complete"])
        job.running = data.get("running", "")


def log_tail(job: Job, tests_dir: Path, lines: int = 30) -> str:
    text = job.log_path(tests_dir).read_text(errors="replace").rstrip().splitlines()
    return "\n".join("      " + line for line in text[-lines:])
