"""Options outside any client library: our resilience options, Django's culling options, and the OPTIONS
of the backends that read them themselves (locmem, filebased, db, dummy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django

from ..options import RESILIENCE_OPTIONS, CacheConfigError, positive_int, probability, setting_path
from .families import FAMILIES, LIBRARY, SERVERLESS, Backend, unknown_level
from .findings import CONFLICT, ERROR, NO_EFFECT, UNBOUNDED, UNKNOWN, VALUE, WARNING, Finding, unknown_finding
from .values import Validator, check_value

CULLING = ("MAX_ENTRIES", "CULL_FREQUENCY")  # read by Django's BaseCache for every backend


def _max_entries(value: Any) -> None:
    # Django int()s it and silently falls back to 300 when that fails.
    try:
        positive_int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a positive integer, got {value!r} (Django would silently use 300)") from None


def _cull_frequency(value: Any) -> None:
    # Django int()s it (0 means "clear everything when full"); a failure silently means 3.
    try:
        if isinstance(value, bool) or int(value) < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"expected an integer >= 0, got {value!r} (Django would silently use 3)") from None


def _strict_true_false(value: Any) -> None:
    from ..backends.db.schema import truthy  # the db backend's own rule for UNLOGGED

    truthy(value)


def _db_timeout(value: Any) -> None:
    from ..backends.db.guard import seconds_or_none as db_rule  # the backend's own rule

    db_rule(value)


CULLING_SPECS: dict[str, Validator] = {"MAX_ENTRIES": _max_entries, "CULL_FREQUENCY": _cull_frequency}
DB_SPECS: dict[str, Validator] = {
    **CULLING_SPECS,
    "CULL_PROBABILITY": probability,
    "UNLOGGED": _strict_true_false,
    "CONNECT_TIMEOUT": _db_timeout,
    "QUERY_TIMEOUT": _db_timeout,
}
DB_TIMEOUTS = ("CONNECT_TIMEOUT", "QUERY_TIMEOUT")
# Django's DatabaseCache reads CULL_PROBABILITY from 6.2 on.
DJANGO_DB_NAMES = frozenset({*CULLING_SPECS, *(("CULL_PROBABILITY",) if django.VERSION >= (6, 2) else ())})


def check_resilience(options: Mapping[str, Any], backend: Backend) -> list[Finding]:
    from ..backends.resilience import BREAKER_KEYS, parse_resilience

    present = [key for key in sorted(RESILIENCE_OPTIONS) if key in options]
    if not present:
        return []
    if not backend.ours:
        library = LIBRARY.get(backend.family)
        if library:
            level = ERROR if backend.exact else WARNING
            consequence = (f"Django's backend passes OPTIONS to {library}, which rejects it: "
                           "TypeError at the first cache call")
        else:
            level, consequence = WARNING, "Django's backend ignores it"
        family_path = next(ours for family, ours, _ in FAMILIES if family == backend.family)
        return [Finding(level, UNKNOWN, (key,), "a django-altcache option, not one of Django's backend",
                        f"{consequence}. Use BACKEND {family_path!r} for fail-soft and the circuit breaker.")
                for key in present]

    findings: list[Finding] = []
    for key in present:
        value = options[key]
        if key == "CIRCUIT_BREAKER" and isinstance(value, Mapping):
            for sub in value:
                if sub not in BREAKER_KEYS:
                    findings.append(unknown_finding((key, sub), BREAKER_KEYS, ERROR,
                                                    "The cache refuses to start with it."))
            value = {sub: item for sub, item in value.items() if sub in BREAKER_KEYS}
        try:
            parse_resilience({key: value})  # the one place these are validated
        except CacheConfigError as exc:
            text = str(exc)
            prefix = f"{setting_path(key)}: "
            findings.append(Finding(ERROR, VALUE, (key,), text.removeprefix(prefix)))
    if backend.family in SERVERLESS:
        findings += [Finding(WARNING, NO_EFFECT, (key,),
                             f"has no effect on the {backend.family} backend (no server to lose)")
                     for key in present]
    elif "LOG_IGNORED_EXCEPTIONS" in options and options.get("IGNORE_EXCEPTIONS") is not True:
        findings.append(Finding(WARNING, CONFLICT, ("LOG_IGNORED_EXCEPTIONS",),
                                "has no effect without IGNORE_EXCEPTIONS=True (it rate-limits the log "
                                "of the errors fail-soft ignores)"))
    return findings


def culling_elsewhere(options: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """Django's culling options under a backend whose client library rejects them."""
    what = "Redis evicts by its maxmemory policy" if backend.family == "redis" else "memcached evicts by itself (-m)"
    library = LIBRARY[backend.family]
    level = ERROR if backend.exact else WARNING
    return [Finding(level, UNKNOWN, (key,), f"Django's culling option has no meaning here: {what}",
                    f"Remove it: the backend passes OPTIONS to {library}, which rejects it "
                    "(TypeError at the first cache call).")
            for key in CULLING if key in options]


def check_django_options(rest: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """locmem, filebased, db and dummy: Django's BaseCache reads OPTIONS; others are ignored."""
    spec: dict[str, Validator] = dict(CULLING_SPECS)
    if backend.family == "db":
        spec = dict(DB_SPECS) if backend.ours else {k: v for k, v in DB_SPECS.items() if k in DJANGO_DB_NAMES}
    level, consequence = unknown_level(backend, closed=False)
    findings: list[Finding] = []
    for key, value in rest.items():
        if key in spec:
            findings += check_value((key,), value, spec[key])
        elif backend.family == "db" and key in DB_SPECS:
            findings.append(Finding(WARNING, UNKNOWN, (key,), "a django-altcache option, not one of Django's "
                                    "DatabaseCache", "Django's backend ignores it. Use BACKEND "
                                    "'django_altcache.backends.db.DatabaseCache'."))
        else:
            candidates = {*spec, *(RESILIENCE_OPTIONS if backend.ours else ())}
            findings.append(unknown_finding((key,), candidates, level, consequence))
    if backend.family == "db" and backend.ours:
        findings += [Finding(WARNING, UNBOUNDED, (key,), "None turns the bound off: a stalled database server "
                             "would block cache calls indefinitely",
                             "Remove it to use the finite default, or set a number of seconds.")
                     for key in DB_TIMEOUTS if key in rest and rest[key] is None]
    return findings
