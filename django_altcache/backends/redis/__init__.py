"""Drop-in for ``django.core.cache.backends.redis``: ``RedisCache`` and its client."""

from .cache import RedisCache
from .client import RedisCacheClient
from .protocol import RedisSerializer

__all__ = ["RedisCache", "RedisCacheClient", "RedisSerializer"]
