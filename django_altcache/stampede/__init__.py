"""Stampede-safe caching: single-flight get_or_set, early refresh, ``memoize``.

See docs/stampede.md. The pieces, each in its own module:

- ``settings``  ``OPTIONS["STAMPEDE"]`` and its converter ``parse_stampede``;
- ``protocol``  the lock/wait/compute steps, once for sync and async (``drivers`` runs them);
- ``flights``   in-process coalescing of threads and of asyncio tasks;
- ``engine``    ``Stampede``: get_or_set, early refresh (XFetch), refresh, invalidate;
- ``mixin``     ``StampedeMixin`` for our backends;
- ``memoize``, ``argkey``  the decorator and its argument keys;
- ``keys``      the lock/metadata/stale keys and each backend's clock;
- ``events``    listeners for what happened off the hit path.

The names below are imported on first use, so ``django_altcache.stampede.settings`` (the
converter the option layer imports) pulls in nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import listen
    from .memoize import memoize
    from .mixin import StampedeMixin
    from .settings import StampedeSettings, parse_stampede

__all__ = ["StampedeMixin", "StampedeSettings", "listen", "memoize", "parse_stampede"]
_WHERE = {"listen": "events", "memoize": "memoize", "StampedeMixin": "mixin", "StampedeSettings": "settings",
          "parse_stampede": "settings"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
