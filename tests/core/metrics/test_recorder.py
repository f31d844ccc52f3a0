"""The recorder the pipeline feeds: exact counts under threads, snapshots, settings."""

from __future__ import annotations

import os
import sys

import pytest

from django_altcache.metrics import DEFAULT_BUCKETS, MetricsSettings, parse_metrics, recorder_for
from django_altcache.metrics.settings import redact
from django_altcache.metrics.snapshot import quantile

from .helpers import in_threads

NO_EXPORT = MetricsSettings()


def test_exact_counts_from_four_threads(alias: str) -> None:
    recorder = recorder_for(alias, "locmem", MetricsSettings(latency=True))
    per_thread = 20_000

    def work(index: int) -> None:
        for i in range(per_thread):
            hit = i % 4 != 0  # 3 hits, then a miss
            recorder.record("get" if i % 2 else "aget", 0.0002, int(hit), int(not hit), None, False)
            if i % 10 == 0:
                recorder.record("get_many", -1.0, 3, 2, None, False)
            if i % 100 == 0:
                recorder.record("set", 0.002, 0, 0, ConnectionError, True)

    in_threads(4, work)
    snap = recorder.snapshot()
    ops = {(s.op, s.api): s for s in snap.ops}
    gets = ops[("get", "sync")].calls + ops[("get", "async")].calls
    assert gets == 4 * per_thread
    assert ops[("get", "sync")].calls == ops[("get", "async")].calls == 2 * per_thread
    assert ops[("get", "sync")].hits + ops[("get", "async")].hits == 4 * per_thread * 3 // 4
    assert ops[("get", "sync")].misses + ops[("get", "async")].misses == 4 * per_thread // 4
    assert ops[("get_many", "sync")].calls == 4 * per_thread // 10
    assert (ops[("get_many", "sync")].hits, ops[("get_many", "sync")].misses) == (3 * 8000, 2 * 8000)
    assert ops[("set", "sync")].errors == ops[("set", "sync")].fallbacks == 4 * per_thread // 100
    assert ops[("set", "sync")].errors_by_class == {"ConnectionError": 800}
    # Only timed calls land in the histogram: get_many passed a negative duration.
    assert ops[("get_many", "sync")].timed == 0
    assert ops[("get", "sync")].timed == ops[("get", "sync")].calls
    assert snap.calls == gets + 8000 + 800
    assert snap.hits == 60_000 + 24_000 and snap.misses == 20_000 + 16_000
    assert snap.hit_rate == pytest.approx(84_000 / 120_000)


def test_threads_that_end_leave_their_counts_and_no_shard_behind(alias: str) -> None:
    """A thread per request (runserver): each thread's shard is folded into the retired totals."""
    import threading

    from django_altcache.metrics import recorder as recorder_module

    recorder = recorder_for(alias, "locmem", NO_EXPORT)
    rounds = 3 * recorder_module._FOLD_AT
    for index in range(rounds):
        thread = threading.Thread(target=lambda: [recorder.record("get", -1.0, 1, 1, None, False),
                                                  recorder.record("set", -1.0, 0, 0, OSError, True)])
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert len(recorder._shards) <= recorder_module._FOLD_AT  # folded, not kept per thread
    ops = {(s.op, s.api): s for s in recorder.snapshot().ops}
    assert (ops[("get", "sync")].calls, ops[("get", "sync")].hits, ops[("get", "sync")].misses) == (rounds,) * 3
    assert ops[("set", "sync")].errors_by_class == {"OSError": rounds} and ops[("set", "sync")].fallbacks == rounds


def test_snapshots_taken_while_threads_count_never_go_back_and_end_exact(alias: str) -> None:
    import threading

    recorder = recorder_for(alias, "locmem", NO_EXPORT)
    per_thread, stop = 30_000, threading.Event()
    seen: list[tuple[int, int]] = []

    def watch() -> None:
        while not stop.is_set() and len(seen) < 100_000:
            snap = recorder.snapshot()
            seen.append((snap.calls, snap.hits))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        in_threads(3, lambda index: [recorder.record("get", -1.0, 1, 0, None, False) for _ in range(per_thread)])
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(seen, seen[1:]))  # monotonic
    assert all(hits <= calls for calls, hits in seen)  # calls are added first
    final = recorder.snapshot()
    assert (final.calls, final.hits) == (3 * per_thread, 3 * per_thread)


def test_latency_buckets_follow_prometheus_le(alias: str) -> None:
    recorder = recorder_for(alias, "redis", MetricsSettings(latency=True, buckets=(0.001, 0.01)))
    for seconds in (0.0005, 0.001, 0.002, 0.01, 5.0):
        recorder.record("get", seconds, 1, 0, None, False)
    (stats,) = recorder.snapshot().used()
    assert stats.buckets == (2, 2, 1)  # <=1ms (le), <=10ms, +Inf
    assert stats.seconds == pytest.approx(5.0135)


def test_quantile_interpolates_like_histogram_quantile() -> None:
    bounds = (0.001, 0.01, 0.1)
    assert quantile(0.5, bounds, [0, 10, 0, 0]) == pytest.approx(0.0055)
    assert quantile(0.99, bounds, [99, 0, 1, 0]) == pytest.approx(0.001)
    assert quantile(0.5, bounds, [0, 0, 0, 4]) == 0.1  # past the last bound: the last bound
    assert quantile(0.5, bounds, [0, 0, 0, 0]) is None


