"""FileBasedCache: Django's on-disk format and class, without its defects.

A subclass of Django's ``FileBasedCache`` so that Django's system checks on the cache
directory (caches.W002/W003, keyed on isinstance) still apply, and a directory is
shared with Django's backend in both directions (format: ``_files``).

Differences from Django's, each documented in docs/compat.md:
- ``set`` does not list the directory: a per-process estimate of the number of entries
  triggers a scan (and Django's random culling) only when it reaches MAX_ENTRIES or
  after ``_files.rescan_every`` writes;
- ``add``/``incr``/``decr``/``touch``/``set``/``delete`` hold a per-key lock across
  threads and processes, so ``add`` has one winner and no increment is lost;
- ``incr``/``decr``/``incr_version`` keep the entry's expiry (Django's re-set it with the
  default timeout);
- a corrupt or truncated file is a miss: logged to the ``django_altcache`` logger and
  removed, never an exception in the request;
- ``touch`` writes a new file and renames it over the old one, so ``get`` never sees it
  half-written; temp files left by killed writers are removed by later scans.

Async twins run on the event loop when they need no lock wait and no directory scan:
a small-file read or write served from the page cache takes microseconds, less than the
thread hop of ``sync_to_async``. When a key lock is held elsewhere or a scan is due, the
operation continues in a worker thread (``thread_sensitive=False``), so a loop never
waits on another process's lock.
"""

from __future__ import annotations

import os
import random
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from hashlib import md5
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core import checks
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache

from django_altcache.conf.common import FILEBASED

from ..codecs import UnreadableValue, report_unreadable
from . import _files
from ._file_codec import value_codec
from ._files import Busy, CorruptEntry
from ._shared.keys import FastKeysMixin
from ._shared.registry import ProcessRegistry
from ..stampede.mixin import StampedeMixin
from .base import AltCache, logger

T = TypeVar("T")
_MISSING: Any = object()
# One state per directory and process; a forked child resets the states its instances hold.
_states: ProcessRegistry[_files.DirState] = ProcessRegistry(on_fork=lambda state: state.forked())


def _state_for(directory: str) -> _files.DirState:
    return _states.get(directory, _files.DirState)


