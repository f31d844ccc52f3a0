"""``cachestats``: hit rate, calls, errors and latency of each cache, and the server's own numbers.

    manage.py cachestats [alias ...] [--json] [--watch SECONDS [--count N]] [--no-server]

The counters are this process's (``OPTIONS["METRICS"]`` on): useful in a shell or a
process that ran the site's code, e.g. ``call_command("cachestats")`` from a view or
a worker. The server's numbers (Redis ``INFO``, memcached ``stats``, the table's rows,
the directory's files) come from the backend's ``server_stats()`` and describe the
whole cache, every process included.

``--watch N`` prints again every N seconds with rates since the previous print
(until Ctrl-C, or ``--count`` times). ``--json`` prints one JSON document per print.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_altcache.metrics import recorder_of
from django_altcache.metrics.snapshot import Snapshot

SERVER_FIELDS_SHOWN = 12


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.2f} ms"


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _server(alias: str) -> tuple[dict[str, Any] | None, str | None]:
    cache = caches[alias]
    method = getattr(cache, "server_stats", None)
    if method is None:
        return None, "not available for this backend"
    try:
        return method(), None
    except Exception as exc:  # noqa: BLE001 - any failure is reported, per alias
        return None, f"{type(exc).__name__}: {exc}"


class Command(BaseCommand):
    help = "Show each cache's hit rate, calls, errors and latency (this process) and its server's numbers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("aliases", nargs="*", metavar="alias", help="caches to show (default: all)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        parser.add_argument("--watch", type=float, metavar="SECONDS", help="print again every SECONDS")
        parser.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N prints")
        parser.add_argument("--no-server", action="store_true", help="skip the servers' own numbers")

    def handle(self, *args: str, **options: Any) -> None:
        aliases = list(args) + list(options.get("aliases") or [])
        known = list(settings.CACHES)
        unknown = [alias for alias in aliases if alias not in known]
        if unknown:
            raise CommandError(f"unknown cache alias(es): {', '.join(unknown)}; CACHES has {', '.join(known)}")
        chosen = list(aliases) or known
        watch: float | None = options["watch"]
        if watch is not None and watch <= 0:
            raise CommandError("--watch takes a number of seconds above 0")
        count = options["count"] if watch is not None else 1
        previous: dict[str, Snapshot] = {}
        printed = 0
        try:
            while count is None or printed < count:
                if printed:
                    time.sleep(watch)  # type: ignore[arg-type]
                report = [self._alias(alias, previous, not options["no_server"]) for alias in chosen]
                if options["json"]:
                    self.stdout.write(json.dumps({"taken": time.time(), "caches": report}))
                else:
                    self._text(report, printed)
                self.stdout.flush()
                printed += 1
        except KeyboardInterrupt:
            pass

    def _alias(self, alias: str, previous: dict[str, Snapshot], server: bool) -> dict[str, Any]:
        recorder = recorder_of(alias)
        entry: dict[str, Any] = {"alias": alias, "backend": settings.CACHES[alias].get("BACKEND")}
        if recorder is None:
            metrics_on = bool((settings.CACHES[alias].get("OPTIONS") or {}).get("METRICS"))
            entry["metrics"] = None
            entry["metrics_note"] = "no calls in this process yet" if metrics_on else "OPTIONS['METRICS'] is off"
        else:
            snap = recorder.snapshot()
            entry["metrics"] = snap.to_dict()
            before = previous.get(alias)
            if before is not None and snap.taken > before.taken:
                elapsed = snap.taken - before.taken
                entry["rates"] = {"seconds": elapsed, "calls_per_second": (snap.calls - before.calls) / elapsed,
                                  "errors_per_second": (snap.errors - before.errors) / elapsed}
            previous[alias] = snap
        if server:
            entry["server"], entry["server_error"] = _server(alias)
        return entry

    def _text(self, report: list[dict[str, Any]], printed: int) -> None:
        if printed:
            self.stdout.write("")
        for entry in report:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{entry['alias']}") + f"  ({entry['backend']})")
            metrics = entry["metrics"]
            if metrics is None:
                self.stdout.write(f"  this process: {entry['metrics_note']}")
            else:
                self.stdout.write(
                    f"  this process: {metrics['calls']} calls, hit rate {_pct(metrics['hit_rate'])} "
                    f"({metrics['hits']} hits, {metrics['misses']} misses), {metrics['errors']} errors, "
                    f"{metrics['fallbacks']} fail-soft answers"
                    + (f", p50 {_ms(metrics['p50'])}, p99 {_ms(metrics['p99'])}" if metrics["latency"] else "")
                )
                rates = entry.get("rates")
                if rates:
                    self.stdout.write(f"  last {rates['seconds']:.1f} s: {rates['calls_per_second']:.1f} calls/s, "
                                      f"{rates['errors_per_second']:.1f} errors/s")
                if metrics["breakers"]:
                    states = ", ".join(f"{side}s {b['state']} (opened {b['opens']}x)"
                                       for side, b in metrics["breakers"].items())
                    self.stdout.write(f"  circuit breaker: {states}")
                if metrics["errors_by_class"]:
                    self.stdout.write("  errors: " + ", ".join(f"{name} {count}" for name, count in
                                                               sorted(metrics["errors_by_class"].items())))
                ops = ", ".join(f"{op['op']}{' (async)' if op['api'] == 'async' else ''} {op['calls']}"
                                for op in metrics["ops"])
                if ops:
                    self.stdout.write(f"  operations: {ops}")
            if "server" in entry:
                if entry["server_error"]:
                    self.stdout.write(f"  server: {entry['server_error']}")
                elif entry["server"]:
                    shown = list(entry["server"].items())[:SERVER_FIELDS_SHOWN * 2]
                    self.stdout.write("  server: " + ", ".join(
                        f"{name} {_pct(value) if name == 'hit_rate' else value}" for name, value in shown))
