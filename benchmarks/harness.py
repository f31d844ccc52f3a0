"""Compare implementations of the same operations, interleaved, in one run.

Each operation has one callable per implementation ("ours", "django", a raw-client
floor...). Rounds alternate the implementations so that drift on the machine hits
them alike; each round times ``number`` calls; the table shows per-call medians and
the ratio of each implementation to a reference column. Nothing here asserts a
speed: the figures are committed as the scripts' output and quoted in the README.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Op = Callable[[], object]


@dataclass
class Result:
    operation: str
    medians: dict[str, float] = field(default_factory=dict)  # seconds per call


def measure(op: Op, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        op()
    return (time.perf_counter() - start) / number


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
    return Result(operation, {name: statistics.median(s) for name, s in samples.items()})


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
