"""What a check of OPTIONS reports: ``Finding``s, and the "did you mean" for unknown names.

``checks.py`` maps each finding's (level, kind) to a check id.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ERROR, WARNING = "error", "warning"
# Finding kinds; checks.py maps (level, kind) to a check id.
OPTIONS_TYPE = "options"  # OPTIONS itself is not a dict
UNKNOWN = "unknown"  # a name nothing reads (or that the library rejects)
VALUE = "value"  # a known name with a wrong type or value
NO_EFFECT = "no-effect"  # a valid option this backend does not use
CONFLICT = "conflict"  # options that contradict each other or the LOCATION
UNBOUNDED = "unbounded"  # a timeout turned off: a stalled server would block requests

SUGGESTION_CUTOFF = 0.75  # difflib ratio; lower offers unrelated names (CLIENT_CLASS -> client_name)

# Keys of a CACHES entry that people put in OPTIONS by mistake (REVERSE_KEY_FUNCTION: django-redis's).
TOP_LEVEL_KEYS = ("BACKEND", "LOCATION", "TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION", "REVERSE_KEY_FUNCTION")
# django-redis's OPTIONS. Our RedisCache declares each of them (backends/redis/djangoredis.py; the
# value formats in the codec options), so this is what is said where a name is met that no spec
# of the backend reads: another backend family. Here rather than in the Redis backend because
# unknown_finding recognises them under every backend.
DJANGO_REDIS_NAMES = frozenset({
    "CLIENT_CLASS", "CLIENT_KWARGS", "SERIALIZER", "COMPRESSOR", "PICKLE_VERSION", "SENTINELS", "SENTINEL_KWARGS",
    "CONNECTION_FACTORY", "CONNECTION_POOL_CLASS", "CONNECTION_POOL_KWARGS", "REDIS_CLIENT_CLASS",
    "REDIS_CLIENT_KWARGS", "PARSER_CLASS", "SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT", "PASSWORD", "USERNAME",
    "REPLICA_READ_ONLY", "CLOSE_CONNECTION",
})
DJANGO_REDIS_BACKEND = "django_altcache.backends.redis.RedisCache"


@dataclass(frozen=True)
class Finding:
    level: str  # ERROR | WARNING
    kind: str
    path: tuple[Any, ...]  # keys under ``where``: ("socket_timout",), ("behaviors", "ketema")
    message: str  # what follows "CACHES[alias]['OPTIONS'][...]: "
    hint: str | None = None
    where: str = "OPTIONS"  # the key of the CACHES entry the path starts at (OPTIONS or LOCATION)

    @property
    def setting(self) -> tuple[Any, ...]:
        """The path from the CACHES entry: ("OPTIONS", "socket_timout")."""
        return (self.where, *self.path)


def suggest(name: Any, candidates: Iterable[str]) -> str | None:
    """The accepted name ``name`` most likely meant: same letters in another case, else a close spelling."""
    if not isinstance(name, str):
        return None
    by_lower: dict[str, str] = {}
    # Where two spellings differ only in case (django-redis's SOCKET_TIMEOUT, redis-py's
    # socket_timeout), offer the one written in the same case as the name.
    for candidate in sorted(candidates, key=lambda c: (c.isupper() != name.isupper(), c)):
        by_lower.setdefault(candidate.lower(), candidate)
    lowered = name.lower()
    if lowered in by_lower:
        return by_lower[lowered]
    close = difflib.get_close_matches(lowered, list(by_lower), n=1, cutoff=SUGGESTION_CUTOFF)
    return by_lower[close[0]] if close else None


def unknown_finding(path: tuple[Any, ...], candidates: Iterable[str], level: str, consequence: str) -> Finding:
    name = path[-1]
    message = "unknown option" if len(path) == 1 else "unknown key"
    if len(path) == 1 and name in TOP_LEVEL_KEYS:
        # Not a misspelling: a key of the CACHES entry written inside OPTIONS.
        return Finding(level, UNKNOWN, path, f"{message}; {name} is a key of the CACHES entry itself, "
                       "not of OPTIONS", consequence)
    if len(path) == 1 and name in DJANGO_REDIS_NAMES:
        # No "did you mean": a name of this backend that looks alike means something else.
        return Finding(level, UNKNOWN, path, f"{message} (a django-redis option, which this backend does not read; "
                       f"{DJANGO_REDIS_BACKEND} reads django-redis's settings)", consequence)
    guess = suggest(name, candidates)
    if guess is not None:
        message += f"; did you mean {guess!r}?"
    return Finding(level, UNKNOWN, path, message, consequence)
