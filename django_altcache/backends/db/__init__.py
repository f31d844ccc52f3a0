"""``django_altcache.backends.db.DatabaseCache``: drop-in for Django's database cache."""

from .cache import DatabaseCache

__all__ = ["DatabaseCache"]
