"""Database routing for the database cache, as in Django's cache documentation.

For routing, the cache table appears as model ``CacheEntry`` in app ``django_cache``.
"""

from __future__ import annotations

from typing import Any

CACHE_APP = "django_cache"
PRIMARY = "default"
REPLICA = "replica"


class CacheRouter:
    """Cache reads go to the replica, writes to the primary; the table lives on the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return REPLICA if model._meta.app_label == CACHE_APP else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return PRIMARY if model._meta.app_label == CACHE_APP else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if app_label == CACHE_APP:
            return db == PRIMARY
        # The replica mirrors the primary: nothing is ever migrated onto it directly.
        return False if db == REPLICA else None
