"""The codec options: one converter per option, and ``build_codec`` from their values.

Converters raise ``TypeError``/``ValueError`` (``MissingLibrary`` for an optional
library that is not installed) with a message that does not repeat the option's name:
the option layer prefixes the setting's path. They are idempotent (a converted value
converts to itself), so ``build_codec`` accepts raw or converted values.
"""

from __future__ import annotations

import datetime as dt
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from . import compressors, serializers
from .codec import Codec
from .compressors.base import Compressor
from .serializers.base import Serializer

# Below this many bytes (serialized) a value is stored uncompressed: see docs/codecs.md
# ("COMPRESS_MIN_LENGTH") for the measurements behind it.
DEFAULT_COMPRESS_MIN_LENGTH = 1024
WRITE_FORMATS = ("tagged", "django")
SIGN_KEYS = ("salt", "accept_unsigned")


@dataclass(frozen=True)
class Choice:
    """A resolved SERIALIZER or COMPRESSOR: a built-in name, or a user class/instance."""

    name: str  # a built-in name, or "custom"
    target: Any = None  # the imported class or the instance, for "custom"
    path: str = ""  # as configured, for messages and repr

    def __repr__(self) -> str:
        return self.path or self.name


@dataclass(frozen=True)
class SigningConfig:
    salt: str | None = None  # None: the salt the option layer passes (the cache's alias)
    accept_unsigned_until: float | None = None  # Unix time; inf: until the setting is removed


def _choice(value: Any, kind: str, builtin: Mapping[str, Any], aliases: Mapping[str, str]) -> Choice:
    if isinstance(value, Choice):
        return value
    if isinstance(value, str):
        name = aliases.get(value, value.lower() if value.lower() in builtin else value)
        if name in builtin or name == compressors.NONE:
            return Choice(name, path=value if name != value else "")
        if "." not in value:
            raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(map(repr, builtin))} "
                             f"or the dotted path of a class")
        try:
            target = import_string(value)
        except ImportError as exc:
            raise ValueError(f"cannot import {value!r} ({exc})") from None
        return Choice("custom", target, value)
    if value is None:
        raise TypeError(f"expected the name of a {kind} or a dotted path, got None")
    # A class or an instance given directly.
    return Choice("custom", value, f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__qualname__)}")


def parse_serializer(value: Any) -> Choice:
    """SERIALIZER: "pickle" (default), "json", "msgpack", or a dotted path to a class with dumps/loads."""
    choice = _choice(value, "serializer", serializers.BUILTIN, serializers.ALIASES)
    if choice.name == compressors.NONE:
        raise ValueError(f"{value!r} is not a serializer")
    make_serializer(choice)  # a missing library (msgpack) or a bad class is reported now
    return choice


def parse_compressor(value: Any) -> Choice | None:
    """COMPRESSOR: None (default), "zlib", "zstd", "lz4", "gzip", "lzma", or a dotted path."""
    if value is None or value is False:
        return None
    choice = _choice(value, "compressor", compressors.BUILTIN, compressors.ALIASES)
    if choice.name == compressors.NONE:
        return None
    make_compressor(choice)
    return choice


