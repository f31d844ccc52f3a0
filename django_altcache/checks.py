"""System checks, registered by AltCacheConfig.ready().

Each backend module may expose ``check_backend(alias, cache) -> list[CheckMessage]``;
this module asks every configured cache that is one of ours.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.caches)
def check_altcache_caches(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    messages: list[checks.CheckMessage] = []
    for alias, params in settings.CACHES.items():
        backend = str(params.get("BACKEND", ""))
        if not backend.startswith("django_altcache."):
            continue
        try:
            cache = caches[alias]
        except (ImproperlyConfigured, ValueError, TypeError, ImportError) as exc:
            messages.append(
                checks.Error(str(exc), obj=f"CACHES[{alias!r}]", id="django_altcache.E001")
            )
            continue
        check = getattr(cache, "check_backend", None)
        if check is not None:
            messages.extend(check(alias))
    return messages
