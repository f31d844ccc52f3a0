"""Which CACHES alias a backend is being built for.

Django calls ``Backend(location, params)`` with a copy of the entry minus BACKEND and LOCATION,
so the alias is not passed. It is found again by comparing the entries of ``settings.CACHES``:
for naming the alias in a configuration error, and for what is per alias (metrics labels, the
salt of signed values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def guess_alias(location: Any, params: Mapping[str, Any], first: bool = False) -> str | None:
    """The one alias whose entry matches, or None (no settings, no match, or several).

    ``first``: when several entries are the same cache, the first of them by name (the same
    answer in every process, e.g. for a salt)."""
    try:
        from django.conf import settings

        entries = settings.CACHES
    except Exception:  # noqa: BLE001 - settings not configured: a cache built by hand
        return None
    options = params.get("OPTIONS")
    found = []
    for alias, entry in entries.items():
        if not isinstance(entry, Mapping):
            continue
        if options and entry.get("OPTIONS") is options:
            return str(alias)  # Django copies the entry shallowly: the OPTIONS dict is the same object
        rest = {key: value for key, value in entry.items() if key not in ("BACKEND", "LOCATION")}
        if entry.get("LOCATION", "") == location and rest == dict(params):
            found.append(str(alias))
    if first and found:
        return sorted(found)[0]
    return found[0] if len(found) == 1 else None
