"""On-disk pieces of the file-based cache: the entry format, atomic writes, key locks, scans.

The format is Django's (``django.core.cache.backends.filebased``), so either backend reads
the other's directory: one file per key named ``md5(key) + ".djcache"``, holding
``pickle.dumps(expiry)`` (a float of Unix time, or None for "never") followed by
``zlib.compress(pickle.dumps(value))``.

What is ours:
- temp files are named ``.altcache-<pid>-<n>.tmp`` so that a writer killed mid-write
  leaves something recognisable that ``scan`` removes once it is old (Django's own
  ``tmpXXXXXXXX`` leftovers too);
- per-key mutual exclusion across threads and processes with ``flock`` on one of
  ``LOCK_STRIPES`` lock files in ``.altcache-locks/`` (flock locks belong to an open
  file description, so each operation opening its own descriptor also excludes the
  other threads of its process; the kernel drops the lock of a killed process).
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.files import locks

TMP_PREFIX = ".altcache-"
TMP_SUFFIX = ".tmp"
LOCK_DIR = ".altcache-locks"
LOCK_STRIPES = 64
# A temp file is written in one go; one this old belongs to a dead or stuck writer.
STALE_TEMP_SECONDS = 60.0
# Django's FileBasedCache writes through tempfile.mkstemp(dir=...): "tmp" + 8 random chars.
_DJANGO_TMP = re.compile(r"tmp[a-z0-9_]{8}\Z")

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
# pickle.dumps(float, protocol >= 4) is a fixed 21 bytes: PROTO n, FRAME 10, BINFLOAT (8 bytes, big
# endian), STOP. Parsing that shape directly spares a BytesIO and an Unpickler per read.
_FLOAT_LEN = 21
_FRAME_10 = b"\x95" + (10).to_bytes(8, "little")
_NONE_TAILS = (b"N.",)

_counter = itertools.count()


class CorruptEntry(ValueError):
    """The bytes of a cache file are not a Django cache entry."""


def encode_expiry(expiry: float | None) -> bytes:
    return pickle.dumps(expiry, PICKLE_PROTOCOL)


def encode_value(value: object) -> bytes:
    return zlib.compress(pickle.dumps(value, PICKLE_PROTOCOL))


def encode(expiry: float | None, value: object) -> bytes:
    return encode_expiry(expiry) + zlib.compress(pickle.dumps(value, PICKLE_PROTOCOL))


class _ExpiryUnpickler(pickle.Unpickler):
    """The expiry header is a float, an int or None: it never names a class or a function,
    so one that does is refused before anything runs (a planted file cannot execute code
    through the header, whatever the codec settings)."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"the expiry header names {module}.{name}")


def split(data: bytes) -> tuple[float | None, int]:
    """The expiry of an entry and the offset where its compressed value starts."""
    if len(data) >= _FLOAT_LEN and data[0] == 0x80 and data[2:11] == _FRAME_10 and data[11:12] == b"G" \
            and data[20:21] == b".":
        return struct.unpack(">d", data[12:20])[0], _FLOAT_LEN
    if len(data) >= 4 and data[0] == 0x80 and data[2:4] in _NONE_TAILS:
        return None, 4
    stream = io.BytesIO(data)
    try:
        expiry = _ExpiryUnpickler(stream).load()
    except Exception as exc:  # any garbage: pickle raises many types
        raise CorruptEntry(f"unreadable expiry header ({exc!r})") from exc
    if expiry is not None and not isinstance(expiry, (int, float)):
        raise CorruptEntry(f"expiry header is a {type(expiry).__name__}")
    return expiry, stream.tell()


def decode_value(data: bytes, offset: int) -> object:
    try:
        return pickle.loads(zlib.decompress(data[offset:]))
    except Exception as exc:  # zlib.error, truncated pickles, unknown classes
        raise CorruptEntry(f"unreadable value ({exc!r})") from exc


