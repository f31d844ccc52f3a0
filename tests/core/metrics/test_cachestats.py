"""manage.py cachestats: this process's counters and the server's own numbers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from django_altcache.metrics import MetricsSettings, recorder_for
from django_altcache.metrics.recorder import _recorders, _registry_lock

from .helpers import in_threads


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("cachestats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path, alias: str) -> str:
    config = {
        alias: {"BACKEND": "django_altcache.backends.locmem.LocMemCache", "LOCATION": alias},
        "files": {"BACKEND": "django_altcache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)},
        "django": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    # Recorders are per process and per alias: another test's site (tests/project's has a
    # "files" cache with METRICS on) may have left one for these names.
    forget("files", "django")
    with override_settings(CACHES=config):
        yield alias
        for name in config:
            caches[name].close()
    forget("files", "django")


def forget(*aliases: str) -> None:
    with _registry_lock:
        for name in aliases:
            _recorders.pop(name, None)


def test_exact_counts_from_four_threads(site: str) -> None:
    recorder = recorder_for(site, "locmem", MetricsSettings(latency=True))

    def work(index: int) -> None:
        for i in range(2500):
            recorder.record("get", 0.0001, int(i % 5 != 0), int(i % 5 == 0), None, False)

    in_threads(4, work)
    recorder.record("set", 0.01, 0, 0, ConnectionError, True)
    recorder.breaker("write", "open")
    data = json.loads(run(site, "--json"))
    (entry,) = data["caches"]
    metrics = entry["metrics"]
    assert (metrics["calls"], metrics["hits"], metrics["misses"]) == (10_001, 8_000, 2_000)
    assert metrics["hit_rate"] == 0.8 and metrics["errors_by_class"] == {"ConnectionError": 1}
    assert metrics["breakers"]["write"]["state"] == "open"
    assert entry["server"] == {"entries": 0, "max_entries": 300} and entry["server_error"] is None

    text = run(site)
    assert "10001 calls, hit rate 80.0% (8000 hits, 2000 misses), 1 errors, 1 fail-soft answers" in text
    assert "circuit breaker: writes open (opened 1x)" in text
    assert "operations: get 10000, set 1" in text and "server: entries 0, max_entries 300" in text


def test_every_alias_by_default_with_the_servers_numbers(site: str) -> None:
    caches["files"].set("a", "x" * 1000)
    data = json.loads(run("--json"))
    by_alias = {entry["alias"]: entry for entry in data["caches"]}
    assert set(by_alias) == {site, "files", "django"}
    assert by_alias["files"]["metrics_note"] == "OPTIONS['METRICS'] is off"
    assert by_alias["files"]["server"]["entries"] == 1 and by_alias["files"]["server"]["bytes"] > 0
    assert by_alias["django"]["server_error"] == "not available for this backend"
    assert "server:" not in run("--no-server")


def test_watch_prints_rates_between_prints(site: str) -> None:
    recorder = recorder_for(site, "locmem", MetricsSettings())
    recorder.record("get", -1.0, 1, 0, None, False)
    lines = run(site, "--json", "--watch", "0.05", "--count", "2").strip().splitlines()
    first, second = (json.loads(line)["caches"][0] for line in lines)
    assert "rates" not in first and second["rates"]["calls_per_second"] == 0.0


def test_unknown_alias_and_bad_watch(site: str) -> None:
    with pytest.raises(CommandError, match="unknown cache alias"):
        run("nope")
    with pytest.raises(CommandError, match="--watch"):
        run("--watch", "0")


def test_server_stats_of_the_serverless_backends(tmp_path: Path) -> None:
    locmem = LocMemCache("stats-locmem", {"OPTIONS": {"MAX_ENTRIES": 50}})
    locmem.set_many({"a": 1, "b": 2})
    assert locmem.server_stats() == {"entries": 2, "max_entries": 50}
    files = FileBasedCache(str(tmp_path / "c"), {})
    assert files.server_stats() == {"directory": str(tmp_path / "c"), "entries": 0, "bytes": 0}
    files.set("k", "v")
    assert files.server_stats()["entries"] == 1
    assert DummyCache("", {}).server_stats() == {}
