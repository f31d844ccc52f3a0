"""The METRICS option, for every backend: its converter lives with the metrics (django_altcache.metrics)."""

from __future__ import annotations

from django_altcache.metrics.settings import parse_metrics

from .spec import Option

METRICS = Option(
    "METRICS", parse_metrics, None, group="Metrics",
    doc="True or {'latency': bool, 'buckets': [...], 'prometheus': bool, 'django_prometheus_names': bool, "
        "'otel': bool, 'trace_keys': 'raw'|'hash'|'omit'|callable}: count calls, hits, misses, errors, "
        "fail-soft answers and breaker changes per alias (docs/metrics.md). Off by default: nothing counted.")

OPTIONS = (METRICS,)
