"""Drop-in replacements for Django's cache backends."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_redis_connection(alias: str = "default", write: bool = True) -> Any:
    """The raw redis-py client of the cache ``alias``, as ``django_redis.get_redis_connection``.

    ``redis.Redis`` (the leader, or a replica with ``write=False``), or
    ``redis.cluster.RedisCluster`` for a cluster. Caches without one (not Redis) raise
    ``NotImplementedError``, as django-redis does.
    """
    from django.core.cache import caches

    try:
        get_client = caches[alias].client.get_client  # type: ignore[attr-defined]
    except AttributeError:
        raise NotImplementedError("This backend does not support this feature") from None
    return get_client(write)