def test_async_twins_and_unknown_operations(alias: str) -> None:
    recorder = recorder_for(alias, "redis", NO_EXPORT)
    recorder.record("aadd", -1.0, 0, 0, None, False)
    recorder.record("add", -1.0, 0, 0, None, False)
    recorder.record("ttl", -1.0, 0, 0, None, False)  # a backend extra
    used = {(s.op, s.api): s.calls for s in recorder.snapshot().used()}
    assert used == {("add", "async"): 1, ("add", "sync"): 1, ("ttl", "sync"): 1}


def test_errors_are_named_by_module_unless_builtin(alias: str) -> None:
    class Boom(Exception):
        pass

    recorder = recorder_for(alias, "redis", NO_EXPORT)
    recorder.record("get", -1.0, 0, 1, Boom, True)
    recorder.record("get", -1.0, 0, 1, TimeoutError, True)
    snap = recorder.snapshot()
    assert snap.errors_by_class() == {f"{__name__}.{Boom.__qualname__}": 1, "TimeoutError": 1}
    assert snap.fallbacks == 2 and snap.errors == 2


def test_breaker_state_and_opens(alias: str) -> None:
    recorder = recorder_for(alias, "redis", NO_EXPORT)
    recorder.breaker("read", "open")
    recorder.breaker("read", "open")  # a failed probe re-opens: not a new opening
    recorder.breaker("read", "closed")
    recorder.breaker("write", "open")
    breakers = recorder.snapshot().breakers
    assert (breakers["read"].state, breakers["read"].opens) == ("closed", 1)
    assert (breakers["write"].state, breakers["write"].opens) == ("open", 1)


def test_one_recorder_per_alias_until_the_configuration_changes(alias: str) -> None:
    first = recorder_for(alias, "locmem", NO_EXPORT)
    assert recorder_for(alias, "locmem", MetricsSettings()) is first
    first.record("get", -1.0, 1, 0, None, False)
    replaced = recorder_for(alias, "locmem", MetricsSettings(latency=True))
    assert replaced is not first and replaced.snapshot().calls == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # forking a threaded parent is the case
def test_a_forked_child_counts_from_zero(alias: str) -> None:
    recorder = recorder_for(alias, "locmem", NO_EXPORT)
    recorder.record("get", -1.0, 1, 0, None, False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its own count and leave without running pytest's teardown
        try:
            recorder.record("get", -1.0, 1, 0, None, False)
            os.write(write, str(recorder.snapshot().calls).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 100) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert recorder.snapshot().calls == 1


def test_snapshot_to_dict_is_json_ready(alias: str) -> None:
    import json

    recorder = recorder_for(alias, "locmem", MetricsSettings(latency=True))
    recorder.record("get", 0.00003, 0, 1, None, False)
    data = json.loads(json.dumps(recorder.snapshot().to_dict()))
    assert data["calls"] == 1 and data["misses"] == 1 and data["hit_rate"] == 0.0
    assert data["ops"] == [{"op": "get", "api": "sync", "calls": 1, "hits": 0, "misses": 1, "errors": 0,
                            "fallbacks": 0, "seconds": 0.00003, "errors_by_class": {}}]
    assert 0.000025 < data["p50"] <= 0.00005


# -- the option's converter -------------------------------------------------------------------
def test_parse_metrics_values() -> None:
    assert parse_metrics(None) is None and parse_metrics(False) is None
    on = parse_metrics(True)
    assert on is not None and on.latency is False and on.prometheus is True  # installed in tests
    assert on.buckets == DEFAULT_BUCKETS and on.otel is False and on.trace_keys == "raw"
    full = parse_metrics({"latency": True, "buckets": [0.001, 1], "prometheus": False, "otel": True,
                          "trace_keys": "hash", "django_prometheus_names": False})
    assert full == MetricsSettings(latency=True, buckets=(0.001, 1.0), prometheus=False, otel=True,
                                   trace_keys="hash", django_prometheus_names=False)


@pytest.mark.parametrize("raw, message", [
    ("yes", "expected True, False or a dict"),
    ({"latncy": True}, "unknown key(s) 'latncy'"),
    ({"latency": 1}, "'latency': expected True or False, got 1"),
    ({"buckets": []}, "'buckets': expected a non-empty list"),
    ({"buckets": [0.1, 0.01]}, "strictly increasing"),
    ({"buckets": [0, 1]}, "positive and finite"),
    ({"trace_keys": "secret"}, "'trace_keys': expected one of 'raw', 'hash', 'omit'"),
])
def test_parse_metrics_errors(raw: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        parse_metrics(raw)
    assert message in str(info.value)
    assert "METRICS" not in str(info.value)  # the caller names the option


def test_a_missing_exporter_library_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(ValueError, match=r"pip install \"django-altcache\[prometheus\]\""):
        parse_metrics({"prometheus": True})
    with pytest.raises(ValueError, match=r"django-altcache\[otel\]"):
        parse_metrics({"otel": True})
    assert parse_metrics(True).prometheus is False  # type: ignore[union-attr] - True: only when installed


def test_redaction() -> None:
    assert redact("raw", "session:abc") == "session:abc"
    assert redact("omit", "session:abc") is None
    hashed = redact("hash", "session:abc")
    assert hashed == redact("hash", "session:abc") and hashed.startswith("sha256:") and "abc" not in hashed
    assert redact(lambda key: key.split(":")[0], "session:abc") == "session"
