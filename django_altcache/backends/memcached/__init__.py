"""Memcached backends: drop-ins for Django's PyMemcacheCache and PyLibMCCache."""

from .cache import PyLibMCCache, PyMemcacheCache

__all__ = ["PyLibMCCache", "PyMemcacheCache"]
