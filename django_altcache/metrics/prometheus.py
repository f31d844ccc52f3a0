"""Prometheus export (the ``[prometheus]`` extra: prometheus-client).

Nothing here runs per cache call: the recorders count in plain integers, and this
module turns their snapshots into metric families when Prometheus scrapes.

- One process (runserver, uWSGI without forking, a single gunicorn worker): two
  collectors on prometheus-client's default ``REGISTRY`` read the live counters at
  each scrape, so counts are exact and current.
- Several processes (``PROMETHEUS_MULTIPROC_DIR`` set before prometheus-client is
  imported, as its multiprocess mode requires): each process writes its totals into
  its own mmap files through prometheus-client's value class, every
  ``FLUSH_INTERVAL`` seconds from a background thread, at exit, and just before
  ``metrics_view`` answers; ``MultiProcessCollector`` adds the processes up. Totals
  are written (``set``), not increments, so a flush can be repeated or lost without
  double counting; a forked worker starts from zero in its own file.

Metric names: django-prometheus' four cache counters (``django_cache_get_total``,
``..._hits_total``, ``..._misses_total``, ``..._fail_total``, label ``backend``), and
ours, ``django_altcache_*`` with labels ``alias``, ``backend``, ``op``, ``api``.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, values
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from .recorder import recorders
from .snapshot import Snapshot

FLUSH_INTERVAL = 1.0  # seconds between two writes of this process's totals (multiprocess mode)
READS = frozenset({"get", "get_many", "has_key", "get_or_set"})
OP_LABELS = ("alias", "backend", "op", "api")
BREAKER_LABELS = ("alias", "backend", "side")

# django-prometheus' names and help texts (django_prometheus/cache/metrics.py), label "backend".
COMPAT = (
    ("django_cache_get", "Total get requests on cache", "calls"),
    ("django_cache_get_hits", "Total hits on cache", "hits"),
    ("django_cache_get_misses", "Total misses on cache", "misses"),
    ("django_cache_get_fail", "Total get request failures by cache", "errors"),
)


@dataclass(frozen=True)
class Sample:
    """One time series value, in the shape both export paths need."""

    metric: str  # family name (counters without "_total")
    kind: str  # "counter" | "gauge" | "histogram"
    help: str
    name: str  # sample name ("..._total", "..._bucket", "..._sum", or the gauge's name)
    labels: tuple[tuple[str, str], ...]
    value: float


def _op_labels(snap: Snapshot, op: str, api: str) -> tuple[tuple[str, str], ...]:
    return (("alias", snap.alias), ("backend", snap.backend), ("op", op), ("api", api))


def compat_samples(snaps: list[Snapshot]) -> Iterator[Sample]:
    """django-prometheus' counters: ``get`` and ``get_or_set`` calls (sync and async) summed per backend
    label (django-prometheus counts the gets Django's get_or_set makes)."""
    totals: dict[str, dict[str, int]] = {}
    for snap in snaps:
        per = totals.setdefault(snap.backend, {"calls": 0, "hits": 0, "misses": 0, "errors": 0})
        for stats in snap.ops:
            if stats.op in ("get", "get_or_set"):
                per["calls"] += stats.calls
                per["hits"] += stats.hits
                per["misses"] += stats.misses
                per["errors"] += stats.errors
    for metric, doc, field in COMPAT:
        for backend, per in sorted(totals.items()):
            yield Sample(metric, "counter", doc, metric + "_total", (("backend", backend),), per[field])


def our_samples(snaps: list[Snapshot], *, cumulative: bool) -> Iterator[Sample]:
    """``django_altcache_*``. Histogram buckets are cumulative for exposition, per bucket
    for the multiprocess files (MultiProcessCollector accumulates them itself)."""
    for snap in snaps:
        for stats in snap.used():
            labels = _op_labels(snap, stats.op, stats.api)
            yield Sample("django_altcache_operations", "counter", "Cache operations called",
                         "django_altcache_operations_total", labels, stats.calls)
            if stats.op in READS:
                yield Sample("django_altcache_hits", "counter", "Keys found (per key for get_many)",
                             "django_altcache_hits_total", labels, stats.hits)
                yield Sample("django_altcache_misses", "counter", "Keys not found (per key for get_many)",
                             "django_altcache_misses_total", labels, stats.misses)
            yield Sample("django_altcache_fallbacks", "counter",
                         "Operations answered by fail-soft (IGNORE_EXCEPTIONS) instead of the server",
                         "django_altcache_fallbacks_total", labels, stats.fallbacks)
            for error, count in sorted(stats.errors_by_class.items()):
                yield Sample("django_altcache_errors", "counter",
                             "Operations that raised or were answered by fail-soft, by exception class",
                             "django_altcache_errors_total", (*labels, ("error", error)), count)
            if snap.latency:
                doc = "Duration of cache operations"
                running = 0
                for bound, count in zip((*map(floatToGoString, snap.bounds), "+Inf"), stats.buckets):
                    running += count
                    yield Sample("django_altcache_operation_seconds", "histogram", doc,
                                 "django_altcache_operation_seconds_bucket", (*labels, ("le", bound)),
                                 running if cumulative else count)
                yield Sample("django_altcache_operation_seconds", "histogram", doc,
                             "django_altcache_operation_seconds_sum", labels, stats.seconds)
        for side, breaker in sorted(snap.breakers.items()):
            labels = (("alias", snap.alias), ("backend", snap.backend), ("side", side))
            yield Sample("django_altcache_breaker_open", "gauge", "1 while the circuit breaker is open",
                         "django_altcache_breaker_open", labels, 1.0 if breaker.state == "open" else 0.0)
            yield Sample("django_altcache_breaker_opens", "counter", "Times the circuit breaker opened",
                         "django_altcache_breaker_opens_total", labels, breaker.opens)


def families(samples: Iterator[Sample]) -> list[Metric]:
    """Group samples into the metric families a collector yields."""
    built: dict[str, Metric] = {}
    for sample in samples:
        family = built.get(sample.metric)
        if family is None:
            family = built[sample.metric] = Metric(sample.metric, sample.help, sample.kind)
        family.add_sample(sample.name, dict(sample.labels), sample.value)
    for family in built.values():
        if family.type == "histogram":  # _count is the +Inf bucket
            for bucket in [s for s in family.samples if s.labels.get("le") == "+Inf"]:
                labels = {k: v for k, v in bucket.labels.items() if k != "le"}
                family.add_sample(family.name + "_count", labels, bucket.value)
    return list(built.values())


def _compat_snaps() -> list[Snapshot]:
    return [r.snapshot() for r in recorders()
            if r.settings.prometheus and r.settings.django_prometheus_names]


def _our_snaps() -> list[Snapshot]:
    return [r.snapshot() for r in recorders() if r.settings.prometheus]


class CacheCollector:
    """``django_altcache_*`` from the live recorders (single-process mode)."""

    def collect(self) -> list[Metric]:
        return families(our_samples(_our_snaps(), cumulative=True))


class DjangoPrometheusCollector:
    """django-prometheus' cache counters; ``describe`` lets the registry refuse a clash."""

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(metric, doc, labels=["backend"]) for metric, doc, _ in COMPAT]

    def collect(self) -> list[Metric]:
        return families(compat_samples(_compat_snaps()))


