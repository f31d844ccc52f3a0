"""Per-cache metrics: counters fed by the operation pipeline, and their exporters.

- ``parse_metrics`` converts ``OPTIONS["METRICS"]`` (settings.py);
- ``recorder_for(alias, backend_label, settings)`` is the object the pipeline calls
  (recorder.py): ``record(...)`` once per operation, ``breaker(side, state)`` on a
  breaker change, and ``span(op, args, kwargs)`` around the call when ``tracing``;
- exporters read snapshots: prometheus.py, otel.py (spans), the ``cachestats``
  command and the demo dashboard.
"""

from .recorder import OPERATIONS, Recorder, recorder_for, recorder_of, recorders, snapshots
from .settings import DEFAULT_BUCKETS, MetricsSettings, parse_metrics
from .snapshot import LOOKUPS, OpStats, Snapshot

__all__ = [
    "DEFAULT_BUCKETS", "LOOKUPS", "OPERATIONS", "MetricsSettings", "OpStats", "Recorder", "Snapshot",
    "parse_metrics", "recorder_for", "recorder_of", "recorders", "snapshots",
]
