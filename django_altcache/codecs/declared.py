"""The codec options, declared once for every backend (``conf/common.py`` gathers them), and the
codec a parsed entry asks for."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django_altcache.conf.errors import CacheConfigError
from django_altcache.conf.spec import Option, Parsed

from .codec import Codec
from .errors import MissingLibrary
from .options import (
    DEFAULT_COMPRESS_MIN_LENGTH,
    build_codec,
    parse_compress_min_length,
    parse_compressor,
    parse_pickle_version,
    parse_serializer,
    parse_sign_values,
    parse_write_format,
)

GROUP = "Codecs (docs/codecs.md)"
SERIALIZER = Option("SERIALIZER", parse_serializer, parse_serializer("pickle"), group=GROUP,
                    doc="'pickle' (Django's bytes), 'json', 'msgpack', or a dotted path to a class with "
                        "dumps/loads (django-redis's paths understood).")
COMPRESSOR = Option("COMPRESSOR", parse_compressor, None, group=GROUP,
                    doc="None, 'zlib', 'zstd', 'lz4', 'gzip', 'lzma' or a dotted path; a compressed form is "
                        "kept only when smaller (extras [zstd], [lz4]).")
COMPRESS_MIN_LENGTH = Option("COMPRESS_MIN_LENGTH", parse_compress_min_length, DEFAULT_COMPRESS_MIN_LENGTH,
                             group=GROUP, doc="Serialized bytes below which a value is stored uncompressed.")
SIGN_VALUES = Option("SIGN_VALUES", parse_sign_values, None, group=GROUP,
                     doc="True or {'salt': ..., 'accept_unsigned': True or an ISO date}: an HMAC-SHA256 keyed "
                         "from SECRET_KEY (and its fallbacks) checked before anything is decoded.")
WRITE_FORMAT = Option("WRITE_FORMAT", parse_write_format, "tagged", group=GROUP,
                      doc="'django': read every format but write Django's bytes (the first deploy of a "
                          "rollout, the last of a rollback).")
PICKLE_VERSION = Option("PICKLE_VERSION", parse_pickle_version, -1, group=GROUP,
                        doc="django-redis's option: checked, no effect (values are pickled at the highest "
                            "protocol, as Django does).")
OPTIONS = (SERIALIZER, COMPRESSOR, COMPRESS_MIN_LENGTH, SIGN_VALUES, WRITE_FORMAT, PICKLE_VERSION)
NAMES = frozenset(option.name for option in OPTIONS)

_codecs: dict[tuple[int, str], tuple[Parsed, Codec | None]] = {}
_lock = threading.Lock()


def codec_of(parsed: Parsed, salt: str, options: Mapping[str, Any] | None = None) -> Codec | None:
    """The codec these options ask for, or None (the backend keeps Django's bytes, at no cost).

    ``salt`` is the cache's alias (the signing salt; ``SIGN_VALUES={'salt': ...}`` overrides it).
    Made once per parsed entry and salt: the signing keys are derived once.
    """
    if not parsed.given & NAMES:
        return None
    key = (id(parsed), salt)
    found = _codecs.get(key)
    if found is not None and found[0] is parsed:
        return found[1]
    try:
        codec = build_codec(serializer=parsed[SERIALIZER], compressor=parsed[COMPRESSOR],
                            compress_min_length=parsed[COMPRESS_MIN_LENGTH], sign_values=parsed[SIGN_VALUES],
                            write_format=parsed[WRITE_FORMAT], salt=salt, options=options)
    except MissingLibrary as exc:
        name = next((option.name for option in (SERIALIZER, COMPRESSOR) if option.name in parsed.given), "")
        raise CacheConfigError(str(exc), ("OPTIONS", name) if name else ("OPTIONS",)) from None
    except (TypeError, ValueError) as exc:
        raise CacheConfigError(str(exc), ("OPTIONS",)) from None
    with _lock:
        if len(_codecs) > 64:
            _codecs.clear()
        _codecs[key] = (parsed, codec)
    return codec
