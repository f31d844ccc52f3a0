"""Drop-in replacements for Django's cache backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["get_redis_connection", "memoize"]

if TYPE_CHECKING:
    from .stampede.memoize import memoize


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import django_altcache`` (from settings.py, or as an app
    # before the registry is ready) must not pull in Django's cache machinery.
    if name == "memoize":
        from .stampede.memoize import memoize

        return memoize
    raise AttributeError(f"module 'django_altcache' has no attribute {name!r}")


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