def write_file(directory: str, path: str, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data``; return whether ``path`` is a new entry.

    Readers see the old file or the new one, never a partial one (rename is atomic on
    POSIX and Windows). The temp file is created 0o600 (before umask), as Django's
    ``mkstemp`` does; the directory must exist.
    """
    for _attempt in range(5):
        tmp = f"{directory}{os.sep}{TMP_PREFIX}{os.getpid()}-{next(_counter)}{TMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:  # a leftover of an earlier process that had our pid
            continue
        break
    else:
        raise FileExistsError(f"could not create a temp file in {directory}")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        is_new = not os.path.exists(path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return is_new


# has_key needs only the expiry header (21 bytes as Django writes it): reading this much
# spares reading big values, and still holds the longest header any pickle protocol makes.
HEAD_BYTES = 4096


def read_file(path: str, limit: int = -1) -> bytes | None:
    # builtins.open, looked up at call time like Django's backend does: Django's tests
    # patch it to simulate races and I/O errors.
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except FileNotFoundError:
        return None


def unchanged(seen: bytes, current: bytes | None) -> bool:
    """Whether a file still holds what was read from it (``seen`` may be a HEAD_BYTES prefix)."""
    if current is None:
        return False
    if len(seen) == HEAD_BYTES:
        return current.startswith(seen)
    return current == seen


class Busy(Exception):
    """A non-blocking lock attempt found the key locked."""


def acquire(path: str, *, blocking: bool = True) -> int:
    """Lock the stripe of cache file ``path`` (threads and processes); returns the descriptor
    to hand to ``release``.

    Raises ``Busy`` when not ``blocking`` and the stripe is held, FileNotFoundError when the
    cache directory itself is gone (the caller recreates it with Django's modes).
    """
    directory, name = os.path.split(path)
    lock_dir = os.path.join(directory, LOCK_DIR)
    stripe = os.path.join(lock_dir, f"{int(name[:2], 16) % LOCK_STRIPES:02x}")
    try:
        fd = os.open(stripe, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        try:
            os.mkdir(lock_dir, 0o700)
        except FileExistsError:
            pass
        fd = os.open(stripe, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not locks.lock(fd, locks.LOCK_EX if blocking else locks.LOCK_EX | locks.LOCK_NB):
            raise Busy(name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int) -> None:
    os.close(fd)  # closing the only descriptor of the open file releases its flock


@contextmanager
def key_lock(path: str, *, blocking: bool = True) -> Iterator[None]:
    fd = acquire(path, blocking=blocking)
    try:
        yield
    finally:
        release(fd)


@dataclass(eq=False)
class DirState:
    """What a process knows about a cache directory between scans (shared by its threads).

    ``count`` is the number of entries at the last scan plus the files this process
    created since, minus those it removed; other processes' writes show up at the next
    scan, which happens at least every ``rescan_every(max_entries)`` writes.
    """

    count: int | None = None
    writes: int = 0
    scan_lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, max_entries: int) -> bool:
        if self.count is None or self.count >= max_entries:
            return True
        return self.writes >= rescan_every(max_entries)

    def scanned(self, count: int) -> None:
        self.count, self.writes = count, 0

    def wrote(self, is_new: bool) -> None:
        self.writes += 1
        if is_new and self.count is not None:
            self.count += 1

    def removed(self) -> None:
        if self.count:
            self.count -= 1

    def forked(self) -> None:
        # A child process starts with its own view (other processes' files are now
        # "unknown"), and a fresh lock: the parent's may have been held by a thread
        # that does not exist in the child.
        self.count, self.writes, self.scan_lock = None, 0, threading.Lock()


def rescan_every(max_entries: int) -> int:
    # A scan reads about max_entries names; spacing scans by a fraction of that keeps
    # the amortized cost per set constant while bounding how far a directory shared by
    # several processes can overshoot MAX_ENTRIES (by ~1/8 per writing process).
    return max(256, max_entries // 8)


def scan(directory: str, suffix: str, now: float | None = None) -> list[str]:
    """Paths of the cache entries in ``directory``; stale temp files are removed on the way."""
    now = time.time() if now is None else now
    entries: list[str] = []
    try:
        iterator = os.scandir(directory)
    except FileNotFoundError:
        return entries
    with iterator:
        for entry in iterator:
            name = entry.name
            if name.endswith(suffix):
                entries.append(entry.path)
            elif (name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)) or _DJANGO_TMP.match(name):
                remove_if_stale(entry.path, now)
    return entries


def remove_if_stale(path: str, now: float) -> bool:
    try:
        if now - os.stat(path).st_mtime < STALE_TEMP_SECONDS:
            return False
        os.remove(path)
    except FileNotFoundError:
        return False
    return True
