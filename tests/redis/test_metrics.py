"""METRICS on RedisCache through the pipeline: exact counts, outages, spans (real servers)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings
from prometheus_client import REGISTRY, generate_latest

from django_altcache.metrics.recorder import _recorders
from tests.core.metrics.helpers import exposition_values, in_threads, value
from tests.core.metrics.tracing import spans_fixture  # noqa: F401 - the spans fixture


@pytest.fixture
def metered(redis_url: str, prefix: str) -> Iterator[str]:
    alias = f"redis-metrics-{prefix}"
    entry = {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": redis_url,
             "KEY_PREFIX": prefix, "OPTIONS": {"METRICS": {"latency": True}}}
    with override_settings(CACHES={alias: entry}):
        yield alias
    _recorders.pop(alias, None)


def test_gets_from_four_threads_are_counted_exactly(metered: str) -> None:
    caches[metered].set_many({f"hit:{i}": i for i in range(20)})
    per_thread = 500

    def work(index: int) -> None:
        cache = caches[metered]
        for i in range(per_thread):
            cache.get(f"miss:{i}" if i % 4 == 3 else f"hit:{i % 20}")
        cache.get_many([f"hit:{i}" for i in range(5)] + ["miss:a", "miss:b"])

    in_threads(4, work)
    samples = exposition_values(generate_latest(REGISTRY).decode())
    labels = {"alias": metered, "backend": "redis", "op": "get", "api": "sync"}
    assert value(samples, "django_altcache_operations_total", **labels) == 4 * per_thread
    assert value(samples, "django_altcache_hits_total", **labels) == 3 * per_thread
    assert value(samples, "django_altcache_misses_total", **labels) == per_thread
    many = {**labels, "op": "get_many"}
    assert (value(samples, "django_altcache_hits_total", **many),
            value(samples, "django_altcache_misses_total", **many)) == (20, 8)

    out = io.StringIO()
    call_command("cachestats", metered, "--json", stdout=out)
    entry = json.loads(out.getvalue())["caches"][0]
    assert (entry["metrics"]["hits"], entry["metrics"]["misses"]) == (3 * per_thread + 20, per_thread + 8)
    assert entry["server"]["keyspace_hits"] >= 3 * per_thread and entry["server_error"] is None


def test_an_outage_counts_errors_fail_soft_answers_and_the_breaker(own_redis: Any, prefix: str) -> None:
    alias = f"redis-outage-{prefix}"
    entry = {"BACKEND": "django_altcache.backends.redis.RedisCache", "LOCATION": own_redis.url,
             "OPTIONS": {"METRICS": True, "IGNORE_EXCEPTIONS": True, "socket_timeout": 0.5,
                         "socket_connect_timeout": 0.5, "CIRCUIT_BREAKER": {"failures": 2, "cooldown": 0.2}}}
    with override_settings(CACHES={alias: entry}):
        in_threads(3, lambda index: caches[alias].get("warm"))  # other threads' instances share the breaker
        cache = caches[alias]
        assert len(cache._guard.breakers[0].listeners) == 1  # not one per instance (a leak under ASGI)
        assert _recorders[alias].snapshot().breakers["reads"].state == "closed"  # known before any change
        cache.set("k", 1)
        own_redis.kill()
        for _ in range(10):
            assert cache.get("k", "fallback") == "fallback"
        recorder = _recorders[alias]
        snap = recorder.snapshot()
        ops = {(s.op, s.api): s for s in snap.used()}
        get = ops[("get", "sync")]
        assert get.calls == 10 + 3 and get.fallbacks == 10 and get.hits == 0
        assert sum(get.errors_by_class.values()) == 2  # the two that reached the dead server
        assert snap.breakers["reads"].state == "open" and snap.breakers["reads"].opens == 1  # once, not per instance
        own_redis.start()
        deadline = time.monotonic() + 10
        while cache.get("k", "fallback") == "fallback" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert recorder.snapshot().breakers["reads"].state == "closed"
    _recorders.pop(alias, None)


def test_a_span_per_operation_with_the_server_address(metered: str, spans: Any, redis_url: str) -> None:
    from urllib.parse import urlsplit

    with override_settings(CACHES={metered: {**_entry(metered), "OPTIONS": {"METRICS": {"otel": True}}}}):
        cache = caches[metered]
        cache.set("k", "value")
        assert cache.get("k") == "value"
        finished = spans.get_finished_spans()
    put, get = finished[-2:]
    where = urlsplit(redis_url)
    assert get.attributes["cache.hit"] is True and get.attributes["cache.item_size"] == 5
    assert get.attributes["server.address"] == where.hostname and get.attributes["server.port"] == where.port
    assert get.attributes["db.system.name"] == "redis" and put.attributes["sentry.op"] == "cache.put"
    _recorders.pop(metered, None)


def _entry(alias: str) -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.CACHES[alias])
