"""Unit tests of the conformance machinery (not run by runtests.py's groups; run with
``python -m pytest tests/conformance``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from . import fetch, groups, results, rewrite, settings

DJANGO_CACHE_REDIS = "django.core.cache.backends.redis"


def test_backend_rule_does_not_touch_longer_names() -> None:
    rule = next(r for r in rewrite.RULES if r.old == f"{DJANGO_CACHE_REDIS}.RedisCache")
    counts: dict[rewrite.Rule, int] = {}
    text = f'"{DJANGO_CACHE_REDIS}.RedisCache"\nmock.patch("{DJANGO_CACHE_REDIS}.RedisCacheClient.get_client")'
    out = rewrite.rewrite_text(text, [rule], counts)
    assert out.splitlines() == ['"django_altcache.backends.redis.RedisCache"',
                                f'mock.patch("{DJANGO_CACHE_REDIS}.RedisCacheClient.get_client")']
    assert counts[rule] == 1


def test_target_django_rewrites_nothing(tmp_path: Path) -> None:
    source = 'BACKEND = "django.core.cache.backends.locmem.LocMemCache"\n'
    (tmp_path / "tests.py").write_text(source)
    report = rewrite.rewrite_app(tmp_path, "django")
    assert (tmp_path / "tests.py").read_text() == source
    assert report.counts == {} and report.unknown == []


def test_unknown_reference_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tests.py").write_text(
        "from django.core.cache.backends.base import BaseCache\n"
        "# django.core.cache.backends.newthing.X in a comment\n"
        'x = "django.core.cache.backends.newthing.NewCache"\n')
    report = rewrite.rewrite_app(tmp_path, "ours")
    assert report.unknown == ["tests.py:3: django.core.cache.backends.newthing.NewCache"]


def _pristine_trees() -> list[Path]:
    candidates = [fetch.cache_root() / f"django-{fetch.installed_version()}-tests",
                  *Path("/tmp/djsrc").glob("django-*/tests")]
    return [p for p in candidates if (p / "cache" / "tests.py").is_file()]


@pytest.mark.parametrize("tree", _pristine_trees() or [None], ids=str)
def test_real_suite_rewrites_completely(tree: Path | None, tmp_path: Path) -> None:
    if tree is None:
        pytest.skip("no Django test tree on this machine (python -m tests.conformance fetches one)")
    app = tmp_path / "cache"
    app.mkdir()
    for module in (tree / "cache").glob("*.py"):
        (app / module.name).write_text(module.read_text())
    report = rewrite.rewrite_app(app, "ours")
    assert report.unknown == []
    text = (app / "tests.py").read_text()
    # The exact-BACKEND gating now enables the server classes for our settings.
    assert 'configured_caches.get("django_altcache.backends.redis.RedisCache")' in text
    assert "django_altcache.backends.memcached.PyLibMCCache" in text
    assert "from django.core.cache.backends.base import" in text
    assert "django.core.cache.backends.locmem" not in (app / "liberal_backend.py").read_text()
    found = groups.test_classes(app)
    assert {found["cache.tests.DBCacheTests"], found["cache.tests.RedisCacheTests"],
            found["cache.tests.PyLibMCCacheTests"], found["cache.tests.CacheMiddlewareTest"]} == {
        "db", "redis", "memcached", "core"}
    assert "cache.tests.BaseCacheTests" not in found  # a mixin, not a TestCase


def test_test_classes_follow_inheritance(tmp_path: Path) -> None:
    (tmp_path / "tests.py").write_text(textwrap.dedent("""
        class Mixin: pass
        class FooCacheTests(Mixin, TestCase): pass
        class DBCacheWithSomethingTests(FooCacheTests): pass
        class NotATest(Mixin): pass
        class RedisClusterTests(unittest.TestCase): pass
    """))
    assert groups.test_classes(tmp_path) == {
        "cache.tests.FooCacheTests": "core", "cache.tests.DBCacheWithSomethingTests": "db",
        "cache.tests.RedisClusterTests": "redis",
    }
    assert groups.parse_groups("project") == []
    with pytest.raises(ValueError, match="--groups: unknown group"):
        groups.parse_groups("core,redsi")


def test_allowed_entries_and_qualifiers() -> None:
    allowed = results.parse_allowed(
        "- `cache.tests.DBCacheTests.test_a[postgresql, mysql]`: why\n"
        "- `cache.tests.DBCacheTests.test_b[django6.1]` and `cache.tests_async.X.test_c`\n"
        "- placeholder `cache.tests.<Class>.<test_name>` is not an entry\n")
    assert [a.test_id for a in allowed] == ["cache.tests.DBCacheTests.test_a", "cache.tests.DBCacheTests.test_b",
                                            "cache.tests_async.X.test_c"]
    assert allowed[0].matches("mysql", "5.2.19") and not allowed[0].matches("sqlite", "5.2.19")
    assert allowed[1].matches("sqlite", "6.1.3") and not allowed[1].matches("sqlite", "5.2.19")
    with pytest.raises(results.CompatError, match="line|:2: unknown qualifier 'pg'"):
        results.parse_allowed("\n`cache.tests.A.test_x[pg]`")


def test_judge_separates_allowed_unexpected_and_stale() -> None:
    allowed = results.parse_allowed("`cache.tests.A.test_allowed[sqlite]` `cache.tests.A.test_fixed` "
                                    "`cache.tests.A.test_gone`")
    outcomes = [
        results.Outcome("sqlite", "cache.tests.A.test_allowed", "failed", "tb", 0),
        results.Outcome("postgresql", "cache.tests.A.test_allowed", "failed", "tb", 0),
        results.Outcome("sqlite", "cache.tests.A.test_fixed", "passed", "", 0),
        results.Outcome("sqlite", "setUpClass (cache.tests.B)", "error", "tb", 0),
        results.Outcome("sqlite", "cache.tests.A.test_skip", "skipped", "why", 0),
    ]
    verdict = results.judge(outcomes, allowed, "6.1.3", {})
    assert verdict.summary() == {"passed": 1, "failed": 2, "skipped": 1, "allowed_failures": 1}
    assert [o.test_id for o in verdict.allowed_passing] == ["cache.tests.A.test_fixed"]
    assert verdict.per_class[("sqlite", "cache.tests.B")]["failed"] == 1
    assert results.stale_entries(allowed, {o.test_id for o in outcomes}, "6.1.3") == ["cache.tests.A.test_gone"]
    assert results.report(verdict, {}, [])[-1] == "conformance: 1 passed, 2 failed, 1 skipped"


def test_settings_carry_only_servers_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALTCACHE_REDIS_URL", raising=False)
    monkeypatch.setenv("ALTCACHE_MEMCACHED_LOCATION", "127.0.0.1:11211")
    caches = settings.caches("django_altcache.backends")
    assert sorted(caches) == ["default", "pylibmc", "pymemcache"]
    assert caches["pylibmc"] == {"BACKEND": "django_altcache.backends.memcached.PyLibMCCache",
                                 "LOCATION": "127.0.0.1:11211"}
    source = settings.settings_source("sqlite", "django_altcache.backends", "t")
    namespace: dict[str, object] = {}
    exec(compile(source, "generated", "exec"), namespace)
    assert namespace["TEST_RUNNER"] == settings.RUNNER
    assert set(namespace["DATABASES"]) == {"default", "other"}  # type: ignore[arg-type]


def test_the_valkey_run_points_the_redis_classes_at_valkey(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALTCACHE_REDIS_URL", "redis://127.0.0.1:1")
    monkeypatch.setenv("ALTCACHE_VALKEY_URL", "valkey://127.0.0.1:2")
    monkeypatch.delenv("ALTCACHE_MEMCACHED_LOCATION", raising=False)
    assert settings.caches(rewrite.OURS)["redis"]["LOCATION"] == "redis://127.0.0.1:1"
    ours = settings.caches(rewrite.OURS, "valkey")["redis"]
    assert ours == {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": "valkey://127.0.0.1:2"}
    # --target django: Django's own backend takes only redis:// (same server).
    assert settings.caches(rewrite.DJANGO, "valkey")["redis"]["LOCATION"] == "redis://127.0.0.1:2"
    assert settings.databases("valkey", "t") == settings.databases("sqlite", "t")
    valkey_run = settings.RUNS_BY_NAME["valkey"]
    assert valkey_run.groups == ("redis",) and "valkey" in results.RUNS
    assert results.parse_allowed("`cache.tests.RedisCacheTests.test_x[valkey]`")[0].matches("valkey", "6.1.3")
