"""LocMemCache: Django's per-process LRU cache, same semantics, less work per call.

Kept from Django: one store per LOCATION shared by the instances of a process
(``_cache`` an OrderedDict with the most recent key first, ``_expire_info`` its
expiry times; Django's tests share both between aliases by assignment), one lock
per store, values copied in by pickling (outside the lock) so a caller mutating its
object never changes the cached one, and the culling rule: when a set finds the
store full, drop the ``len // CULL_FREQUENCY`` least recently used entries, or
everything when CULL_FREQUENCY is 0.

Cheaper than Django's:
- values of the exact immutable types str, int, float, bool and None are stored
  as they are: copying them through pickle buys no isolation. Anything else,
  including ``bytes``, is stored pickled, so a stored ``bytes`` always means "pickle".
- keys are built and checked inline (``_shared/keys.py``);
- ``get_many``/``set_many``/``delete_many`` take the lock once for the batch;
- ``incr_version`` keeps the entry's expiry (Django's gives it the default timeout);
- async twins run inline (``_shared/twins.py``): a short lock, no I/O.

With a codec (docs/codecs.md) stored bytes are its tagged values, except where an
untagged pickle says all the tag would (the pickle serializer, unsigned:
``Codec.plain_pickles``): then a value is stored as Django's pickle, as without a codec,
and only one compressed because it was at least COMPRESS_MIN_LENGTH long and came out
smaller is tagged. No other program reads this store, so the untagged form is a choice
of this backend alone, and it keeps the codec's cost off small values: reading is
``pickle.loads`` as without a codec, and a tagged value (compressed, or written by
another alias of this LOCATION with other options) is handed to the codec when
``pickle.loads`` refuses its first byte, 0xC1, before reading anything else.
"""

from __future__ import annotations

import pickle
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from threading import Lock
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from django_altcache.conf.common import LOCMEM

from ._shared.keys import FastKeysMixin
from ._shared.twins import InlineAsyncMixin
from ..stampede.mixin import StampedeMixin
from .base import AltCache, logger
from ..codecs import Codec, UnreadableValue, report_unreadable
from ..codecs.format import MAGIC_BYTE

# Per-process stores keyed by LOCATION, as in Django, so every thread's instance of
# an alias (and any alias with the same LOCATION) sees the same data.
_caches: dict[str, OrderedDict[str, Any]] = {}
_expire_info: dict[str, dict[str, float | None]] = {}
_locks: dict[str, Lock] = {}

_AS_IS = frozenset({str, int, float, bool, type(None)})
_MISSING: Any = object()


def _encoder(codec: Codec) -> Any:
    encode = codec.encode

    def dumps(value: Any, protocol: int) -> bytes:
        return encode(value)

    return dumps


def _value_path(codec: Codec | None) -> tuple[Any, Any, Any, int | None]:
    """(dumps, loads, other, squeeze_from): how values are written and read with ``codec``.

    ``dumps``/``loads`` are the hot calls; ``other`` decodes what ``loads`` refused (a
    tagged value) or is None; a pickle at least ``squeeze_from`` bytes long goes through
    ``codec.squeeze`` (None: none does).
    """
    if codec is None:
        return pickle.dumps, pickle.loads, None, None
    if codec.plain_pickles:
        squeeze_from = codec.min_length if codec.writes and codec.compressor is not None else None
        return pickle.dumps, pickle.loads, codec.decode, squeeze_from
    return (_encoder(codec) if codec.writes else pickle.dumps), codec.decode, None, None