class FileBasedCache(StampedeMixin, AltCache, FastKeysMixin, DjangoFileBasedCache):
    spec = FILEBASED
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"get", "has_key", "set", "add", "touch", "incr", "delete", "incr_version", "clear"})

    def __init__(self, dir: Any, params: dict[str, Any]) -> None:
        super().__init__(dir, params)  # abspath, and the directory created 0o700 as Django does
        self._init_stampede(dir, params)  # single-flight get_or_set (docs/stampede.md)
        self._init_fast_keys()
        self._prefix = os.path.join(self._dir, "")
        self._state = _state_for(self._dir)
        self._codec = self._init_codec(dir, params)
        self._encode_value, self._decode_value = value_codec(self._codec)

    def _key_to_file(self, key: Any, version: Any = None) -> str:
        made = self.make_and_validate_key(key, version=version)
        return self._prefix + md5(made.encode(), usedforsecurity=False).hexdigest() + self.cache_suffix

    # -- reading ----------------------------------------------------------------------

    def _live(self, fname: str, data: bytes | None, *, locked: bool) -> int | None:
        """Offset of the value if ``data`` is a live entry; otherwise drop the file, None."""
        if data is None:
            return None
        if not data:  # Django: an empty file is an expired entry
            self._drop(fname, data, locked=locked)
            return None
        try:
            expiry, offset = _files.split(data)
        except CorruptEntry as exc:
            self._corrupt(fname, data, exc, locked=locked)
            return None
        if expiry is not None and expiry < time.time():
            self._drop(fname, data, locked=locked)
            return None
        return offset

    def _value(self, fname: str, data: bytes, offset: int, *, locked: bool) -> Any:
        try:
            return self._decode_value(data, offset)
        except CorruptEntry as exc:
            self._corrupt(fname, data, exc, locked=locked)
            return _MISSING

    def _corrupt(self, fname: str, data: bytes, exc: Exception, *, locked: bool) -> None:
        if isinstance(exc, UnreadableValue):  # the codec's: rate-limited (floods after a key change)
            report_unreadable(f"file {self._dir}", fname, exc)
        else:
            logger.warning("Removing corrupt cache file %s (%d bytes): %s", fname, len(data), exc)
        self._drop(fname, data, locked=locked)

    def _drop(self, fname: str, seen: bytes, *, locked: bool) -> None:
        """Remove ``fname`` if it still holds what we read: a writer may have replaced it."""
        if locked:
            self._remove(fname)
            return
        try:
            with _files.key_lock(fname, blocking=False):
                if _files.unchanged(seen, _files.read_file(fname)):
                    self._remove(fname)
        except (Busy, FileNotFoundError):
            pass  # someone is writing this key, or the directory is gone: nothing to drop

    def _remove(self, fname: str) -> bool:
        try:
            os.remove(fname)
        except FileNotFoundError:
            return False
        self._state.removed()
        return True

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        fname = self._key_to_file(key, version)
        data = _files.read_file(fname)
        offset = self._live(fname, data, locked=False)
        if offset is None:
            return default
        value = self._value(fname, data, offset, locked=False)  # type: ignore[arg-type]
        return default if value is _MISSING else value

    def has_key(self, key: Any, version: Any = None) -> bool:
        fname = self._key_to_file(key, version)
        return self._live(fname, _files.read_file(fname, _files.HEAD_BYTES), locked=False) is not None

    # -- writing ----------------------------------------------------------------------

    @contextmanager
    def _locked(self, fname: str, blocking: bool) -> Iterator[None]:
        try:
            fd = _files.acquire(fname, blocking=blocking)
        except FileNotFoundError:  # the cache directory was removed: recreate it as Django does
            self._createdir()
            fd = _files.acquire(fname, blocking=blocking)
        try:
            yield
        finally:
            _files.release(fd)

    def _payload(self, value: Any, timeout: Any) -> bytes:
        return _files.encode_expiry(self.get_backend_timeout(timeout)) + self._encode_value(value)

    def _store(self, fname: str, data: bytes) -> None:
        try:
            is_new = _files.write_file(self._dir, fname, data)
        except FileNotFoundError:
            self._createdir()
            is_new = _files.write_file(self._dir, fname, data)
        self._state.wrote(is_new)

    def _make_room(self, blocking: bool) -> None:
        state = self._state
        if not state.due(self._max_entries):
            return
        if not blocking:
            raise Busy("a directory scan is due")
        if state.scan_lock.acquire(blocking=False):  # one scanning thread is enough
            try:
                self._cull()
            finally:
                state.scan_lock.release()

    def _cull(self) -> None:
        """Django's rule, applied to a fresh scan: at MAX_ENTRIES drop a random
        ``1/CULL_FREQUENCY`` of the entries (all of them when CULL_FREQUENCY is 0)."""
        paths = _files.scan(self._dir, self.cache_suffix)
        count = len(paths)
        if count >= self._max_entries:
            doomed = paths if self._cull_frequency == 0 else random.sample(
                paths, int(count / self._cull_frequency))
            for path in doomed:
                try:
                    os.remove(path)
                    count -= 1
                except FileNotFoundError:
                    count -= 1  # someone else removed it
        self._state.scanned(count)

    def _set_file(self, fname: str, data: bytes, blocking: bool) -> None:
        self._make_room(blocking)
        with self._locked(fname, blocking):
            self._store(fname, data)

    def _add_file(self, fname: str, data: bytes, blocking: bool) -> bool:
        self._make_room(blocking)
        with self._locked(fname, blocking):
            current = _files.read_file(fname)
            offset = self._live(fname, current, locked=True)
            # A live header over a corrupt value is a miss for get(), so add() wins over it.
            if offset is not None and self._value(fname, current, offset, locked=True) is not _MISSING:  # type: ignore[arg-type]
                return False
            self._store(fname, data)
            return True

    def _touch_file(self, fname: str, timeout: Any, blocking: bool) -> bool:
        with self._locked(fname, blocking):
            data = _files.read_file(fname)
            offset = self._live(fname, data, locked=True)
            if offset is None:
                return False
            expiry = self.get_backend_timeout(timeout)
            self._store(fname, _files.encode_expiry(expiry) + data[offset:])  # type: ignore[index]
            return True

    def _incr_file(self, fname: str, key: Any, delta: Any, blocking: bool) -> Any:
        with self._locked(fname, blocking):
            data = _files.read_file(fname)
            offset = self._live(fname, data, locked=True)
            value = _MISSING if offset is None else self._value(fname, data, offset, locked=True)  # type: ignore[arg-type]
            if value is _MISSING:
                raise ValueError("Key '%s' not found" % key)
            new_value = value + delta
            # The expiry header is kept byte for byte: incr does not extend the entry's life.
            body = self._encode_value(new_value)
            self._store(fname, data[:offset] + body)  # type: ignore[index]
            return new_value

    def _delete_file(self, fname: str, blocking: bool) -> bool:
        if not os.path.isdir(self._dir):
            return False
        with self._locked(fname, blocking):
            return self._remove(fname)

    def _incr_version_files(self, old: str, new: str, key: Any, blocking: bool) -> None:
        # Three short critical sections, never two locks at once (no lock-order deadlock);
        # each step is safe to redo, so a Busy in a later step can restart the whole in a
        # thread. Like Django's get/set/delete, not atomic as a whole.
        with self._locked(old, blocking):
            data = _files.read_file(old)
            offset = self._live(old, data, locked=True)
            if offset is None or self._value(old, data, offset, locked=True) is _MISSING:  # type: ignore[arg-type]
                raise ValueError("Key '%s' not found" % key)
        if new == old:
            return
        self._make_room(blocking)
        with self._locked(new, blocking):
            self._store(new, data)  # type: ignore[arg-type]  # same bytes: same value, same expiry
        with self._locked(old, blocking):
            if _files.unchanged(data, _files.read_file(old)):  # type: ignore[arg-type]
                self._remove(old)

    def incr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        """Django's result, but the entry keeps its expiry (Django's re-``set`` resets it)."""
        if version is None:
            version = self.version
        old, new = self._key_to_file(key, version), self._key_to_file(key, version + delta)
        self._incr_version_files(old, new, key, True)
        return version + delta

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._set_file(self._key_to_file(key, version), self._payload(value, timeout), True)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._add_file(self._key_to_file(key, version), self._payload(value, timeout), True)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._touch_file(self._key_to_file(key, version), timeout, True)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._incr_file(self._key_to_file(key, version), key, delta, True)

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._delete_file(self._key_to_file(key, version), True)

    def clear(self) -> None:
        """Remove every entry, and the temp files of dead writers; keep the directory."""
        for path in _files.scan(self._dir, self.cache_suffix):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        self._state.scanned(0)

    # -- async twins --------------------------------------------------------------------

    async def _nonblocking(self, operation: Callable[..., T], *args: Any) -> T:
        try:
            return operation(*args, False)
        except Busy:
            return await sync_to_async(operation, thread_sensitive=False)(*args, True)

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self.get(key, default, version)

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        return self.has_key(key, version)

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        await self._nonblocking(self._set_file, self._key_to_file(key, version), self._payload(value, timeout))

    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return await self._nonblocking(
            self._add_file, self._key_to_file(key, version), self._payload(value, timeout))

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return await self._nonblocking(self._touch_file, self._key_to_file(key, version), timeout)

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self._nonblocking(self._incr_file, self._key_to_file(key, version), key, delta)

    async def adecr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return await self.aincr(key, -delta, version)

    async def adelete(self, key: Any, version: Any = None) -> bool:
        return await self._nonblocking(self._delete_file, self._key_to_file(key, version))

    async def aincr_version(self, key: Any, delta: int = 1, version: Any = None) -> int:
        if version is None:
            version = self.version
        old, new = self._key_to_file(key, version), self._key_to_file(key, version + delta)
        await self._nonblocking(self._incr_version_files, old, new, key)
        return version + delta

    async def aclear(self) -> None:
        await sync_to_async(self.clear, thread_sensitive=False)()

    async def aclose(self, **kwargs: Any) -> None:
        self.close(**kwargs)

    def server_stats(self) -> dict[str, Any]:
        """Entries and bytes in the directory, for ``cachestats``."""
        from django_altcache.metrics import server_stats

        return server_stats.files(self._dir, self.cache_suffix)

    # -- system check -----------------------------------------------------------------

    def check_backend(self, alias: str) -> list[checks.CheckMessage]:
        """Called by django_altcache.checks for each of our configured caches."""
        try:
            mode = os.stat(self._dir).st_mode
        except OSError:
            return []
        if mode & stat.S_IWOTH:
            return [checks.Warning(
                f"The cache directory {self._dir} is world-writable (mode {stat.S_IMODE(mode):o}): "
                "any local user can plant a cache file, and cache files are unpickled.",
                hint=f"chmod o-w {self._dir} (Django creates it 0o700).",
                obj=f"CACHES[{alias!r}]",
                id="django_altcache.W010",
            )]
        return []
