"""Shared by our backends: logging and the fail-soft helpers.

Every backend subclasses Django's own class for its kind where Django keys
behaviour on the class (isinstance checks in checks, createcachetable, test-db
creation), and ``django.core.cache.backends.base.BaseCache`` otherwise, so
``make_key``/``validate_key``/``get_backend_timeout`` keep Django's meaning.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("django_altcache")
