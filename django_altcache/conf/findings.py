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

# Keys of a CACHES entry that people put in OPTIONS by mistake.
TOP_LEVEL_KEYS = ("BACKEND", "LOCATION", "TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION")
# django-redis's OPTIONS with no same-named equivalent (the others match case-insensitively,
# e.g. SOCKET_TIMEOUT -> socket_timeout, and get a "did you mean"). Here rather than in
# redis.py because unknown_finding recognises them under every backend.
DJANGO_REDIS_NAMES = {
    "CLIENT_CLASS": "django-redis's option: this backend has a single client class; remove it",
    "CONNECTION_POOL_KWARGS": "django-redis's option: put these keyword arguments directly in OPTIONS",
    "CONNECTION_POOL_CLASS": "django-redis's option: use 'pool_class'",
    "COMPRESSOR": "django-redis's option: values are stored as Django stores them, uncompressed; remove it",
}


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
    for candidate in sorted(candidates):
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
        return Finding(level, UNKNOWN, path, f"{message} ({DJANGO_REDIS_NAMES[name]})", consequence)
    guess = suggest(name, candidates)
    if guess is not None:
        message += f"; did you mean {guess!r}?"
    return Finding(level, UNKNOWN, path, message, consequence)