class LocMemCache(StampedeMixin, AltCache, InlineAsyncMixin, FastKeysMixin, BaseCache):
    spec = LOCMEM
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"add", "get", "set", "touch", "incr", "has_key", "delete", "get_many", "set_many",
                                 "delete_many", "incr_version", "clear"})
    pickle_protocol = pickle.HIGHEST_PROTOCOL

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._init_stampede(name, params)  # single-flight get_or_set (docs/stampede.md)
        self._init_fast_keys()
        self._cache = _caches.setdefault(name, OrderedDict())
        self._expire_info = _expire_info.setdefault(name, {})
        self._lock = _locks.setdefault(name, Lock())
        # Instance attributes, as cheap to call as the module functions they default to.
        # str/int/float/bool/None stay as they are, whatever the codec (see the module's doc).
        self._codec = codec = self._init_codec(name, params)
        self._dumps, self._loads, self._other, self._squeeze_from = _value_path(codec)

    def _pack(self, value: Any) -> Any:
        if type(value) in _AS_IS:
            return value
        stored = self._dumps(value, self.pickle_protocol)
        if self._squeeze_from is not None and len(stored) >= self._squeeze_from:
            return self._codec.squeeze(stored)  # type: ignore[union-attr]
        return stored

    def _unpack(self, stored: Any) -> Any:
        if type(stored) is bytes:
            try:
                return self._loads(stored)
            except Exception as exc:  # noqa: BLE001 - maybe a tagged value: _decode_other says
                return self._decode_other(stored, exc)
        return stored

    def _decode_other(self, stored: bytes, exc: Exception) -> Any:
        """The value of ``stored``, which ``_loads`` refused with ``exc``: a tagged value for
        the codec when ``_loads`` is pickle's and the codec is there, else ``exc`` again."""
        other = self._other
        if other is None or stored[:1] != MAGIC_BYTE:
            raise exc
        return other(stored)

    def _read_other(self, key: str, stored: bytes, exc: Exception) -> Any:
        """``_decode_other`` for a read: an undecodable value is a miss (``_MISSING``)."""
        try:
            return self._decode_other(stored, exc)
        except Exception as final:  # noqa: BLE001 - a codec's error, or a class gone since: a miss
            self._unreadable(key, stored, final)
            return _MISSING

    def _unreadable(self, key: str, stored: bytes, exc: Exception) -> None:
        """A stored value that cannot be decoded reads as a miss: logged, removed if unchanged."""
        if isinstance(exc, UnreadableValue):  # the codec's: rate-limited (floods after a key change)
            report_unreadable(f"locmem {self._codec!r}", key, exc)
        else:  # e.g. a pickle of a class that can no longer be unpickled
            logger.warning("LocMemCache: cannot unpickle the value of key %r (%s: %s); treating it as a miss "
                           "and removing it", key, type(exc).__name__, exc)
        with self._lock:
            if self._cache.get(key) is stored:
                self._delete(key)

    def _live(self, key: str) -> bool:
        """Whether ``key`` is present and unexpired; an expired entry is dropped. Lock held."""
        exp = self._expire_info.get(key, _MISSING)
        if exp is None:
            return True
        if exp is _MISSING:
            return False
        if exp <= time.time():
            self._delete(key)
            return False
        return True

    def _has_expired(self, key: str) -> bool:
        # Django's name for the inverse check; kept for subclasses written against Django.
        exp = self._expire_info.get(key, -1)
        return exp is not None and exp <= time.time()

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        stored = self._pack(value)
        with self._lock:
            if self._live(key):
                return False
            self._set(key, stored, timeout)
            return True

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            exp = self._expire_info.get(key, _MISSING)
            if exp is not None:
                if exp is _MISSING:
                    return default
                if exp <= time.time():
                    self._delete(key)
                    return default
            stored = self._cache[key]
            self._cache.move_to_end(key, last=False)
        if type(stored) is bytes:
            try:
                return self._loads(stored)
            except Exception as exc:  # noqa: BLE001 - see _read_other
                value = self._read_other(key, stored, exc)
                return default if value is _MISSING else value
        return stored

    def _set(self, key: str, stored: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        cache = self._cache
        if len(cache) >= self._max_entries:
            self._cull()
        cache[key] = stored
        cache.move_to_end(key, last=False)
        self._expire_info[key] = self.get_backend_timeout(timeout)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        # _set() and _pack() inlined: this is the hot path.
        key = self.make_and_validate_key(key, version=version)
        if type(value) in _AS_IS:
            stored = value
        else:
            stored = self._dumps(value, self.pickle_protocol)
            if self._squeeze_from is not None and len(stored) >= self._squeeze_from:
                stored = self._codec.squeeze(stored)  # type: ignore[union-attr]
        expiry = self.get_backend_timeout(timeout)
        cache = self._cache
        with self._lock:
            if len(cache) >= self._max_entries:
                self._cull()
            cache[key] = stored
            cache.move_to_end(key, last=False)
            self._expire_info[key] = expiry

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if not self._live(key):
                return False
            self._expire_info[key] = self.get_backend_timeout(timeout)
            return True

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if not self._live(key):
                raise ValueError("Key '%s' not found" % key)
            stored = self._cache[key]
            try:
                current = self._unpack(stored)
            except Exception as exc:  # noqa: BLE001 - unreadable: a miss, as get() reads it
                logger.warning("LocMemCache: cannot decode the value of key %r (%s: %s); treating it as a "
                               "miss and removing it", key, type(exc).__name__, exc)
                self._delete(key)
                raise ValueError("Key '%s' not found" % key) from None
            new_value = current + delta
            # The expiry is left alone, as memcached does (Django's test_incr_decr_timeout).
            self._cache[key] = self._pack(new_value)
            self._cache.move_to_end(key, last=False)
        return new_value

    def has_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            return self._live(key)

    def _cull(self) -> None:
        if self._cull_frequency == 0:
            self._cache.clear()
            self._expire_info.clear()
            return
        popitem, expire_info = self._cache.popitem, self._expire_info
        for _ in range(len(self._cache) // self._cull_frequency):
            key, _value = popitem()  # the least recently used end
            del expire_info[key]

    def _delete(self, key: str) -> bool:
        try:
            del self._cache[key]
            del self._expire_info[key]
        except KeyError:
            return False
        return True

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            return self._delete(key)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        keys = list(keys)
        made = zip(keys, self.make_and_validate_keys(keys, version))
        found: list[tuple[Any, Any]] = []
        cache, expire_info = self._cache, self._expire_info
        with self._lock:
            now = time.time()
            for key, made_key in made:
                exp = expire_info.get(made_key, _MISSING)
                if exp is not None:
                    if exp is _MISSING:
                        continue
                    if exp <= now:
                        self._delete(made_key)
                        continue
                found.append((key, cache[made_key]))
                cache.move_to_end(made_key, last=False)
        loads = self._loads
        result = {}
        for key, stored in found:
            if type(stored) is bytes:
                try:
                    stored = loads(stored)
                except Exception as exc:  # noqa: BLE001 - as get() reads it
                    stored = self._read_other(self.make_and_validate_key(key, version=version), stored, exc)
                    if stored is _MISSING:
                        continue
            result[key] = stored
        return result

    def set_many(self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        packed: list[tuple[str, Any]] = []
        try:
            for key, value in data.items():
                packed.append((self.make_and_validate_key(key, version=version), self._pack(value)))
        finally:
            # Like Django's one-by-one loop, keys before an unpicklable value are stored.
            with self._lock:
                for made_key, stored in packed:
                    self._set(made_key, stored, timeout)
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        made = self.make_and_validate_keys(keys, version)
        with self._lock:
            for made_key in made:
                self._delete(made_key)

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """Django's result and LRU/culling effects, but the entry keeps its expiry (Django's
        re-``set`` gives it the default timeout)."""
        if version is None:
            version = self.version
        old_key = self.make_and_validate_key(key, version=version)
        new_key = self.make_and_validate_key(key, version=version + delta)
        with self._lock:
            if not self._live(old_key):
                raise ValueError("Key '%s' not found" % key)
            stored, expiry = self._cache[old_key], self._expire_info[old_key]
            self._cache.move_to_end(old_key, last=False)  # Django's get() touches it first
            self._set(new_key, stored)
            self._expire_info[new_key] = expiry
            if new_key != old_key:
                self._delete(old_key)
        return version + delta

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._expire_info.clear()

    def server_stats(self) -> dict[str, Any]:
        """Entries in this process's store, for ``cachestats``."""
        from django_altcache.metrics import server_stats

        return server_stats.locmem(self)
