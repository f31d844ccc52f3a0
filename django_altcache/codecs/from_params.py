"""Interim: a backend's codec read from its CACHES params, until the option spec does it.

# lead: move to the option spec (django_altcache/conf/). The converters and their
# defaults are in options.py; the salt should be the cache's alias, which the option
# layer knows and Django does not pass to backends (``alias_of`` finds it meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_altcache.options import CacheConfigError, setting_path

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

# OPTIONS name -> (converter, default, build_codec keyword or None when only checked).
SPEC: dict[str, tuple[Any, Any, str | None]] = {
    "SERIALIZER": (parse_serializer, "pickle", "serializer"),
    "COMPRESSOR": (parse_compressor, None, "compressor"),
    "COMPRESS_MIN_LENGTH": (parse_compress_min_length, DEFAULT_COMPRESS_MIN_LENGTH, "compress_min_length"),
    "SIGN_VALUES": (parse_sign_values, False, "sign_values"),
    "WRITE_FORMAT": (parse_write_format, "tagged", "write_format"),
    "PICKLE_VERSION": (parse_pickle_version, -1, None),
}
CODEC_OPTIONS = frozenset(SPEC)


def without_codec_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` minus ours, so they never reach a client library (which would refuse them)."""
    for name in CODEC_OPTIONS:
        options.pop(name, None)
    return options


def alias_of(params: Mapping[str, Any], location: Any) -> str | None:
    """The alias whose CACHES entry built ``params`` (Django passes a copy without BACKEND
    and LOCATION); the first by name when several are identical (same cache, same salt)."""
    from django.conf import settings

    try:
        caches = settings.CACHES
    except Exception:  # noqa: BLE001 - settings not configured: no alias to find
        return None
    for alias in sorted(caches, key=str):
        entry = dict(caches[alias])
        entry.pop("BACKEND", None)
        if entry.pop("LOCATION", "") == location and entry == dict(params):
            return str(alias)
    return None


def codec_from_options(params: Mapping[str, Any], location: Any = None) -> Codec | None:
    """The codec of the cache built from ``params``, or None (Django's bytes)."""
    options = params.get("OPTIONS") or {}
    if not isinstance(options, Mapping) or not CODEC_OPTIONS.intersection(options):
        return None
    values: dict[str, Any] = {}
    for name, (convert, default, keyword) in SPEC.items():
        try:
            value = convert(options[name]) if name in options else default
        except (TypeError, ValueError) as exc:
            raise CacheConfigError(f"{setting_path(name, location)}: {exc}") from exc
        if keyword is not None:
            values[keyword] = value
    salt = alias_of(params, location) or "default"
    try:
        return build_codec(**values, salt=salt, options=options)
    except MissingLibrary as exc:
        raise CacheConfigError(f"CACHES[...]['OPTIONS'] (LOCATION={location!r}): {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise CacheConfigError(f"CACHES[...]['OPTIONS'] (LOCATION={location!r}): {exc}") from exc
