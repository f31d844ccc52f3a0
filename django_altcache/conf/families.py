"""Which backend family a BACKEND path belongs to, and what that family does with a name it does not know."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.module_loading import import_string

from .findings import ERROR, WARNING


@dataclass(frozen=True)
class Backend:
    family: str  # redis | pymemcache | pylibmc | db | filebased | locmem | dummy
    ours: bool
    # A subclass may read more OPTIONS in its own __init__: unknown names are then
    # only a warning.
    exact: bool
    path: str  # the BACKEND setting


# (family, our class, Django's class). Ours are tried first: some subclass Django's.
FAMILIES = (
    ("redis", "django_altcache.backends.redis.RedisCache", "django.core.cache.backends.redis.RedisCache"),
    ("pymemcache", "django_altcache.backends.memcached.PyMemcacheCache",
     "django.core.cache.backends.memcached.PyMemcacheCache"),
    ("pylibmc", "django_altcache.backends.memcached.PyLibMCCache",
     "django.core.cache.backends.memcached.PyLibMCCache"),
    ("db", "django_altcache.backends.db.DatabaseCache", "django.core.cache.backends.db.DatabaseCache"),
    ("filebased", "django_altcache.backends.filebased.FileBasedCache",
     "django.core.cache.backends.filebased.FileBasedCache"),
    ("locmem", "django_altcache.backends.locmem.LocMemCache", "django.core.cache.backends.locmem.LocMemCache"),
    ("dummy", "django_altcache.backends.dummy.DummyCache", "django.core.cache.backends.dummy.DummyCache"),
)
LIBRARY = {"redis": "redis-py", "pymemcache": "pymemcache", "pylibmc": "pylibmc"}
SERVERLESS = frozenset({"filebased", "locmem", "dummy"})  # nothing to lose: resilience does nothing


def identify(backend_path: str) -> Backend | None:
    """The family of a BACKEND path, or None for backends we know nothing about."""
    try:
        cls = import_string(backend_path)
    except Exception:  # noqa: BLE001 - a bad BACKEND is reported by Django (or E001), not here
        return None
    if not isinstance(cls, type):
        return None
    for ours in (True, False):
        for family, our_path, django_path in FAMILIES:
            try:
                known = import_string(our_path if ours else django_path)
            except ImportError:
                continue
            if issubclass(cls, known):
                return Backend(family, ours, cls is known, backend_path)
    return None


def unknown_level(backend: Backend, closed: bool) -> tuple[str, str]:
    """(level, consequence) for a name nothing here reads."""
    # redis-py, pymemcache and pylibmc raise TypeError on an unknown keyword (at the first
    # cache call, not at startup); Django's OPTIONS-reading backends silently ignore it.
    library = LIBRARY.get(backend.family)
    if library and closed:
        level, consequence = ERROR, (f"The backend passes OPTIONS to {library}, which rejects unknown "
                                     "keywords: TypeError at the first cache call.")
    else:
        level, consequence = WARNING, "It is ignored."
    if not backend.exact and level == ERROR:
        # The subclass's __init__ may take the option out before the library sees it.
        level = WARNING
        consequence += " (The backend is a subclass: if its __init__ reads this option, silence this warning.)"
    return level, consequence
