"""``cachecheck``: a real round trip to each cache, for deploy scripts and health checks.

    manage.py cachecheck [alias ...] [--json] [--timeout SECONDS]

One line per cache, fields separated by two or more spaces (no field contains two
spaces in a row), so ``re.split(r"\\s{2,}", line)`` gives them back::

    default  OK      1.2 ms  redis://127.0.0.1:6379  (django_altcache.backends.redis.RedisCache)
    db       FAIL  2003.4 ms  default (write): postgresql ...  (django_altcache...)  OperationalError: ...

alias, status, latency, servers (comma-separated), (BACKEND), then details. Status is
OK (set/get/delete of a probe key worked), FAIL (it did not: the error follows) or
SKIP (a dummy cache stores nothing, so there is nothing to check; not a failure).

Exit status: 0 when no cache failed, 1 when at least one did (a summary goes to
stderr), 2 for a usage error such as an unknown alias. ``--json`` prints one JSON
document instead of the lines, with the same exit status.

Our backends' ``ping()`` is used (it bypasses fail-soft and the circuit breaker, and
may reach every server: replicas, cluster nodes); other backends get the same probe
through the public API. Either way a probe is bounded by the backend's own timeouts.
``--timeout`` bounds each cache's probe further: it runs in a worker thread and is
reported as FAIL when it has not answered in time (the thread is left to end at the
backend's own timeout; it never delays the exit).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.cache.backends.dummy import DummyCache as DjangoDummyCache
from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache
from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router

from django_altcache.backends.base import AltCache, round_trip
from django_altcache.backends.dummy import DummyCache
from django_altcache.backends.filebased import FileBasedCache
from django_altcache.backends.locmem import LocMemCache
from django_altcache.conf import CacheConfigError, split_location
from django_altcache.conf.location import mask_secrets as mask

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
USAGE_ERROR = 2  # exit status for a bad invocation, distinct from "a cache failed" (1)

def _one_line(text: str) -> str:
    # Fields are separated by two spaces: none may contain a run of whitespace.
    return " ".join(text.split())


@dataclass
class Result:
    alias: str
    backend: str
    status: str
    latency_ms: float | None = None  # the round trip; for a failure, the time until it failed
    servers: list[str] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None
    breakers: dict[str, str] = field(default_factory=dict)

    def line(self, alias_width: int) -> str:
        latency = "-" if self.latency_ms is None else f"{self.latency_ms:.1f} ms"
        servers = ",".join(_one_line(server) for server in self.servers) or "-"
        parts = [f"{self.alias:<{alias_width}}", f"{self.status:<4}", f"{latency:>9}", servers,
                 f"({self.backend or '?'})"]
        if self.breakers:
            parts.append("breakers: " + " ".join(f"{side}={state}" for side, state in self.breakers.items()))
        if self.error:
            parts.append(_one_line(self.error))
        if self.detail:
            parts.append(_one_line(self.detail))
        return "  ".join(parts).rstrip()


def describe(cache: Any, params: dict[str, Any]) -> list[str]:
    """What a cache talks to, as configured, passwords masked."""
    described: list[str] = []
    if isinstance(cache, AltCache):
        try:
            described = cache.servers_description()
        except Exception:  # noqa: BLE001 - a description must never fail the check
            described = []
    if not described:
        location = params.get("LOCATION", "")
        if isinstance(cache, BaseDatabaseCache):
            try:
                alias = router.db_for_write(cache.cache_model_class)
                described = [f"database {alias}, table {cache._table}"]
            except Exception:  # noqa: BLE001 - a user's router raising: describe from settings
                described = [f"table {location}"]
        elif isinstance(cache, (DjangoFileBasedCache, FileBasedCache)):
            described = [str(getattr(cache, "_dir", location))]
        elif isinstance(cache, (LocMemCache, DjangoLocMemCache)):
            described = ["in-process memory"]
        else:
            return configured(params)
    return [mask(str(server)) for server in described]


def configured(params: dict[str, Any]) -> list[str]:
    """The LOCATION as written, for a cache that could not be built or did not answer."""
    location = params.get("LOCATION", "")
    try:
        servers = split_location(location)
    except CacheConfigError:
        servers = [str(location)]
    return [mask(str(server)) for server in servers]


def probe(alias: str) -> Result:
    """One cache's round trip; never raises (every failure is the cache's FAIL)."""
    params = settings.CACHES[alias]
    backend = str(params.get("BACKEND", ""))
    started = time.perf_counter()
    try:
        cache = caches[alias]
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be built is this cache's FAIL
        return Result(alias, backend, FAIL, servers=configured(params),
                      error=mask(f"cannot create the cache: {type(exc).__name__}: {exc}"))
    servers = describe(cache, params)
    if isinstance(cache, (DummyCache, DjangoDummyCache)):
        return Result(alias, backend, SKIP, servers=servers, detail="dummy cache: nothing to check")
    try:
        if isinstance(cache, AltCache):
            result = cache.ping()
        else:
            result = round_trip(cache, servers)
    except Exception as exc:  # noqa: BLE001 - any error is this cache's FAIL, reported with its type
        elapsed = (time.perf_counter() - started) * 1000
        return Result(alias, backend, FAIL, elapsed, servers, error=mask(f"{type(exc).__name__}: {exc}"),
                      breakers=_breakers(cache))
    finally:
        if isinstance(cache, BaseDatabaseCache) and threading.current_thread() is not threading.main_thread():
            connections.close_all()  # this worker thread's own connections
    reached = [mask(str(server)) for server in result.servers] or servers
    return Result(alias, backend, OK, result.latency * 1000, reached, breakers=_breakers(cache))


def _breakers(cache: Any) -> dict[str, str]:
    states = getattr(cache, "breaker_states", None)
    if states is None:
        return {}
    try:
        return {str(side): str(state) for side, state in states().items()}
    except Exception:  # noqa: BLE001 - breaker states are a detail, never a failure
        return {}


def probe_within(alias: str, timeout: float) -> Result:
    """``probe`` in a daemon thread, given up after ``timeout`` seconds."""
    box: list[Result] = []
    worker = threading.Thread(target=lambda: box.append(probe(alias)), name=f"cachecheck-{alias}", daemon=True)
    started = time.perf_counter()
    worker.start()
    worker.join(timeout)
    if box:
        return box[0]
    params = settings.CACHES[alias]
    return Result(alias, str(params.get("BACKEND", "")), FAIL, (time.perf_counter() - started) * 1000,
                  configured(params), error=f"no answer within {timeout:g} s (--timeout)")


def _positive_seconds(value: str) -> float:
    import argparse

    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value!r}")
    return seconds


class Command(BaseCommand):
    help = ("Round trip (set/get/delete of a probe key) to each configured cache, or the aliases given. "
            "Exit status 0 when none failed, 1 when one did, 2 for a usage error.")

    # A health check must be cheap and must report the caches even when a check would fail.
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django's attribute

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("aliases", metavar="cache_alias", nargs="*",
                            help="CACHES aliases to check (default: all of them).")
        parser.add_argument("--json", action="store_true", help="Print one JSON document instead of lines.")
        parser.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                            help="Report a cache as FAIL when its probe has not answered within SECONDS "
                                 "(the backends' own connect/read timeouts always apply).")

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = list(dict.fromkeys(options["aliases"])) or list(settings.CACHES)
        unknown = [alias for alias in aliases if alias not in settings.CACHES]
        if unknown:
            raise CommandError(
                f"unknown cache alias{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"CACHES has {', '.join(map(repr, settings.CACHES)) or 'none'}",
                returncode=USAGE_ERROR,
            )
        timeout: float | None = options["timeout"]
        results = [probe(alias) if timeout is None else probe_within(alias, timeout) for alias in aliases]
        failed = [result.alias for result in results if result.status == FAIL]

        if options["json"]:
            document = {"ok": not failed, "caches": [
                {**asdict(result), "latency_ms": None if result.latency_ms is None else round(result.latency_ms, 3)}
                for result in results]}
            self.stdout.write(json.dumps(document, indent=2))
        elif options["verbosity"] > 0:
            width = max(len(result.alias) for result in results) if results else 0
            for result in results:
                self.stdout.write(result.line(width))
        if failed:
            self.stderr.write(f"cachecheck: {len(failed)} of {len(results)} cache(s) failed: {', '.join(failed)}")
            raise SystemExit(1)  # as Django's own --check options do: a status, not a traceback
