"""Prometheus export: django-prometheus' names, ours, and multiprocess mode with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from django_altcache.metrics import MetricsSettings, recorder_for
from django_altcache.metrics import prometheus as prom

from .helpers import exposition_values, in_threads, value

ROOT = Path(__file__).resolve().parents[3]
EXPORTED = MetricsSettings(prometheus=True, latency=True, buckets=(0.001, 0.01))


def scrape() -> dict:
    return exposition_values(generate_latest(REGISTRY).decode())


def test_django_prometheus_counters_with_their_names_and_label(alias: str) -> None:
    before = scrape()
    recorder = recorder_for(alias, "memcached-test", EXPORTED)
    recorder.record("get", 0.0001, 1, 0, None, False)
    recorder.record("aget", 0.0001, 0, 1, None, False)
    recorder.record("get", 0.0001, 0, 1, ConnectionError, True)
    recorder.record("get_many", 0.0001, 5, 5, None, False)  # django-prometheus counts get only
    after = scrape()

    def delta(name: str) -> float:
        return (value(after, name, backend="memcached-test") or 0) - (value(before, name, backend="memcached-test") or 0)

    assert delta("django_cache_get_total") == 3
    assert delta("django_cache_get_hits_total") == 1
    assert delta("django_cache_get_misses_total") == 2
    assert delta("django_cache_get_fail_total") == 1


def test_our_metrics_per_alias_operation_and_api(alias: str) -> None:
    recorder = recorder_for(alias, "redis", EXPORTED)
    recorder.record("get", 0.0005, 1, 0, None, False)
    recorder.record("aget", 0.005, 0, 1, None, False)
    recorder.record("set", 0.05, 0, 0, TimeoutError, True)
    recorder.breaker("read", "open")
    samples = scrape()
    get = {"alias": alias, "backend": "redis", "op": "get", "api": "sync"}
    aget = {**get, "api": "async"}
    put = {**get, "op": "set"}
    assert value(samples, "django_altcache_operations_total", **get) == 1
    assert value(samples, "django_altcache_operations_total", **aget) == 1
    assert value(samples, "django_altcache_hits_total", **get) == 1
    assert value(samples, "django_altcache_misses_total", **aget) == 1
    assert value(samples, "django_altcache_hits_total", **put) is None  # writes have no hits
    assert value(samples, "django_altcache_errors_total", **put, error="TimeoutError") == 1
    assert value(samples, "django_altcache_fallbacks_total", **put) == 1
    assert value(samples, "django_altcache_operation_seconds_bucket", **get, le="0.001") == 1
    assert value(samples, "django_altcache_operation_seconds_bucket", **aget, le="0.001") == 0
    assert value(samples, "django_altcache_operation_seconds_bucket", **aget, le="0.01") == 1
    assert value(samples, "django_altcache_operation_seconds_bucket", **put, le="+Inf") == 1
    assert value(samples, "django_altcache_operation_seconds_count", **put) == 1
    assert value(samples, "django_altcache_operation_seconds_sum", **put) == pytest.approx(0.05)
    breaker = {"alias": alias, "backend": "redis", "side": "read"}
    assert value(samples, "django_altcache_breaker_open", **breaker) == 1
    assert value(samples, "django_altcache_breaker_opens_total", **breaker) == 1


def test_no_histogram_without_latency_and_nothing_when_not_exported(alias: str) -> None:
    recorder_for(alias, "redis", MetricsSettings(prometheus=True)).record("get", -1.0, 1, 0, None, False)
    samples = scrape()
    labels = {"alias": alias, "backend": "redis", "op": "get", "api": "sync"}
    assert value(samples, "django_altcache_operations_total", **labels) == 1
    assert value(samples, "django_altcache_operation_seconds_count", **labels) is None
    hidden = alias + "-hidden"
    recorder_for(hidden, "redis", MetricsSettings(prometheus=False)).record("get", -1.0, 1, 0, None, False)
    try:
        assert value(scrape(), "django_altcache_operations_total", **{**labels, "alias": hidden}) is None
    finally:
        from django_altcache.metrics.recorder import _recorders

        _recorders.pop(hidden, None)


def test_exact_counts_from_four_threads_in_the_exposition(alias: str) -> None:
    recorder = recorder_for(alias, "locmem", EXPORTED)

    def work(index: int) -> None:
        for i in range(5000):
            recorder.record("get", 0.0001, int(i % 5 != 0), int(i % 5 == 0), None, False)

    in_threads(4, work)
    samples = scrape()
    labels = {"alias": alias, "backend": "locmem", "op": "get", "api": "sync"}
    assert value(samples, "django_altcache_operations_total", **labels) == 20_000
    assert value(samples, "django_altcache_hits_total", **labels) == 16_000
    assert value(samples, "django_altcache_misses_total", **labels) == 4_000
    assert value(samples, "django_altcache_operation_seconds_count", **labels) == 20_000


def test_the_view_serves_the_exposition(alias: str) -> None:
    from django.test import RequestFactory

    recorder_for(alias, "locmem", EXPORTED).record("get", -1.0, 1, 0, None, False)
    response = prom.metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    samples = exposition_values(response.content.decode())
    assert value(samples, "django_altcache_operations_total", alias=alias, backend="locmem",
                 op="get", api="sync") == 1


def test_a_clash_with_django_prometheus_is_a_clear_error() -> None:
    from prometheus_client import Counter

    registry = CollectorRegistry()
    Counter("django_cache_get_total", "Total get requests on cache", ["backend"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(prom.DjangoPrometheusCollector())


# -- multiprocess mode, with real processes ----------------------------------------------------
def _run_workers(tmp_path: Path, *argvs: list[str]) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.core.metrics.mp_worker", *argv], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for argv in argvs]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()


def _merged(tmp_path: Path) -> dict:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    return exposition_values(generate_latest(registry).decode())


def test_multiprocess_mode_adds_up_separate_processes(tmp_path: Path) -> None:
    _run_workers(tmp_path, ["mp", "4000"], ["mp", "8000"], ["mp", "12000"])
    assert len(list(tmp_path.glob("counter_*.db"))) == 3  # one file per process
    samples = _merged(tmp_path)
    labels = {"alias": "mp", "backend": "redis", "op": "get", "api": "sync"}
    assert value(samples, "django_altcache_operations_total", **labels) == 24_000
    assert value(samples, "django_altcache_hits_total", **labels) == 18_000
    assert value(samples, "django_altcache_misses_total", **labels) == 6_000
    assert value(samples, "django_altcache_operation_seconds_count", **labels) == 24_000
    assert value(samples, "django_altcache_operation_seconds_bucket", **labels, le="0.0005") == 24_000
    assert value(samples, "django_cache_get_total", backend="redis") == 24_000
    assert value(samples, "django_cache_get_hits_total", backend="redis") == 18_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_multiprocess_mode_with_forked_workers(tmp_path: Path) -> None:
    """gunicorn --preload: the parent builds the recorder and records, then forks workers."""
    _run_workers(tmp_path, ["pre", "4000", "--fork", "3"])
    samples = _merged(tmp_path)
    labels = {"alias": "pre", "backend": "redis", "op": "get", "api": "sync"}
    # 3 workers x 4000, plus the parent's own call, counted once (not inherited by the children).
    assert value(samples, "django_altcache_operations_total", **labels) == 12_001
    assert value(samples, "django_altcache_hits_total", **labels) == 9_001