# -- installation, once per process ------------------------------------------------------------
_lock = threading.Lock()
_installed: dict[str, Any] = {}


def multiprocess() -> bool:
    """What prometheus-client decided when it was imported (PROMETHEUS_MULTIPROC_DIR)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def install() -> None:
    """Called when a recorder exporting to Prometheus is built; idempotent."""
    if _installed.get("done"):
        return
    with _lock:
        if _installed.get("done"):
            return
        if multiprocess():
            _start_flusher()
            atexit.register(flush)
        else:
            REGISTRY.register(CacheCollector())
            try:
                REGISTRY.register(DjangoPrometheusCollector())
            except ValueError as exc:
                raise ValueError(
                    "CACHES[...]['OPTIONS']['METRICS']: the django_cache_get_* counters are already "
                    f"registered (django-prometheus' cache backends?): {exc}; set "
                    "'django_prometheus_names': False or stop importing the other backends"
                ) from exc
        _installed["done"] = True


# -- multiprocess mode: this process's totals into its mmap files ---------------------------
_values: dict[tuple[Any, ...], Any] = {}
_written: dict[tuple[Any, ...], float] = {}
_flush_lock = threading.Lock()


def flush() -> None:
    """Write this process's current totals (multiprocess mode; a no-op otherwise)."""
    if not multiprocess():
        return
    samples = [*compat_samples(_compat_snaps()), *our_samples(_our_snaps(), cumulative=False)]
    with _flush_lock:
        for sample in samples:
            key = (sample.name, sample.labels)
            if _written.get(key) == sample.value:
                continue
            value = _values.get(key)
            if value is None:
                names = tuple(name for name, _ in sample.labels)
                label_values = tuple(v for _, v in sample.labels)
                value = _values[key] = values.ValueClass(
                    sample.kind, sample.metric, sample.name, names, label_values, sample.help,
                    # An open breaker in any live worker shows as open; a dead worker's file
                    # goes with prometheus_client.multiprocess.mark_process_dead(pid).
                    multiprocess_mode="livemax",
                )
            value.set(sample.value)
            _written[key] = sample.value


def _flush_forever() -> None:
    while not _stop.wait(FLUSH_INTERVAL):
        try:
            flush()
        except Exception:  # noqa: BLE001 - a bad flush must not kill the thread; the next retries
            import logging

            logging.getLogger("django_altcache").exception("metrics: writing Prometheus files failed")


_stop = threading.Event()


def _start_flusher() -> None:
    threading.Thread(target=_flush_forever, name="django_altcache-metrics-flush", daemon=True).start()


def _after_fork_in_child() -> None:
    # Threads do not survive fork; the child writes its own (pid-named) files from zero.
    global _flush_lock
    _flush_lock = threading.Lock()
    _values.clear()
    _written.clear()
    if _installed.get("done") and multiprocess():
        _start_flusher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def metrics_view(request: Any) -> Any:
    """A Django view serving the exposition: this registry, or every process's files."""
    from django.http import HttpResponse
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if multiprocess():
        from prometheus_client import multiprocess as mp

        flush()
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
