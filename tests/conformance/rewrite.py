"""The table that turns Django's cache tests into tests of our backends.

Each rule replaces one exact dotted reference (not followed by more identifier
characters, so ``...redis.RedisCache`` never touches ``...redis.RedisCacheClient``).
References to Django internals our backends reuse stay Django's; they are listed as
KEEP so an unknown reference in a newer Django is reported instead of silently kept.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DJANGO = "django.core.cache.backends"
OURS = "django_altcache.backends"


def _ours_has(module: str, attribute: str) -> Callable[[], bool]:
    """Rewrite only when our backend module has an equivalent to point at."""
    def check() -> bool:
        try:
            return hasattr(importlib.import_module(f"{OURS}.{module}"), attribute)
        except Exception:  # not built yet, or broken: the test then runs on Django's
            return False
    check.__doc__ = f"{OURS}.{module} defines {attribute}"
    return check


@dataclass(frozen=True)
class Rule:
    old: str
    new: str
    why: str
    when: Callable[[], bool] | None = None

    def applies(self) -> bool:
        return self.when is None or self.when()


RULES: tuple[Rule, ...] = (
    # BACKEND strings in override_settings, and the exact-BACKEND gating that enables
    # the Redis/Memcached test classes (configured_caches.get("...")).
    *(Rule(f"{DJANGO}.{path}", f"{OURS}.{path}", "BACKEND path / gating")
      for path in ("dummy.DummyCache", "locmem.LocMemCache", "filebased.FileBasedCache",
                   "db.DatabaseCache", "redis.RedisCache", "memcached.PyMemcacheCache",
                   "memcached.PyLibMCCache")),
    # cache/{failing_cache,liberal_backend,closeable_cache}.py subclass LocMemCache to test
    # hooks (validate_key, close, a failing set): they must subclass ours.
    Rule(f"from {DJANGO}.locmem import LocMemCache", f"from {OURS}.locmem import LocMemCache",
         "test helper backends subclass LocMemCache"),
    # RedisCacheTests check the client class and patch its get_client(); point them at
    # our client class when ours has one of that name, else the tests see Django's class
    # (and fail: the Redis section of docs/compat.md lists them).
    Rule(f"from {DJANGO}.redis import RedisCacheClient", f"from {OURS}.redis import RedisCacheClient",
         "client class import", _ours_has("redis", "RedisCacheClient")),
    Rule(f"{DJANGO}.redis.RedisCacheClient.get_client", f"{OURS}.redis.RedisCacheClient.get_client",
         "mock.patch target", _ours_has("redis", "RedisCacheClient")),
    # FileBasedCacheTests.test_touch freezes the clock the backend module reads.
    Rule(f"{DJANGO}.filebased.time", f"{OURS}.filebased.time",
         "mock.patch target (module clock)", _ours_has("filebased", "time")),
)

# Kept on purpose: our backends subclass Django's BaseCache, so its names, exceptions and
# the clock get_backend_timeout() reads (patched by FileBasedCacheTests.test_touch) are Django's.
KEEP: tuple[str, ...] = (
    f"{DJANGO}.base",
)

_REFERENCE = re.compile(re.escape(DJANGO) + r"(?:\.\w+)*")


@dataclass
class Report:
    counts: dict[Rule, int] = field(default_factory=dict)
    skipped: list[Rule] = field(default_factory=list)  # conditional rules not applied
    unknown: list[str] = field(default_factory=list)  # "file:line: reference"

    def lines(self) -> list[str]:
        out = ["rewrite table (Django reference -> ours, replacements made):"]
        for rule, count in self.counts.items():
            out.append(f"  {count:3d}  {rule.old} -> {rule.new}  ({rule.why})")
        for rule in self.skipped:
            doc = rule.when.__doc__ if rule.when else ""
            out.append(f"    -  {rule.old} kept: not true that {doc}  ({rule.why})")
        out.extend(f"  keep {prefix}.*  (our backends subclass Django's BaseCache)" for prefix in KEEP)
        return out


def active_rules(target: str) -> tuple[list[Rule], list[Rule]]:
    """(rules to apply, conditional rules whose condition is false) for ``--target``."""
    if target == "django":
        return [], []
    applied = [rule for rule in RULES if rule.applies()]
    return applied, [rule for rule in RULES if rule not in applied]


def rewrite_text(text: str, rules: list[Rule], counts: dict[Rule, int]) -> str:
    for rule in rules:
        text, n = re.subn(re.escape(rule.old) + r"(?!\w)", rule.new, text)
        counts[rule] = counts.get(rule, 0) + n
    return text


def _unknown_references(path: Path, text: str) -> list[str]:
    """Django references left that no rule or KEEP entry accounts for (a newer Django)."""
    known = {ref for rule in RULES for ref in _REFERENCE.findall(rule.old)}
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue  # comments do not run
        for ref in _REFERENCE.findall(line):
            if ref == DJANGO or ref in known or any(ref == k or ref.startswith(k + ".") for k in KEEP):
                continue
            found.append(f"{path.name}:{lineno}: {ref}")
    return found


def rewrite_app(cache_dir: Path, target: str) -> Report:
    """Rewrite every module of Django's ``tests/cache`` app in place."""
    rules, skipped = active_rules(target)
    report = Report(counts={rule: 0 for rule in rules}, skipped=skipped)
    for path in sorted(cache_dir.glob("*.py")):
        text = rewrite_text(path.read_text(), rules, report.counts)
        path.write_text(text)
        if target != "django":
            report.unknown.extend(_unknown_references(path, text))
    return report
