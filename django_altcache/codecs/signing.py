"""HMAC-SHA256 of every stored value, keyed from SECRET_KEY with a salt per cache.

The key of each cache is derived as Django's ``salted_hmac`` derives its keys,
``sha256(key_salt + secret)`` with ``key_salt = "django_altcache.codecs.signing:" +
salt``, and the salt names the cache (its alias), so a value signed for one cache does
not verify in another. New values are signed with ``SECRET_KEY``; values signed with
any of ``SECRET_KEY_FALLBACKS`` still verify, so keys rotate without a cold cache.

The tag is HMAC-SHA256 (RFC 2104) over the 4-byte header and the payload, truncated to
16 bytes (RFC 4868's HMAC-SHA-256-128). The inner and outer hash states of each key
are computed once, so a value costs two ``copy()``/``update()``/``digest()`` rounds
instead of Python's ``hmac`` set-up per call (about 1 µs instead of 2 µs per value).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any

from .format import TAG_LEN

KEY_SALT = "django_altcache.codecs.signing:"
_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def derive_key(secret: str | bytes, salt: str) -> bytes:
    secret_bytes = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hashlib.sha256((KEY_SALT + salt).encode() + secret_bytes).digest()


class _Key:
    """One HMAC-SHA256 key with its padded inner and outer states precomputed."""

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        padded = key.ljust(_BLOCK, b"\0")  # keys of at most 64 bytes are zero-padded (RFC 2104)
        self.inner = hashlib.sha256(padded.translate(_IPAD))
        self.outer = hashlib.sha256(padded.translate(_OPAD))

    def tag(self, header: bytes | memoryview, payload: bytes | memoryview) -> bytes:
        inner = self.inner.copy()
        inner.update(header)
        inner.update(payload)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_LEN]


class Signer:
    """Signs with the first key; verifies with any. ``accept_unsigned_until``: the
    migration window (None: closed, ``inf``: open until the setting is removed)."""

    def __init__(self, secret: str | bytes, fallbacks: Iterable[str | bytes], salt: str,
                 accept_unsigned_until: float | None = None) -> None:
        keys = [derive_key(secret, salt), *(derive_key(old, salt) for old in fallbacks)]
        self._keys = [_Key(key) for key in keys]
        self._signing = self._keys[0]
        self.salt = salt
        self.accept_unsigned_until = accept_unsigned_until
        # Names the key without revealing it: caches with different keys never share a client.
        self.fingerprint = hashlib.sha256(b"fingerprint:" + keys[0]).hexdigest()[:12]

    def sign(self, header: bytes, payload: bytes | memoryview) -> bytes:
        return self._signing.tag(header, payload)

    def verify(self, header: bytes | memoryview, payload: bytes | memoryview, tag: bytes | memoryview) -> bool:
        for key in self._keys:
            if hmac.compare_digest(key.tag(header, payload), tag):
                return True
        return False

    def accepts_unsigned(self) -> bool:
        until = self.accept_unsigned_until
        return until is not None and time.time() < until

    def __repr__(self) -> str:
        window = "" if self.accept_unsigned_until is None else f", accept_unsigned_until={self.accept_unsigned_until}"
        return f"Signer(key={self.fingerprint}, fallbacks={len(self._keys) - 1}{window})"


def from_settings(salt: str, accept_unsigned_until: float | None) -> Signer:
    """A signer keyed from ``settings.SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, read now."""
    from django.conf import settings

    secret: Any = settings.SECRET_KEY  # Django raises ImproperlyConfigured when it is empty
    if not secret:
        raise ValueError("signing needs settings.SECRET_KEY, which is empty")
    fallbacks = list(getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    return Signer(secret, fallbacks, salt, accept_unsigned_until)
