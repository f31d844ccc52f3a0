"""Compare recorded outcomes with the failures docs/compat.md allows, and report.

An allowed failure is a backticked test id in docs/compat.md, optionally qualified
in brackets: `cache.tests.DBCacheTests.test_x[postgresql]`. Qualifiers are runs
(sqlite, postgresql, mysql, and valkey: the Redis classes against Valkey) and Django
versions (django5.2, django6.1); several
of one kind mean any of them, kinds combine with "and".
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings import DATABASES_RUNS

RUNS = tuple(db.name for db in DATABASES_RUNS)
FAILING = {"failed", "error", "unexpected_success"}
_ENTRY = re.compile(r"`(cache\.tests(?:_async)?\.[A-Za-z_]\w*\.[A-Za-z_]\w*)(?:\[([^\]`]*)\])?`")
_DJANGO = re.compile(r"django(\d+\.\d+)")
TRACEBACK_LINES = 12


class CompatError(ValueError):
    """docs/compat.md has an entry this module cannot read; the message names it."""


@dataclass(frozen=True)
class Allowed:
    test_id: str
    runs: frozenset[str] = frozenset()  # empty: every run
    djangos: frozenset[str] = frozenset()  # empty: every Django version

    def matches(self, run: str, django_version: str) -> bool:
        feature = ".".join(django_version.split(".")[:2])
        return (not self.runs or run in self.runs) and (not self.djangos or feature in self.djangos)


def parse_allowed(text: str, origin: str = "docs/compat.md") -> list[Allowed]:
    allowed = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for match in _ENTRY.finditer(line):
            runs, djangos = set(), set()
            for token in filter(None, (t.strip() for t in (match.group(2) or "").split(","))):
                if token in RUNS:
                    runs.add(token)
                elif _DJANGO.fullmatch(token):
                    djangos.add(token[len("django"):])
                else:
                    raise CompatError(
                        f"{origin}:{lineno}: unknown qualifier {token!r} in `{match.group(0)[1:-1]}`; "
                        f"use a database run ({', '.join(RUNS)}) or a Django version like django6.1")
            allowed.append(Allowed(match.group(1), frozenset(runs), frozenset(djangos)))
    return allowed


def class_of(test_id: str) -> str:
    """``setUpClass (cache.tests.X)`` (a class-level error) belongs to ``cache.tests.X``."""
    holder = re.fullmatch(r"\w+ \((.+)\)", test_id)
    if holder:
        return holder.group(1)
    return test_id.rsplit(".", 1)[0]


@dataclass
class Outcome:
    run: str
    test_id: str
    status: str
    detail: str
    duration: float


@dataclass
class Verdict:
    passed: int = 0
    failed: int = 0  # unexpected failures and errors only
    skipped: int = 0
    allowed_failures: int = 0
    unexpected: list[Outcome] = field(default_factory=list)
    allowed_passing: list[Outcome] = field(default_factory=list)
    per_class: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: Counter[tuple[str, str]] = field(default_factory=Counter)
    missing: dict[str, list[Outcome]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)  # failures outside any test (crash, no server)
    notes: list[str] = field(default_factory=list)  # said again at the end (a server skipped locally)

    def summary(self) -> dict[str, int]:
        return {"passed": self.passed, "failed": self.failed + len(self.problems),
                "skipped": self.skipped, "allowed_failures": self.allowed_failures}


def outcomes(run: str, records: dict[str, dict[str, Any]]) -> Iterable[Outcome]:
    for test_id, record in sorted(records.items()):
        yield Outcome(run, test_id, record["status"], record.get("detail", ""), record.get("duration", 0.0))


def judge(all_outcomes: Iterable[Outcome], allowed: list[Allowed], django_version: str,
          missing_backend: dict[str, str]) -> Verdict:
    """``missing_backend`` maps a test class to why its backend could not be imported."""
    verdict = Verdict()
    by_id: dict[str, list[Allowed]] = defaultdict(list)
    for entry in allowed:
        by_id[entry.test_id].append(entry)
    for outcome in all_outcomes:
        counts = verdict.per_class[(outcome.run, class_of(outcome.test_id))]
        verdict.seconds[(outcome.run, class_of(outcome.test_id))] += outcome.duration
        is_allowed = any(e.matches(outcome.run, django_version) for e in by_id.get(outcome.test_id, ()))
        if outcome.status in FAILING:
            if is_allowed:
                verdict.allowed_failures += 1
                counts["allowed"] += 1
            else:
                verdict.failed += 1
                counts["failed"] += 1
                if class_of(outcome.test_id) in missing_backend:
                    verdict.missing[class_of(outcome.test_id)].append(outcome)
                else:
                    verdict.unexpected.append(outcome)
        elif outcome.status == "skipped":
            verdict.skipped += 1
            counts["skipped"] += 1
        else:
            verdict.passed += 1
            counts["passed"] += 1
            if is_allowed:
                verdict.allowed_passing.append(outcome)
    return verdict


def _head(detail: str) -> str:
    lines = detail.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:  # keep the start (where) and the end (what)
        lines = lines[:4] + ["        ..."] + lines[-(TRACEBACK_LINES - 5):]
    return "\n".join("      " + line for line in lines)


def report(verdict: Verdict, missing_backend: dict[str, str], stale: list[str]) -> list[str]:
    out = ["", f"{'run':<11} {'test class':<45} {'pass':>5} {'fail':>5} {'allow':>5} {'skip':>5} {'secs':>5}"]
    for (run, cls), c in sorted(verdict.per_class.items(), key=lambda item: (item[0][1], item[0][0])):
        mark = "  <-- FAIL" if c["failed"] else ""
        out.append(f"{run:<11} {cls:<45} {c['passed']:>5} {c['failed']:>5} {c['allowed']:>5} {c['skipped']:>5} "
                   f"{verdict.seconds[(run, cls)]:>5.0f}{mark}")
    if verdict.missing:
        out.append("")
    for cls, failures in sorted(verdict.missing.items()):
        runs = sorted({o.run for o in failures})
        out.append(f"MISSING BACKEND: {cls} [{', '.join(runs)}]: {len(failures)} failed because "
                   f"{missing_backend[cls]}")
    if verdict.unexpected:
        out.append(f"\nunexpected failures ({len(verdict.unexpected)}):")
        for outcome in verdict.unexpected:
            out.append(f"  FAIL [{outcome.run}] {outcome.test_id} ({outcome.status})")
            out.append(_head(outcome.detail))
    for outcome in verdict.allowed_passing:
        out.append(f"notice: [{outcome.run}] {outcome.test_id} is listed in docs/compat.md but passes; "
                   "remove it from the list if the difference is gone")
    for entry in stale:
        out.append(f"notice: docs/compat.md lists {entry}, which this Django's suite does not have")
    out.extend(f"SKIP: {note}" for note in verdict.notes)
    for problem in verdict.problems:
        out.append(f"FAIL: {problem}")
    out.append(f"allowed failures (docs/compat.md): {verdict.allowed_failures}")
    s = verdict.summary()
    out.append(f"conformance: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped")
    return out


def stale_entries(allowed: list[Allowed], known_ids: set[str], django_version: str) -> list[str]:
    """Entries naming a test this Django version does not have (call after a full run)."""
    feature = ".".join(django_version.split(".")[:2])
    return sorted({e.test_id for e in allowed
                   if e.test_id not in known_ids and (not e.djangos or feature in e.djangos)})


def load_allowed(path: Path) -> list[Allowed]:
    if not path.is_file():
        return []
    return parse_allowed(path.read_text(), str(path))
