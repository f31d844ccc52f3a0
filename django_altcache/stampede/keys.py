"""The keys kept beside an entry, and what each backend's clock means for them.

For a user key ``K`` (the key the caller passes; the cache adds KEY_PREFIX and VERSION
as for any key, with the same ``version``):

- ``altcache.lock:K``  the lock: a random token, written with ``add`` (Redis ``SET NX``,
  memcached ``add``, the database's insert-if-absent, the file cache's locked ``add``);
- ``altcache.meta:K``  early refresh only: ``[compute_seconds, logical_expiry_unix_time]``;
- ``altcache.stale:K`` with ``stale`` > 0 only: a copy of the value that outlives it.

The entry ``K`` itself holds exactly what Django's ``set`` stores. When the prefixed
key would exceed 250 characters (memcached's limit; the database column holds 255) the
user key part is replaced by ``#`` and a 32-hex-digit BLAKE2b digest of it.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from django.core.cache.backends.base import MEMCACHE_MAX_KEY_LENGTH, BaseCache
from django.core.cache.backends.memcached import BaseMemcachedCache

LOCK = "altcache.lock:"
META = "altcache.meta:"
STALE = "altcache.stale:"


def derived(cache: BaseCache, tag: str, key: Any, version: Any) -> str:
    name = f"{tag}{key}"
    if len(cache.make_key(name, version)) > MEMCACHE_MAX_KEY_LENGTH:
        digest = hashlib.blake2b(str(key).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        name = f"{tag}#{digest}"
    return name


def granularity(cache: BaseCache) -> float:
    """How early an entry may expire, in seconds.

    memcached keeps time in whole seconds and expires an item once its clock reaches
    ``set time + ttl``, so an item can go up to a second early (memcached's items.c,
    ``realtime()`` and ``current_time``); Django's memcached backends also truncate
    fractional timeouts. The other backends keep at least milliseconds.
    """
    return 1.0 if isinstance(cache, BaseMemcachedCache) else 0.0


def lock_ttl(cache: BaseCache, lock_timeout: float) -> float:
    """The timeout to write the lock with, so it lives at least ``lock_timeout``.

    On memcached: whole seconds, plus one for the early expiry above (so a lock lives
    between ``ceil(lock_timeout)`` and ``ceil(lock_timeout) + 1`` seconds).
    """
    if isinstance(cache, BaseMemcachedCache):
        return float(math.ceil(lock_timeout) + 1)
    return lock_timeout


def seconds_of(cache: BaseCache, timeout: Any) -> float | None:
    """The entry's lifetime in seconds (None: forever), as the backend will apply it."""
    from django.core.cache.backends.base import DEFAULT_TIMEOUT

    if timeout is DEFAULT_TIMEOUT:
        timeout = cache.default_timeout
    if timeout is None:
        return None
    return float(timeout)
