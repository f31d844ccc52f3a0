"""pymemcache's ``pickle_serde`` (Django's bytes), with unreadable values reported instead of
turned into a hit.

pymemcache's deserializer answers a pickle it cannot load (truncated, foreign bytes, a class
renamed by a deploy) with ``None``, a value: ``get`` returned ``None`` instead of the caller's
default and ``has_key`` said True; an integer flag on non-digits raised ``ValueError`` from the
request. Here such a value decodes to ``UNREADABLE``, logged, which the driver reads as a miss
(and deletes, so ``add`` wins over it): the promise every backend keeps.
"""

from __future__ import annotations

import pickle
from typing import Any

from pymemcache.serde import (
    FLAG_INTEGER,
    FLAG_LONG,
    FLAG_PICKLE,
    FLAG_TEXT,
    PickleSerde,
    python_memcache_deserializer,
)

from django_altcache.backends.base import logger

UNREADABLE: Any = type("Unreadable", (), {"__repr__": lambda self: "<unreadable memcached value>"})()
_NOT_PICKLE = FLAG_TEXT | FLAG_INTEGER | FLAG_LONG  # python_memcache_deserializer tries these first


class Serde(PickleSerde):  # type: ignore[misc]
    def deserialize(self, key: Any, value: bytes, flags: int) -> Any:
        try:
            if flags & FLAG_PICKLE and not flags & _NOT_PICKLE:
                return pickle.loads(value)
            return python_memcache_deserializer(key, value, flags)
        except Exception as exc:  # noqa: BLE001 - any undecodable value is a miss
            logger.warning("django_altcache: cannot decode the memcached value of key %r (flags %d: %s: %s); "
                           "treating it as a miss and deleting it", key, flags, type(exc).__name__, exc)
            return UNREADABLE


SERDE = Serde()  # one instance: the options it sits in key the process-wide client
