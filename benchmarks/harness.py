"""Compare implementations of the same operations, interleaved, in one run.

Each operation has one callable per implementation ("ours", "django", a raw-client
floor...). Rounds alternate the implementations so that drift on the machine hits
them alike; each round times ``number`` calls; the table shows per-call medians and
the ratio of each implementation to a reference column. Nothing here asserts a
speed: the figures are committed as the scripts' output and quoted in the README.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

Op = Callable[[], object]


@dataclass
class Result:
    operation: str
    medians: dict[str, float] = field(default_factory=dict)  # seconds per call
    # (p75 - p25) / median of each implementation's rounds: how noisy the machine was.
    spreads: dict[str, float] = field(default_factory=dict)


def measure(op: Op, number: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of ``op``; ``clock=time.thread_time`` counts this thread's CPU only."""
    start = clock()
    for _ in range(number):
        op()
    return (clock() - start) / number


def compare(operation: str, impls: Mapping[str, Op], *, number: int = 200, rounds: int = 7,
            setup: Callable[[str], object] | None = None) -> Result:
    """Time every implementation of ``operation``; ``setup(name)`` runs before each timed round."""
    samples: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    for name in names:  # warm-up: connections, imports, caches
        if setup:
            setup(name)
        measure(impls[name], max(1, number // 10))
    for round_no in range(rounds):
        order = names if round_no % 2 == 0 else list(reversed(names))
        for name in order:
            if setup:
                setup(name)
            samples[name].append(measure(impls[name], number))
    return Result(operation, {name: statistics.median(s) for name, s in samples.items()},
                  {name: _spread(s) for name, s in samples.items()})


def _spread(samples: list[float]) -> float:
    if len(samples) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def environment() -> str:
    import django

    return (f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"{platform.system()} {platform.machine()}, {time.strftime('%Y-%m-%d')}")


def table(title: str, results: list[Result], *, ours: str = "ours", versus: list[str] | None = None) -> str:
    """Markdown table: microseconds per call, then ours/other ratios (below 1 = ours faster)."""
    columns = list(results[0].medians) if results else []
    versus = versus if versus is not None else [c for c in columns if c != ours]
    head = ["operation", *[f"{c} (µs)" for c in columns], *[f"{ours}/{v}" for v in versus]]
    lines = [f"### {title}", "", f"_{environment()}_", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for result in results:
        cells = [result.operation, *[f"{result.medians[c] * 1e6:.1f}" for c in columns]]
        cells += [f"{result.medians[ours] / result.medians[v]:.3f}" for v in versus]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def emit(text: str, path: str | None) -> None:
    sys.stdout.write(text)
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def floor_table(title: str, results: list[Result], *, floor: str = "floor", note: str = "") -> str:
    """Markdown table: µs per call of every column, then each column ÷ the floor, and the
    noise (the widest interquartile spread of the row's rounds, relative to the median)."""
    columns = list(dict.fromkeys(c for result in results for c in result.medians))
    others = [c for c in columns if c != floor]
    head = ["operation", *[f"{c} (µs)" for c in columns], *[f"{c} ÷ {floor}" for c in others], "noise"]
    lines = [f"### {title}", "", f"_{environment()}_", ""]
    if note:
        lines += [note, ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        medians = result.medians
        cells = [result.operation, *[f"{medians[c] * 1e6:.1f}" if c in medians else "-" for c in columns]]
        cells += [f"{medians[c] / medians[floor]:.2f}" if c in medians else "-" for c in others]
        cells.append(f"±{max(result.spreads.values(), default=0.0) * 50:.0f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pin(core: int) -> str:
    """Pin this process to one core when the machine has more than one; says what it did."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return "not pinned"
    os.sched_setaffinity(0, {core})
    return f"client pinned to core {core}"


def pin_server(pid: int, core: int) -> str:
    """Pin a server process and its threads (and future children) to one core, with taskset."""
    import shutil

    if shutil.which("taskset") is None:
        return "server not pinned (no taskset)"
    subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], capture_output=True, check=False)
    return f"server pinned to core {core}"


def load_note(started: tuple[float, float, float]) -> str:
    """The machine's load average at the start and end of the run, for the results file."""
    end = os.getloadavg()
    return (f"Load average (1/5/15 min) at start {started[0]:.2f}/{started[1]:.2f}/{started[2]:.2f}, "
            f"at end {end[0]:.2f}/{end[1]:.2f}/{end[2]:.2f} on {os.cpu_count()} cores. ")


def export_tree(into: Path, package: str) -> None:
    """This tree's ``django_altcache`` as package ``package`` under ``into`` (put it on
    ``sys.path``): the same code, as other code objects. Two contestants that are instances of
    different classes (a guarded variant and its plain class) must not share code: CPython
    specializes each attribute access for one type, and alternating between two types keeps
    undoing it, which slows both and moves the difference from round to round."""
    root = Path(__file__).resolve().parent.parent
    for source in (root / "django_altcache").rglob("*"):
        if not source.is_file() or "__pycache__" in source.parts:
            continue
        write_renamed(into / package / source.relative_to(root / "django_altcache"), source.read_bytes(), package)


def write_renamed(target: Path, text: bytes, package: str) -> None:
    """One file of a copy of ``django_altcache`` named ``package``: its absolute imports rewritten."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".py":
        text = re.sub(rb"\bdjango_altcache\b", package.encode(), text)
    target.write_bytes(text)


def instructions(code: str, *, timeout: float = 900) -> int:
    """Instructions a ``python -c code`` child executes, counted by valgrind's callgrind. The
    string hash seed is fixed: a random one moves dict probing, and so the count, from run to
    run by a thousand instructions per call."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                           code], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if found is None or proc.returncode != 0:
        raise RuntimeError(f"the counted child failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))
