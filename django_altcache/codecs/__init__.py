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
``from_params.py`` (interim: OPTIONS read by the backends).
"""

from __future__ import annotations

from .codec import Codec
from .errors import BadSignature, CorruptValue, MissingLibrary, UnreadableValue, UnsignedValue
from .from_params import CODEC_OPTIONS, codec_from_options, without_codec_options
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
    "CODEC_OPTIONS", "DEFAULT_COMPRESS_MIN_LENGTH", "BadSignature", "Codec", "CorruptValue", "MissingLibrary",
    "UnreadableValue", "UnsignedValue", "build_codec", "codec_from_options", "parse_compress_min_length",
    "parse_compressor", "parse_pickle_version", "parse_serializer", "parse_sign_values", "parse_write_format",
    "report_unreadable", "without_codec_options",
]