def parse_compress_min_length(value: Any) -> int:
    """COMPRESS_MIN_LENGTH: bytes (serialized) below which a value is stored uncompressed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a number of bytes (an int >= 0), got {value!r}")
    if value < 0:
        raise ValueError(f"expected a number of bytes (an int >= 0), got {value!r}")
    return value


def _until(value: Any) -> float | None:
    if value is True:
        return math.inf
    if value is False or value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"accept_unsigned: expected True, False or an ISO date/datetime, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)  # a date alone means UTC midnight
        return value.timestamp()
    raise TypeError(f"accept_unsigned: expected True, False or an ISO date/datetime, got {value!r}")


def parse_sign_values(value: Any) -> SigningConfig | None:
    """SIGN_VALUES: False (default), True, or {"salt": str, "accept_unsigned": True | "YYYY-MM-DD[THH:MM]"}."""
    if isinstance(value, SigningConfig) or value is None:
        return value
    if value is False:
        return None
    if value is True:
        return SigningConfig()
    if not isinstance(value, Mapping):
        raise TypeError(f"expected True, False or a dict with {' and/or '.join(map(repr, SIGN_KEYS))}, got {value!r}")
    unknown = sorted(set(value) - set(SIGN_KEYS), key=str)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(map(repr, SIGN_KEYS))}")
    salt = value.get("salt")
    if salt is not None and (not isinstance(salt, str) or not salt):
        raise TypeError(f"salt: expected a non-empty string, got {salt!r}")
    return SigningConfig(salt=salt, accept_unsigned_until=_until(value.get("accept_unsigned", False)))


def parse_write_format(value: Any) -> str:
    """WRITE_FORMAT: "tagged" (default) or "django" (read every format, write Django's bytes)."""
    if value not in WRITE_FORMATS:
        raise ValueError(f"expected {' or '.join(map(repr, WRITE_FORMATS))}, got {value!r}")
    return value  # type: ignore[no-any-return]


def parse_pickle_version(value: Any) -> int:
    """PICKLE_VERSION (django-redis's): accepted and checked; values are always written with
    pickle.HIGHEST_PROTOCOL, and every protocol is read."""
    if isinstance(value, bool):
        raise TypeError(f"expected an int, got {value!r}")
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise TypeError(f"expected an int, got {value!r}") from None
    if version > pickle.HIGHEST_PROTOCOL or version < -1:
        raise ValueError(f"expected -1 to {pickle.HIGHEST_PROTOCOL}, got {value!r}")
    return version


def make_serializer(choice: Choice, options: Mapping[str, Any] | None = None) -> Serializer:
    if choice.name == "custom":
        from .serializers.custom import CustomSerializer

        return CustomSerializer(choice.target, repr(choice), options)
    return serializers.BUILTIN[choice.name]()


def make_compressor(choice: Choice | None, options: Mapping[str, Any] | None = None) -> Compressor | None:
    if choice is None:
        return None
    if choice.name == "custom":
        from .compressors.custom import CustomCompressor

        return CustomCompressor(choice.target, repr(choice), options)
    return compressors.BUILTIN[choice.name]()


def build_codec(*, serializer: Any = "pickle", compressor: Any = None,
                compress_min_length: Any = DEFAULT_COMPRESS_MIN_LENGTH, sign_values: Any = None,
                write_format: Any = "tagged", salt: str = "default",
                options: Mapping[str, Any] | None = None) -> Codec | None:
    """The codec of one cache, or None when every option is at its default (Django's
    bytes, and the backends keep their own zero-cost path).

    ``salt``: names the cache in the signing key (the option layer passes the alias);
    ``SIGN_VALUES={"salt": ...}`` overrides it. ``options``: the cache's OPTIONS, handed to
    user serializer/compressor classes that take ``options`` (django-redis's convention).
    """
    ser_choice = parse_serializer(serializer)
    comp_choice = parse_compressor(compressor)
    min_length = parse_compress_min_length(compress_min_length)
    signing = parse_sign_values(sign_values)
    fmt = parse_write_format(write_format)
    if ser_choice.name == "pickle" and comp_choice is None and signing is None and fmt == "tagged":
        return None
    if signing is not None and fmt == "django" and signing.accept_unsigned_until is None:
        raise ValueError("WRITE_FORMAT 'django' writes unsigned values, which SIGN_VALUES would refuse: "
                         "add 'accept_unsigned': True to SIGN_VALUES for the time of the migration")
    ser = make_serializer(ser_choice, options)
    signer = None
    if signing is not None:
        from .signing import from_settings

        signer = from_settings(signing.salt or salt, signing.accept_unsigned_until)
    return Codec(ser, make_compressor(comp_choice, options), min_length, signer, writes=fmt == "tagged",
                 untagged_serializer=None if ser.name == "pickle" else ser)
