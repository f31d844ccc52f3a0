"""OpenTelemetry spans: one per operation, with the attributes Sentry's and OTel's cache views read."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_altcache.metrics import MetricsSettings, recorder_for
from django_altcache.metrics.otel import TracingRecorder, server_of

from .tracing import spans_fixture  # noqa: F401 - the spans fixture


def traced(alias: str, backend: str = "redis", **options: object) -> TracingRecorder:
    recorder = recorder_for(alias, backend, MetricsSettings(otel=True, **options))  # type: ignore[arg-type]
    assert isinstance(recorder, TracingRecorder) and recorder.tracing
    return recorder


def call(recorder: TracingRecorder, op: str, args: tuple, result: object = None, hits: int = 0,
         misses: int = 0, error: type[BaseException] | None = None, fallback: bool = False, **kwargs: object) -> None:
    """What the pipeline does around one operation."""
    with recorder.span(op, args, kwargs) as span:
        span.set_result(result)
        recorder.record(op, -1.0, hits, misses, error, fallback)


def test_a_get_hit_carries_sentrys_and_otels_attributes(alias: str, spans: InMemorySpanExporter) -> None:
    with override_settings(CACHES={alias: {"BACKEND": "x", "LOCATION": "redis://:secret@10.1.2.3:6380/0"}}):
        recorder = traced(alias)
    call(recorder, "get", ("user:1",), result="x" * 42, hits=1)
    (span,) = spans.get_finished_spans()
    assert span.name == f"get {alias}" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes == {
        "django_altcache.alias": alias, "django_altcache.backend": "redis", "db.system.name": "redis",
        "db.operation.name": "get", "sentry.op": "cache.get", "cache.key": ("user:1",), "cache.hit": True,
        "cache.item_size": 42, "server.address": "10.1.2.3", "server.port": 6380,
        "network.peer.address": "10.1.2.3", "network.peer.port": 6380,
    }
    assert "secret" not in repr(attributes)
    assert span.status.status_code is StatusCode.UNSET


def test_misses_writes_many_keys_and_async(alias: str, spans: InMemorySpanExporter) -> None:
    recorder = traced(alias, backend="locmem")
    call(recorder, "aget", ("k",), result=None, misses=1)
    call(recorder, "set", ("k", b"12345"))
    call(recorder, "set_many", ({"a": "xy", "b": "xyz"},))
    call(recorder, "get_many", (["a", "b", "c"],), result={"a": "xy", "b": "xyz"}, hits=2, misses=1)
    call(recorder, "delete", (), key="k")
    call(recorder, "clear", ())
    aget, put, put_many, get_many, delete, clear = spans.get_finished_spans()
    assert aget.kind is SpanKind.INTERNAL  # in-process backend
    assert aget.attributes["cache.hit"] is False and aget.attributes["django_altcache.async"] is True
    assert "cache.item_size" not in aget.attributes
    assert put.attributes["sentry.op"] == "cache.put" and put.attributes["cache.item_size"] == 5
    assert put_many.attributes["cache.key"] == ("a", "b") and put_many.attributes["cache.item_size"] == 5
    assert get_many.attributes["cache.hit"] is True and get_many.attributes["cache.item_size"] == 5
    assert (get_many.attributes["django_altcache.hits"], get_many.attributes["django_altcache.misses"]) == (2, 1)
    assert delete.attributes["sentry.op"] == "cache.remove" and delete.attributes["cache.key"] == ("k",)
    assert clear.attributes["sentry.op"] == "cache.flush" and "cache.key" not in clear.attributes
    assert recorder.snapshot().calls == 6  # the counters count as well


@pytest.mark.parametrize("mode, shown", [("hash", None), ("omit", ()), (lambda key: key[:4] + "…", ("sess…",))])
def test_keys_can_be_redacted(alias: str, spans: InMemorySpanExporter, mode: object, shown: object) -> None:
    recorder = traced(alias, trace_keys=mode)
    call(recorder, "get", ("session:abcdef",), misses=1)
    (span,) = spans.get_finished_spans()
    keys = span.attributes.get("cache.key", ())
    if mode == "hash":
        assert len(keys) == 1 and keys[0].startswith("sha256:") and "abcdef" not in keys[0]
    else:
        assert keys == shown


def test_fail_soft_and_raised_errors(alias: str, spans: InMemorySpanExporter) -> None:
    recorder = traced(alias)
    call(recorder, "get", ("k",), misses=1, error=ConnectionError, fallback=True)
    with pytest.raises(TimeoutError):
        with recorder.span("incr", ("n",), {}):
            recorder.record("incr", -1.0, 0, 0, TimeoutError, False)
            raise TimeoutError("read timed out")
    soft, raised = spans.get_finished_spans()
    assert soft.status.status_code is StatusCode.ERROR
    assert soft.attributes["error.type"] == "ConnectionError" and soft.attributes["django_altcache.fallback"] is True
    assert raised.status.status_code is StatusCode.ERROR and raised.attributes["error.type"] == "TimeoutError"
    assert raised.events[0].name == "exception"


def test_the_span_is_current_so_library_spans_nest(alias: str, spans: InMemorySpanExporter) -> None:
    recorder = traced(alias)
    tracer = trace.get_tracer("a-client-library")
    with tracer.start_as_current_span("request"):
        with recorder.span("get", ("k",), {}):
            with tracer.start_as_current_span("GET (redis-py)"):
                pass
            recorder.record("get", -1.0, 1, 0, None, False)
    inner, cache_span, request = spans.get_finished_spans()
    assert inner.parent.span_id == cache_span.context.span_id
    assert cache_span.parent.span_id == request.context.span_id


def test_nested_operations_annotate_their_own_span(alias: str, spans: InMemorySpanExporter) -> None:
    """get_or_set calls get then add: each record lands on its own span."""
    recorder = traced(alias)
    with recorder.span("get_or_set", ("k",), {}) as outer:
        call(recorder, "get", ("k",), misses=1)
        call(recorder, "add", ("k", "v"))
        outer.set_result("v")
        recorder.record("get_or_set", -1.0, 0, 1, None, False)
    get, add, get_or_set = spans.get_finished_spans()
    assert get.attributes["cache.hit"] is False and "cache.hit" not in add.attributes
    assert get_or_set.attributes["cache.hit"] is False and get_or_set.attributes["cache.item_size"] == 1
    assert get.parent.span_id == get_or_set.context.span_id


def test_without_a_tracer_provider_spans_cost_no_attributes() -> None:
    """opentelemetry-api alone (no SDK provider): non-recording spans, nothing fails."""
    code = (
        "from django.conf import settings; settings.configure();"
        "from django_altcache.metrics import MetricsSettings, recorder_for;"
        "r = recorder_for('x', 'redis', MetricsSettings(otel=True));"
        "s = r.span('get', ('k',), {}); s.__enter__(); s.set_result('v');"
        "r.record('get', -1.0, 1, 0, None, False); s.__exit__(None, None, None);"
        "assert s._recording is False and r.snapshot().calls == 1; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("backend, location, expected", [
    ("redis", "redis://u:p@cache.local:6390/1", ("cache.local", 6390)),
    ("redis", ["rediss://leader", "redis://replica:7000"], ("leader", 6379)),
    ("redis", "unix:///run/redis.sock", ("/run/redis.sock", None)),
    ("memcached", "10.0.0.1:11211;10.0.0.2:11211", ("10.0.0.1", 11211)),
    ("memcached", "unix:/tmp/memcached.sock", ("/tmp/memcached.sock", None)),
    ("db", "my_cache_table", (None, None)),
])
def test_server_address_from_location(backend: str, location: object, expected: tuple) -> None:
    assert server_of(backend, location) == expected
