"""Codecs: serializers, compressors and signed values for every backend (docs/codecs.md).

Off by default: with every option at its default ``build_codec`` returns None and the
backends write Django's bytes through their own code, at today's cost. On, every value
is written in a self-describing tagged format (format.py) that one reader
configuration decodes whatever wrote it, alongside Django's and django-redis's
untagged values.

Layout: ``serializers/`` and ``compressors/`` (a base and one small module per
implementation), ``signing.py`` (HMAC keys), ``format.py`` (the header), ``codec.py``
(encode/decode), ``legacy.py`` (untagged values), ``options.py`` (one converter per
option, ``build_codec``), ``report.py`` (rate-limited logging of unreadable values),
``declared.py`` (the options as declared for the backends' specs, and ``codec_of``).
"""

from __future__ import annotations

from .codec import Codec
from .errors import BadSignature, CorruptValue, MissingLibrary, UnreadableValue, UnsignedValue
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
from .report import report_unreadable

__all__ = [
    "DEFAULT_COMPRESS_MIN_LENGTH", "BadSignature", "Codec", "CorruptValue", "MissingLibrary",
    "UnreadableValue", "UnsignedValue", "build_codec", "parse_compress_min_length",
    "parse_compressor", "parse_pickle_version", "parse_serializer", "parse_sign_values", "parse_write_format",
    "report_unreadable",
]
