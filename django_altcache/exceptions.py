"""The exceptions applications may catch."""

from __future__ import annotations

from .conf.errors import CacheConfigError


class CacheUnavailable(ValueError):  # noqa: N818 - reads as "the cache is unavailable"
    """Raised by incr/decr/incr_version with fail-soft on while the cache is unreachable.

    A ``ValueError``, as for a missing key, so the common ``try: incr() except
    ValueError: set()`` pattern keeps serving (its ``set`` then fails softly too).
    """


__all__ = ["CacheConfigError", "CacheUnavailable"]
