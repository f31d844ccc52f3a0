"""``pylibmc.Client`` whose unreadable values read as a miss.

pylibmc decodes values inside the client (``get``, ``get_multi``, and so ``has_key``), so a
truncated, foreign or empty value, or a pickle of a class that no longer exists (a deploy
renamed it), raised ``UnpicklingError``/``EOFError``/``TypeError``/``ModuleNotFoundError``
from the request. Its ``deserialize`` hook may raise ``pylibmc.CacheMiss`` instead, which
libmemcached's calls report as a miss: the promise every backend keeps (docs/compat.md).
The value stays in memcached until it is overwritten or evicted: deleting it from inside
the client's own callback is not safe.
"""

from __future__ import annotations

from typing import Any

import pylibmc

from django_altcache.backends.base import logger


class Client(pylibmc.Client):  # type: ignore[misc]
    def deserialize(self, value: Any, flags: int) -> Any:
        if value is None:  # pylibmc hands a Python hook None for an empty value (b"", "")
            value = b""
        try:
            return super().deserialize(value, flags)
        except Exception as exc:  # noqa: BLE001 - any undecodable value is a miss
            logger.warning("django_altcache: cannot decode a memcached value (flags %d, %d bytes: %s: %s); "
                           "treating it as a miss", flags, len(value or b""), type(exc).__name__, exc)
            raise pylibmc.CacheMiss from None
