"""Key making and validation with Django's results at a lower cost per call.

Django's ``make_and_validate_key`` is two method calls, a ``key_func`` call and a
generator of warnings per operation. For the common configuration (Django's default
key function, ``make_key``/``validate_key`` not overridden) the key is built inline
and the memcached rules are checked with one compiled regex; only a key that breaks
them goes through Django's ``validate_key``, so the warnings are exactly Django's.
Any customisation (``KEY_FUNCTION``, a subclass overriding ``make_key`` or
``validate_key`` such as Django's ``LiberalKeyValidationMixin`` test) takes Django's path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.base import (
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)

# Same character class as django.core.cache.backends.base.memcached_error_chars_re.
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]").search

if TYPE_CHECKING:
    _Base = BaseCache
else:
    _Base = object


class FastKeysMixin(_Base):
    """Mixed into a ``BaseCache`` subclass; call ``_init_fast_keys()`` after ``BaseCache.__init__``."""

    _fast_keys: bool = False

    def _init_fast_keys(self) -> None:
        cls = type(self)
        self._fast_keys = (
            self.key_func is default_key_func
            and cls.make_key is BaseCache.make_key
            and cls.validate_key is BaseCache.validate_key
        )

    def make_and_validate_key(self, key: Any, version: Any = None) -> str:
        if not self._fast_keys or self.key_func is not default_key_func:
            return BaseCache.make_and_validate_key(self, key, version)
        made = "%s:%s:%s" % (self.key_prefix, self.version if version is None else version, key)
        if len(made) > MEMCACHE_MAX_KEY_LENGTH or _BAD_CHARS(made):
            self.validate_key(made)
        return made
