"""No I/O: value encoding, Lua scripts, key patterns and reply parsing.

Shared by the sync client and its asyncio twin so both send the same commands and
read replies the same way.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from typing import Any

from django_altcache.backends.base import logger
from django_altcache.codecs import UnreadableValue, report_unreadable

# Django's format (django/core/cache/backends/redis.py): an exact int is stored raw
# so INCRBY works on it, everything else is pickled. Pickle protocol 2+ output
# starts with the PROTO opcode 0x80, which no decimal integer does, so the reader
# picks the decoder from the first byte instead of trying int() and catching.
_PROTO = 0x80


class RedisSerializer:
    """Byte-compatible with Django's ``RedisSerializer``."""

    def __init__(self, protocol: int | None = None) -> None:
        self.protocol = pickle.HIGHEST_PROTOCOL if protocol is None else protocol

    def dumps(self, obj: Any) -> Any:
        if type(obj) is int:
            return obj
        return pickle.dumps(obj, self.protocol)

    def loads(self, data: bytes) -> Any:
        if data[:1] != b"\x80":
            try:
                return int(data)
            except ValueError:
                pass
        return pickle.loads(data)


def log_corrupt(key: Any, exc: BaseException) -> None:
    """A stored value that cannot be decoded is reported, then read as a miss.

    A codec's failures (a bad signature, say) may come in floods (a SECRET_KEY rotated
    without a fallback): those are rate-limited.
    """
    if isinstance(exc, UnreadableValue):
        report_unreadable("redis", key, exc)
        return
    logger.warning("django_altcache: cannot decode the value of cache key %r (%s: %s); "
                   "treating it as a miss and deleting it", key, type(exc).__name__, exc)


# INCRBY keeps the key's TTL; checking existence in the same script makes incr a
# single atomic round trip (Django does EXISTS then INCRBY: a key expiring in
# between comes back without a TTL).
INCR_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""

# Drop a corrupt value only if nobody replaced it since we read it.
DELETE_IF_EQUAL_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Several keys with one expiry in one command (Django: MSET, then EXPIRE per key).
SET_MANY_LUA = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'EX', ttl)
end
return #KEYS
"""


# incr_version: the value moves to its new version's key with the TTL it has left
# (Django's get + set + delete gives it the default timeout). Same key (delta 0): kept.
MOVE_LUA = """
local value = redis.call('GET', KEYS[1])
if not value then
  return false
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[2], value, 'PX', ttl)
else
  redis.call('SET', KEYS[2], value)
end
if KEYS[1] ~= KEYS[2] then
  redis.call('DEL', KEYS[1])
end
return 1
"""


class Script:
    """A Lua script sent by SHA1, loaded on first NOSCRIPT (no per-call hashing)."""

    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


INCR = Script(INCR_LUA)
DELETE_IF_EQUAL = Script(DELETE_IF_EQUAL_LUA)
SET_MANY = Script(SET_MANY_LUA)
MOVE = Script(MOVE_LUA)

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters (MATCH/KEYS patterns)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def ttl_reply(reply: int) -> int | None:
    """TTL's -2 (no key) -> 0 and -1 (no expiry) -> None, as django-redis."""
    if reply == -2:
        return 0
    if reply == -1:
        return None
    return reply


def missing_key(key: Any) -> ValueError:
    return ValueError(f"Key '{key}' not found.")


DELETE_BATCH = 500  # keys per DEL/UNLINK while deleting by pattern
SCAN_COUNT = 500
