"""Serializers: one module each, resolved from the SERIALIZER option.

Built-in names: ``"pickle"`` (Django's bytes), ``"json"``, ``"msgpack"``. django-redis's
dotted paths map to them without importing django-redis; any other dotted path (or a
class, or an instance) is a user serializer (``custom``).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Serializer


def _pickle() -> Serializer:
    from .pickle import PickleSerializer

    return PickleSerializer()


def _json() -> Serializer:
    from .json import JSONSerializer

    return JSONSerializer()


def _msgpack() -> Serializer:
    from .msgpack import MsgPackSerializer

    return MsgPackSerializer()


BUILTIN: dict[str, Callable[[], Serializer]] = {"pickle": _pickle, "json": _json, "msgpack": _msgpack}
IDS = {1: "pickle", 2: "json", 3: "msgpack"}

# django-redis's classes and ours, by dotted path: mapped, never imported.
ALIASES = {
    "django_redis.serializers.pickle.PickleSerializer": "pickle",
    "django_redis.serializers.json.JSONSerializer": "json",
    "django_redis.serializers.msgpack.MSGPackSerializer": "msgpack",
    "django_altcache.codecs.serializers.pickle.PickleSerializer": "pickle",
    "django_altcache.codecs.serializers.json.JSONSerializer": "json",
    "django_altcache.codecs.serializers.msgpack.MsgPackSerializer": "msgpack",
}

_by_id: dict[int, Serializer] = {}


def by_id(serializer_id: int) -> Serializer | None:
    """The built-in serializer for a header id (user ids are resolved by the codec)."""
    found = _by_id.get(serializer_id)
    if found is None and serializer_id in IDS:
        try:
            found = _by_id[serializer_id] = BUILTIN[IDS[serializer_id]]()
        except ValueError:  # MissingLibrary: this reader cannot decode it
            return None
    return found


__all__ = ["ALIASES", "BUILTIN", "Serializer", "by_id"]
