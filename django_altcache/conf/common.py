"""Options every one of our backends takes, and Django's culling options.

Each feature declares its options in its own module; this is where they are gathered
into the list every backend's ``Spec`` starts from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_altcache.codecs import declared as codecs

from . import metrics, resilience, stampede
from .families import LIBRARY, Backend
from .findings import ERROR, UNKNOWN, WARNING, Finding
from .local import TIMED_LOCAL_CACHE
from .spec import Option, Spec
from .values import int_coercible

# Read by Django's BaseCache.__init__ from OPTIONS, for every backend: int(value), and a
# silent fallback (300, 3) when that fails, which is why a bad value is an error here.
MAX_ENTRIES = Option("MAX_ENTRIES", int_coercible(1, 300), 300, django=True, group="Culling",
                     doc="Entries kept before culling (Django's; locmem, filebased, db).")
CULL_FREQUENCY = Option("CULL_FREQUENCY", int_coercible(0, 3), 3, django=True, group="Culling",
                        doc="When full, cull 1/CULL_FREQUENCY of the entries; 0 empties the cache (Django's).")
CULLING = (MAX_ENTRIES, CULL_FREQUENCY)

# Every one of our backends.
COMMON: tuple[Option[Any], ...] = (*resilience.OPTIONS, *codecs.OPTIONS, *metrics.OPTIONS, *stampede.OPTIONS)
RELATIONS = (*resilience.RELATIONS,)


def culling_elsewhere(options: Mapping[str, Any], params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    """Django's culling options under a backend whose client library rejects them."""
    what = "Redis evicts by its maxmemory policy" if backend.family == "redis" else "memcached evicts by itself (-m)"
    library = LIBRARY[backend.family]
    level = ERROR if backend.exact else WARNING
    return [Finding(level, UNKNOWN, (option.name,), f"Django's culling option has no meaning here: {what}",
                    f"Remove it: the backend passes OPTIONS to {library}, which rejects it "
                    "(TypeError at the first cache call).")
            for option in CULLING if option.name in options]


def in_process_spec(family: str) -> Spec:
    """locmem, filebased, dummy: Django's BaseCache reads the culling options, the rest is ignored."""
    return Spec(family, [*CULLING, *COMMON], relations=RELATIONS, serverless=True)


LOCMEM = in_process_spec("locmem")
FILEBASED = in_process_spec("filebased").extend(TIMED_LOCAL_CACHE)
DUMMY = in_process_spec("dummy")
