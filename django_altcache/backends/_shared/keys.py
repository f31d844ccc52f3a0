"""Key making and validation with Django's results at a lower cost per call.

Django's ``make_and_validate_key`` is two method calls, a ``key_func`` call and a
generator of warnings per operation. For the common configuration (Django's default
key function, ``make_key`` not overridden, a ``validate_key`` known to accept every
short key without memcached-unsafe characters) the key is built inline and checked
with one compiled regex; only a key that breaks those rules goes through the class's
``validate_key``, so warnings (or memcached's ``InvalidCacheKey``) are exactly Django's.
Any customisation (``KEY_FUNCTION``, a subclass overriding ``make_key`` or
``validate_key`` such as Django's ``LiberalKeyValidationMixin`` test) takes Django's path.
One implementation for every backend, single keys and batches alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.cache.backends.base import (
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.cache.backends.memcached import BaseMemcachedCache

# Django's memcached_error_chars_re, compiled eagerly: Django's lazily compiled one
# costs ~3 µs per key through its proxy, more than the rest of a cache hit.
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]").search

F = TypeVar("F", bound=Callable[..., Any])

# validate_key implementations that do nothing for a key that is short enough and has
# no memcached-unsafe character: only for those may the fast path skip the call.
_QUIET_FOR_CLEAN_KEYS: set[Callable[..., Any]] = {BaseCache.validate_key, BaseMemcachedCache.validate_key}


def quiet_for_clean_keys(func: F) -> F:
    """Mark a ``validate_key`` override as silent for clean keys (see ``is_clean``)."""
    _QUIET_FOR_CLEAN_KEYS.add(func)
    return func


def is_clean(key: str) -> bool:
    """True when neither Django's key warnings nor memcached's errors can apply."""
    return len(key) <= MEMCACHE_MAX_KEY_LENGTH and not _BAD_CHARS(key)


if TYPE_CHECKING:  # the mixin sees BaseCache's API; at run time it adds no base
    from django.core.cache.backends.base import BaseCache as _Base
else:
    _Base = object


class FastKeysMixin(_Base):
    """Mixed into a ``BaseCache`` subclass; call ``_init_fast_keys()`` after ``BaseCache.__init__``."""

    _fast_keys: bool = False

    def _init_fast_keys(self) -> None:
        cls = type(self)
        self._fast_keys = (
            cls.make_key is BaseCache.make_key
            and cls.make_and_validate_key is FastKeysMixin.make_and_validate_key
            and cls.validate_key in _QUIET_FOR_CLEAN_KEYS
        )

    # key_func is read per call (not folded into _fast_keys): code, Django's own tests
    # among it, assigns it on the instance. Inlined: this runs on every cache operation.
    def make_and_validate_key(self, key: Any, version: Any = None) -> str:
        if not (self._fast_keys and self.key_func is default_key_func):
            return BaseCache.make_and_validate_key(self, key, version)
        made = "%s:%s:%s" % (self.key_prefix, self.version if version is None else version, key)
        if len(made) > MEMCACHE_MAX_KEY_LENGTH or _BAD_CHARS(made):
            self.validate_key(made)
        return made

    def make_and_validate_keys(self, keys: Iterable[Any], version: Any = None) -> list[str]:
        """``make_and_validate_key`` for a batch, in order: one regex scan for all keys."""
        if not (self._fast_keys and self.key_func is default_key_func):
            return [self.make_and_validate_key(key, version=version) for key in keys]
        head = "%s:%s:" % (self.key_prefix, self.version if version is None else version)
        made = ["%s%s" % (head, key) for key in keys]
        if made and (max(map(len, made)) > MEMCACHE_MAX_KEY_LENGTH or _BAD_CHARS("".join(made))):
            for one in made:  # Django's message (or error) for the first bad key
                self.validate_key(one)
        return made
