"""``OPTIONS["METRICS"]``: what to count and where to export it.

``parse_metrics`` is the option's converter. It raises ``TypeError``/``ValueError``
with a message that does not repeat the option's name (the caller prefixes it), and
it checks here, when the cache is built, that an exporter the user asked for can be
imported: a missing library is a configuration error at start-up, never at the
first request.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

# Cache calls span five orders of magnitude: ~1 µs in process (locmem), ~100 µs on a
# loopback Redis, milliseconds over a network or on a database, a whole timeout when a
# server is frozen. The default Prometheus buckets start at 5 ms and would put every
# healthy call in the first bucket.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

KeyRedactor = Callable[[str], str]
TraceKeys = Union[str, KeyRedactor]  # "raw" | "hash" | "omit" | a callable
TRACE_KEY_MODES = ("raw", "hash", "omit")

KEYS = ("latency", "buckets", "prometheus", "django_prometheus_names", "otel", "trace_keys")


@dataclass(frozen=True)
class MetricsSettings:
    """What one cache counts and exports; ``parse_metrics`` builds it from the option."""

    latency: bool = False  # the histogram costs two clock reads per call: opt-in
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    prometheus: bool = False  # export to prometheus-client (resolved: never "auto" here)
    django_prometheus_names: bool = True  # also the django_cache_get_* counters
    otel: bool = False  # a span per operation (the pipeline calls recorder.span)
    trace_keys: TraceKeys = "raw"


def _importable(module: str) -> bool:
    # Imported, not just found: a broken install fails here, at start-up, too.
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _prometheus_installed() -> bool:
    return _importable("prometheus_client")


def _require(module: str, extra: str, what: str) -> None:
    if not _importable(module):
        raise ValueError(f"{what} needs the {module.split('.')[0]!r} package: "
                         f"pip install \"django-altcache[{extra}]\"")


def _flag(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key!r}: expected True or False, got {value!r}")
    return value


def _buckets(value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"'buckets': expected a non-empty list of seconds, got {value!r}")
    bounds: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise TypeError(f"'buckets': expected numbers of seconds, got {item!r}")
        if not (item > 0 and math.isfinite(item)):
            raise ValueError(f"'buckets': bounds must be positive and finite, got {item!r}")
        bounds.append(float(item))
    if any(b >= a for a, b in zip(bounds[1:], bounds)) or len(set(bounds)) != len(bounds):
        raise ValueError(f"'buckets': bounds must be strictly increasing, got {list(value)!r}")
    return tuple(bounds)


def _trace_keys(value: Any) -> TraceKeys:
    if callable(value):
        return value  # type: ignore[no-any-return]
    if value in TRACE_KEY_MODES:
        return value  # type: ignore[no-any-return]
    raise ValueError(f"'trace_keys': expected one of {', '.join(map(repr, TRACE_KEY_MODES))} "
                     f"or a function of the key, got {value!r}")


def parse_metrics(value: Any) -> MetricsSettings | None:
    """``None``/``False``: off. ``True``: counters, exported to Prometheus when
    prometheus-client is installed. A dict: any of ``latency`` (bool), ``buckets``
    (seconds), ``prometheus`` (bool: ``True`` requires prometheus-client),
    ``django_prometheus_names`` (bool), ``otel`` (bool: requires opentelemetry-api),
    ``trace_keys`` ("raw", "hash", "omit" or a function of the key)."""
    if value is None or value is False:
        return None
    if value is True:
        return MetricsSettings(prometheus=_prometheus_installed())
    if not isinstance(value, Mapping):
        raise TypeError(f"expected True, False or a dict with any of {', '.join(map(repr, KEYS))}, "
                        f"got {value!r}")
    unknown = sorted(set(value) - set(KEYS), key=str)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected any of "
                         f"{', '.join(map(repr, KEYS))}")
    prometheus_raw = value.get("prometheus", None)
    if prometheus_raw is None:
        prometheus = _prometheus_installed()
    else:
        prometheus = _flag(value, "prometheus", False)
        if prometheus:
            _require("prometheus_client", "prometheus", "'prometheus': True")
    otel = _flag(value, "otel", False)
    if otel:
        _require("opentelemetry.trace", "otel", "'otel': True")
    return MetricsSettings(
        latency=_flag(value, "latency", False),
        buckets=_buckets(value["buckets"]) if "buckets" in value else DEFAULT_BUCKETS,
        prometheus=prometheus,
        django_prometheus_names=_flag(value, "django_prometheus_names", True),
        otel=otel,
        trace_keys=_trace_keys(value.get("trace_keys", "raw")),
    )


def redact(mode: TraceKeys, key: str) -> str | None:
    """A key as a trace may show it; None when keys are left out."""
    if mode == "raw":
        return key
    if mode == "hash":
        # Stable across processes (unlike hash()), so one key groups in a trace backend.
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    if mode == "omit":
        return None
    return str(mode(key))  # type: ignore[operator]
