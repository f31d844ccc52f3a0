"""Shared by our backends: logging, ``ping()`` and the resilience hook.

Every backend subclasses Django's own class for its kind where Django keys
behaviour on the class (isinstance checks in checks, createcachetable, test-db
creation), and ``django.core.cache.backends.base.BaseCache`` otherwise, so
``make_key``/``validate_key``/``get_backend_timeout`` keep Django's meaning.
"""

from __future__ import annotations

import logging
from typing import Any

from .resilience import PingResult, ResilienceState, round_trip

logger = logging.getLogger("django_altcache")


class PingMixin:
    """``ping()``: a real set/get/delete round trip that bypasses fail-soft.

    Raises the library's own exception when the cache cannot be reached. Backends
    with several servers override it to reach each one.
    """

    _resilience: ResilienceState | None = None

    def servers_description(self) -> list[str]:
        """The servers this cache talks to, as configured (no secrets)."""
        return []

    def ping(self) -> PingResult:
        return round_trip(self, self.servers_description())  # type: ignore[arg-type]

    def breaker_states(self) -> dict[str, Any]:
        """``{"reads": "closed"|"open", "writes": ...}``, empty without a breaker."""
        state = self._resilience
        if state is None:
            return {}
        return {f"{side}s": ("open" if breaker.is_open else "closed")
                for side, breaker in state.breakers.items() if breaker is not None}
