"""Validation of each cache's OPTIONS for the system checks in ``checks.py``, without touching the network
or building a client: ``identify`` a BACKEND, then ``validate`` its entry into ``Finding``s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..options import RESILIENCE_OPTIONS
from .common import check_django_options, check_resilience
from .families import Backend, identify
from .findings import (
    CONFLICT,
    ERROR,
    NO_EFFECT,
    OPTIONS_TYPE,
    UNBOUNDED,
    UNKNOWN,
    VALUE,
    WARNING,
    Finding,
)
from .memcached import check_memcached
from .redis import check_redis

__all__ = [
    "CONFLICT", "ERROR", "NO_EFFECT", "OPTIONS_TYPE", "UNBOUNDED", "UNKNOWN", "VALUE", "WARNING",
    "Backend", "Finding", "identify", "validate",
]


def validate(params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """Every problem with the OPTIONS of one CACHES entry, without touching the network."""
    options = params.get("OPTIONS")
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [Finding(ERROR, OPTIONS_TYPE, (), f"must be a dict, not {type(options).__name__}")]
    findings = check_resilience(options, backend)
    rest = {key: value for key, value in options.items() if key not in RESILIENCE_OPTIONS}
    if backend.family == "redis":
        findings += check_redis(params, rest, backend)
    elif backend.family in ("pymemcache", "pylibmc"):
        findings += check_memcached(rest, backend)
    else:
        findings += check_django_options(rest, backend)
    return findings
