"""python -m tests.conformance --summary PATH [--groups core,db,redis,memcached] [options]

Runs Django's own tests/cache (from the sdist of the installed Django) against
django-altcache's backends and the servers named by the ALTCACHE_* variables, and
compares the outcome with the allowed failures in docs/compat.md. Exit status 1 on
any failure not listed there (or a run that could not complete).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import fetch, groups, jobs, results, rewrite, settings

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "docs" / "compat.md"
IN_CI = os.environ.get("CI", "").lower() == "true"
PREFIXES = {"ours": rewrite.OURS, "django": rewrite.DJANGO}
# The sqlite run is split so the two cores are busy; Redis and Memcached classes stay
# in one shard because their tests clear the one shared server.
SQLITE_SHARDS = (("redis", "memcached"), ("core",), ("db",))


def log(message: str) -> None:
    print(f"[conformance] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", type=Path, help="write {passed, failed, skipped, allowed_failures} here")
    parser.add_argument("--groups", help=f"comma-separated, from {', '.join(groups.GROUPS)} (default: all)")
    parser.add_argument("--django-dir", type=Path,
                        help="use this Django source tree instead of downloading the sdist")
    parser.add_argument("--target", choices=sorted(PREFIXES), default="ours",
                        help="'django' leaves the paths alone: Django's suite on Django's backends "
                             "(checks the settings and servers)")
    parser.add_argument("-k", dest="patterns", action="append", default=[], metavar="PATTERN",
                        help="only tests matching PATTERN (unittest -k; repeatable)")
    parser.add_argument("--jobs", type=int, default=4,
                        help="runtests.py processes at a time (default 4: the suite mostly sleeps, "
                             "about 10 s of CPU for 3 minutes of tests)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed per process (default 1200)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (printed)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the rewrite table and Django's test output")
    args = parser.parse_args(argv)
    try:
        args.groups = groups.parse_groups(args.groups)
    except ValueError as exc:
        parser.error(str(exc))
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def prepare(args: argparse.Namespace, version: str, work: Path) -> Path:
    """Copy the pristine tests into ``work``, rewrite them; return the tests directory."""
    source = fetch.django_tests(version, log, args.django_dir)
    tests_dir = work / "tests"
    shutil.copytree(source, tests_dir, ignore=shutil.ignore_patterns(".complete", "__pycache__"))
    report = rewrite.rewrite_app(tests_dir / "cache", args.target)
    if args.verbose:
        for line in report.lines():
            print(line)
    for unknown in report.unknown:
        log(f"WARNING: reference to Django's backends that no rewrite rule covers: {unknown}")
    shutil.copy(Path(__file__).with_name("recorder.py"), tests_dir / "altcache_recorder.py")
    return tests_dir


def missing_backends(test_classes: list[str], prefix: str) -> dict[str, str]:
    """Test class -> why its backend cannot be loaded (a backend not built yet)."""
    missing: dict[str, str] = {}
    for test_class in test_classes:
        module_name, class_name = f"{prefix}.{groups.backend_of(test_class)}".rsplit(".", 1)
        try:
            getattr(importlib.import_module(module_name), class_name)
        except Exception as exc:  # ImportError, AttributeError, or a bug at import time
            missing[test_class] = f"{module_name}.{class_name} cannot be loaded ({type(exc).__name__}: {exc})"
    return missing


def server_problems(selected: list[str]) -> list[str]:
    """Servers the selected groups need but the environment does not name."""
    wanted = [(s.env, s.group) for s in settings.SERVERS if s.group in selected]
    if "db" in selected:
        wanted += [("ALTCACHE_PG_PORT", "PostgreSQL (db)"), ("ALTCACHE_MYSQL_PORT", "MariaDB/MySQL (db)")]
    if "redis" in selected:
        wanted.append(("ALTCACHE_VALKEY_URL", "Valkey (redis, the valkey run)"))
    problems = []
    for var, what in wanted:
        if not os.environ.get(var):
            hint = os.environ.get(f"{var}_HINT", "run through ./runtests.py, which starts the servers")
            problems.append(f"{what}: {var} is unset, so its conformance tests do not run ({hint})")
    return problems


def plan(selected: list[str], classes: dict[str, str], prefix: str, tests_dir: Path,
         shards: int) -> list[jobs.Job]:
    planned = []
    tag = f"{os.getpid()}"
    for database in settings.DATABASES_RUNS:
        run_groups = [g for g in selected if g in database.groups]
        if not run_groups or not database.available():
            continue
        module = f"altcache_settings_{database.name}"
        (tests_dir / f"{module}.py").write_text(settings.settings_source(database.name, prefix, tag))
        parts = SQLITE_SHARDS if database.name == "sqlite" and shards > 1 else (tuple(run_groups),)
        shard_labels = [labels for labels in (
            [cls for cls, group in classes.items() if group in run_groups and group in part] for part in parts
        ) if labels]
        for index, labels in enumerate(shard_labels):
            name = database.name if len(shard_labels) == 1 else f"{database.name}-{index + 1}"
            planned.append(jobs.Job(name, database.name, labels, module))
    return planned


def write_summary(path: Path | None, summary: dict[str, int]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary) + "\n")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the children are stopped and the work dir removed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    version = fetch.installed_version()
    prefix = PREFIXES[args.target]
    failure = {"passed": 0, "failed": 1, "skipped": 0, "allowed_failures": 0}
    try:
        allowed = results.load_allowed(COMPAT) if args.target == "ours" else []
    except results.CompatError as exc:
        log(f"FAIL: {exc}")
        write_summary(args.summary, failure)
        return 1
    log(f"Django {version}, Python {sys.version.split()[0]}, groups {','.join(args.groups) or '(none)'}, "
        f"backends {prefix}")
    if not args.groups:
        log("no conformance group selected")
        write_summary(args.summary, {**failure, "failed": 0})
        return 0

    work = Path(tempfile.mkdtemp(prefix="altcache-conformance-"))
    try:
        try:
            tests_dir = prepare(args, version, work)
        except fetch.FetchError as exc:
            log(f"FAIL: cannot get Django {version}'s tests (--django-dir DIR uses a local source tree): {exc}")
            write_summary(args.summary, failure)
            return 1
        classes = groups.test_classes(tests_dir / "cache")
        selected_classes = [cls for cls, group in classes.items() if group in args.groups]
        missing = missing_backends(selected_classes, prefix)
        for reason in sorted(set(missing.values())):
            log(f"MISSING BACKEND: {reason}; its test classes will fail")
        problems = server_problems(args.groups)
        for problem in problems:
            log(("FAIL (CI=true): " if IN_CI else "SKIP: ") + problem)
        planned = plan(args.groups, classes, prefix, tests_dir, args.jobs)
        jobs.run_jobs(planned, tests_dir, parallel=args.jobs, timeout=args.timeout, verbose=args.verbose,
                      patterns=args.patterns, log=log)

        all_outcomes = [o for job in planned for o in results.outcomes(job.run, job.records)]
        verdict = results.judge(all_outcomes, allowed, version, missing)
        (verdict.problems if IN_CI else verdict.notes).extend(problems)
        for job in planned:
            if job.timed_out or not job.complete:
                why = "timed out" if job.timed_out else f"exited {job.returncode} before finishing"
                why += f" in {job.running}" if job.running else ""
                verdict.problems.append(
                    f"runtests.py for {job.name} {why}; its log ends:\n{jobs.log_tail(job, tests_dir)}")
        full_run = not args.patterns and list(args.groups) == list(groups.GROUPS) and all(j.complete for j in planned)
        stale = results.stale_entries(allowed, {o.test_id for o in all_outcomes}, version) if full_run else []
        for line in results.report(verdict, missing, stale):
            print(line, flush=True)
        log(f"took {time.monotonic() - started:.0f}s: "
            + ", ".join(f"{job.name} {job.seconds:.0f}s" for job in planned))
        write_summary(args.summary, verdict.summary())
        return 1 if verdict.summary()["failed"] else 0
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted; test processes stopped")
        sys.exit(130)
