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
"""

from .events import listen
from .memoize import memoize
from .mixin import StampedeMixin
from .settings import StampedeSettings, parse_stampede

__all__ = ["StampedeMixin", "StampedeSettings", "listen", "memoize", "parse_stampede"]
