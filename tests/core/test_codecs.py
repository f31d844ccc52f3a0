"""The codec package on its own: format, converters, strict serializers, signing,
untagged values (Django's and django-redis's), missing libraries."""

from __future__ import annotations

import builtins
import datetime as dt
import gzip
import lzma
import os
import pickle
import time
import zlib
from typing import Any

import pytest
from django.test.utils import override_settings

from django_altcache.codecs import (
    BadSignature,
    CorruptValue,
    MissingLibrary,
    UnreadableValue,
    UnsignedValue,
    build_codec,
    parse_compress_min_length,
    parse_compressor,
    parse_pickle_version,
    parse_serializer,
    parse_sign_values,
    parse_write_format,
)
from django_altcache.codecs import compressors as compressor_registry
from django_altcache.codecs.format import MAGIC, TAG_LEN
from django_altcache.conf import CacheConfigError
from tests.codec_matrix import MATRIX, MATRIX_IDS, MIN_LENGTH, codec_options, sample_values, tamper


def codec_from_options(params: dict[str, Any], location: str = "codec-tests") -> Any:
    """The codec a backend builds from these CACHES params (through the option spec)."""
    from django_altcache.backends.locmem import LocMemCache

    return LocMemCache(location, dict(params))._codec


def codec(**kwargs: Any) -> Any:
    built = build_codec(**kwargs)
    assert built is not None
    return built


def test_defaults_build_no_codec() -> None:
    assert build_codec() is None
    assert build_codec(serializer="pickle", compressor=None, sign_values=False) is None
    assert build_codec(serializer="django_redis.serializers.pickle.PickleSerializer",
                       compressor="django_redis.compressors.identity.IdentityCompressor") is None
    assert codec_from_options({"OPTIONS": {"SIGN_VALUES": False, "COMPRESSOR": None}}) is None
    assert codec_from_options({}) is None


@pytest.mark.parametrize(("serializer", "compressor", "sign"), MATRIX, ids=MATRIX_IDS)
def test_round_trip_matrix(serializer: str, compressor: str | None, sign: bool) -> None:
    c = build_codec(serializer=serializer, compressor=compressor, sign_values=sign, compress_min_length=MIN_LENGTH)
    if c is None:  # the defaults: no codec, the backends' own Django path
        assert (serializer, compressor, sign) == ("pickle", None, False)
        return
    for key, value in sample_values(serializer).items():
        data = c.encode(value)
        assert data[0] == MAGIC and data[2] == c.serializer.id
        got = c.decode(data)
        assert got == value and type(got) is type(value), key


def test_compression_only_above_the_threshold_and_only_when_smaller() -> None:
    c = codec(compressor="zlib", compress_min_length=100)
    below = c.encode("a" * 50)
    assert below[3] == 0
    above = c.encode("a" * 500)
    assert above[3] == 1 and len(above) < 100
    noise = os.urandom(400)
    incompressible = c.encode(noise)  # zlib would grow it
    assert incompressible[3] == 0
    assert c.decode(incompressible) == noise


def test_boundary_exact() -> None:
    c = codec(serializer="json", compressor="zlib", compress_min_length=300)
    # json of a str of n "a" is n + 2 bytes
    assert c.encode("a" * 297)[3] == 0  # 299 bytes: below
    assert c.encode("a" * 298)[3] == 1  # 300 bytes: at the threshold, compressed


@pytest.mark.parametrize("value", [(1, 2), {1: "x"}, {"a": [{"b": (1,)}]}, b"x", {1.5}, dt.date.today()])
def test_json_refuses_what_would_change_type(value: Any) -> None:
    c = codec(serializer="json")
    with pytest.raises(TypeError, match="json serializer cannot store"):
        c.encode(value)


def test_json_error_names_type_and_place() -> None:
    with pytest.raises(TypeError, match=r"type tuple at value\['a'\]\[0\]\['b'\]"):
        codec(serializer="json").encode({"a": [{"b": (1,)}]})
    from django.utils.safestring import mark_safe

    with pytest.raises(TypeError, match="django.utils.safestring.SafeString"):
        codec(serializer="json").encode({"html": mark_safe("<b>")})


def test_json_keeps_floats_exact() -> None:
    c = codec(serializer="json")
    for value in (0.1, -0.0, 1e308, float("inf"), 1.0, 2 ** 80):
        got = c.decode(c.encode(value))
        assert got == value and type(got) is type(value)
    assert c.decode(c.encode(float("nan"))) != c.decode(c.encode(float("nan")))  # still NaN


def test_msgpack_refuses_tuples_subclasses_and_huge_ints() -> None:
    c = codec(serializer="msgpack")
    with pytest.raises(TypeError, match=r"type tuple at value\[0\]"):
        c.encode([(1,)])
    with pytest.raises(TypeError, match="64-bit"):
        c.encode({"n": 2 ** 70})
    from collections import OrderedDict

    with pytest.raises(TypeError, match="OrderedDict"):
        c.encode(OrderedDict(a=1))
    assert c.decode(c.encode({1: b"\x00", "s": "x"})) == {1: b"\x00", "s": "x"}


def test_unknown_names_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown serializer 'yaml'"):
        parse_serializer("yaml")
    with pytest.raises(ValueError, match="cannot import 'nope.Missing'"):
        parse_serializer("nope.Missing")
    with pytest.raises(ValueError, match="unknown compressor 'brotli'"):
        parse_compressor("brotli")
    with pytest.raises(TypeError):
        parse_compress_min_length("10")
    with pytest.raises(ValueError):
        parse_compress_min_length(-1)
    with pytest.raises(TypeError):
        parse_compress_min_length(True)
    with pytest.raises(TypeError):
        parse_sign_values("yes")
    with pytest.raises(ValueError, match="unknown key"):
        parse_sign_values({"key": "x"})
    with pytest.raises(ValueError, match="ISO"):
        parse_sign_values({"accept_unsigned": "soon"})
    with pytest.raises(ValueError):
        parse_write_format("json")
    with pytest.raises(ValueError):
        parse_pickle_version(99)
    assert parse_pickle_version(-1) == -1
    assert parse_compressor(None) is None
    assert parse_compressor("django_redis.compressors.identity.IdentityCompressor") is None
    assert parse_compress_min_length(0) == 0


def test_converters_are_idempotent() -> None:
    for convert, value in ((parse_serializer, "json"), (parse_compressor, "zstd"),
                           (parse_sign_values, {"salt": "s", "accept_unsigned": "2030-01-01"}),
                           (parse_write_format, "django")):
        once = convert(value)
        assert convert(once) == once


@pytest.mark.parametrize(("path", "name"), [
    ("django_redis.serializers.json.JSONSerializer", "json"),
    ("django_redis.serializers.msgpack.MSGPackSerializer", "msgpack"),
    ("django_redis.serializers.pickle.PickleSerializer", "pickle"),
])
def test_django_redis_serializer_paths(path: str, name: str, monkeypatch: Any) -> None:
    real_import = builtins.__import__

    def no_django_redis(module: str, *args: Any, **kwargs: Any) -> Any:
        if module.startswith("django_redis"):
            raise ImportError("django-redis is not needed")
        return real_import(module, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_django_redis)
    assert parse_serializer(path).name == name


@pytest.mark.parametrize(("path", "name"), [
    ("django_redis.compressors.zlib.ZlibCompressor", "zlib"),
    ("django_redis.compressors.zstd.ZStdCompressor", "zstd"),
    ("django_redis.compressors.lz4.Lz4Compressor", "lz4"),
    ("django_redis.compressors.lzma.LzmaCompressor", "lzma"),
    ("django_redis.compressors.gzip.GzipCompressor", "gzip"),
])
def test_django_redis_compressor_paths(path: str, name: str) -> None:
    choice = parse_compressor(path)
    assert choice is not None and choice.name == name
    c = codec(compressor=path, compress_min_length=10)
    assert c.decode(c.encode("z" * 1000)) == "z" * 1000


class Rot13:
    """A user serializer, django-redis style (takes options)."""

    codec_id = 200

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def dumps(self, value: str) -> bytes:
        return value.encode()[::-1]

    def loads(self, data: bytes) -> str:
        return data[::-1].decode()


class Reverse:
    def compress(self, data: bytes) -> bytes:
        return data[::-1][:-1] if False else data[:-1] + b""  # drop nothing useful: never smaller

    def decompress(self, data: bytes) -> bytes:
        return data


def test_user_classes_by_dotted_path() -> None:
    c = codec(serializer=f"{__name__}.Rot13", options={"X": 1})
    data = c.encode("hello")
    assert data[2] == 200 and c.decode(data) == "hello"
    assert c.serializer.obj.options == {"X": 1}
    with pytest.raises(ValueError, match="codec_id"):
        class Bad(Rot13):
            codec_id = 3
        build_codec(serializer=Bad)


def test_missing_library_names_the_extra(monkeypatch: Any) -> None:
    real_import = builtins.__import__

    def missing(module: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level == 0 and (module in ("msgpack", "compression", "backports") or module.startswith("lz4")):
            raise ImportError(f"No module named {module!r}")
        return real_import(module, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", missing)
    for convert, value, extra in ((parse_serializer, "msgpack", "msgpack"), (parse_compressor, "lz4", "lz4"),
                                  (parse_compressor, "zstd", "zstd")):
        with pytest.raises(MissingLibrary, match=rf'pip install "django-altcache\[{extra}\]"'):
            convert(value)
    with pytest.raises(CacheConfigError, match=r"\['COMPRESSOR'\].*django-altcache\[zstd\]"):
        codec_from_options({"OPTIONS": {"COMPRESSOR": "zstd"}}, "somewhere")


# -- signing ------------------------------------------------------------------------------

def test_signature_verified_before_decoding(monkeypatch: Any) -> None:
    c = codec(sign_values=True, compressor="zlib", compress_min_length=10)
    data = c.encode({"x": "y" * 100})
    assert data[1] & 1 and len(data) > 4 + TAG_LEN
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append("loads"))
    monkeypatch.setattr(zlib, "decompress", lambda *a, **k: calls.append("decompress"))
    c2 = codec(sign_values=True, compressor="zlib", compress_min_length=10)  # binds the patched functions
    for bad in tamper(data):
        with pytest.raises(UnreadableValue):
            c2.decode(bad)
    assert calls == []


@pytest.mark.parametrize("bad", ["truncated", "flipped"])
def test_tampered_values_are_unreadable(bad: str) -> None:
    c = codec(serializer="json", sign_values=True)
    data = c.encode(["payload", 1])
    for tampered in tamper(data):
        with pytest.raises(UnreadableValue):
            c.decode(tampered)


def test_salt_separates_caches() -> None:
    a = codec(sign_values=True, salt="a")
    b = codec(sign_values=True, salt="b")
    with pytest.raises(BadSignature):
        b.decode(a.encode("x"))
    shared = codec(sign_values={"salt": "a"}, salt="b")
    assert shared.decode(a.encode("x")) == "x"


def test_secret_key_rotation_with_fallbacks() -> None:
    with override_settings(SECRET_KEY="old-key"):
        old = codec(sign_values=True).encode("kept")
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert codec(sign_values=True).decode(old) == "kept"
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        with pytest.raises(BadSignature):
            codec(sign_values=True).decode(old)


def test_unsigned_values_refused_unless_in_the_migration_window() -> None:
    unsigned_tagged = codec(serializer="json").encode("x")
    django_bytes = pickle.dumps("x", pickle.HIGHEST_PROTOCOL)
    strict = codec(sign_values=True)
    for data in (unsigned_tagged, django_bytes):
        with pytest.raises(UnsignedValue):
            strict.decode(data)
    window = codec(sign_values={"accept_unsigned": True})
    assert window.decode(unsigned_tagged) == "x" and window.decode(django_bytes) == "x"
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    assert codec(sign_values={"accept_unsigned": future}).decode(django_bytes) == "x"
    with pytest.raises(UnsignedValue, match="window has closed"):
        codec(sign_values={"accept_unsigned": "2001-01-01"}).decode(django_bytes)


def test_reader_without_signing_reads_signed_values() -> None:
    signed = codec(serializer="msgpack", sign_values=True).encode([1, 2])
    assert codec(compressor="zlib").decode(signed) == [1, 2]


def test_write_format_django() -> None:
    reader = codec(write_format="django")
    assert not reader.writes
    assert reader.decode(codec(serializer="json", compressor="zstd").encode({"a": 1})) == {"a": 1}
    with pytest.raises(ValueError, match="accept_unsigned"):
        build_codec(write_format="django", sign_values=True)
    assert build_codec(write_format="django", sign_values={"accept_unsigned": True}) is not None


def test_signing_cost_is_one_hmac() -> None:
    # Not a speed assertion: the tag is the standard HMAC-SHA256, truncated.
    import hashlib
    import hmac

    from django_altcache.codecs.signing import derive_key

    c = codec(sign_values=True, salt="s")
    data = c.encode("v")
    key = derive_key("django-altcache-tests", "s")
    assert data[4:4 + TAG_LEN] == hmac.new(key, data[:4] + data[4 + TAG_LEN:], hashlib.sha256).digest()[:TAG_LEN]


# -- untagged values ----------------------------------------------------------------------

def test_untagged_django_pickles_and_protocols() -> None:
    c = codec(compressor="zstd")
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert c.decode(pickle.dumps({"p": protocol}, protocol)) == {"p": protocol}


@pytest.mark.parametrize("serializer", ["pickle", "json", "msgpack"])
@pytest.mark.parametrize("compressor", ["identity", "zlib", "gzip", "lzma", "lz4", "zstd"])
def test_untagged_django_redis_values(serializer: str, compressor: str) -> None:
    from django.utils.module_loading import import_string

    ser_path = {"pickle": "django_redis.serializers.pickle.PickleSerializer",
                "json": "django_redis.serializers.json.JSONSerializer",
                "msgpack": "django_redis.serializers.msgpack.MSGPackSerializer"}[serializer]
    comp_path = {"identity": "django_redis.compressors.identity.IdentityCompressor",
                 "zlib": "django_redis.compressors.zlib.ZlibCompressor",
                 "gzip": "django_redis.compressors.gzip.GzipCompressor",
                 "lzma": "django_redis.compressors.lzma.LzmaCompressor",
                 "lz4": "django_redis.compressors.lz4.Lz4Compressor",
                 "zstd": "django_redis.compressors.zstd.ZStdCompressor"}[compressor]
    theirs_ser, theirs_comp = import_string(ser_path)(options={}), import_string(comp_path)(options={})
    ours = build_codec(serializer=ser_path, compressor=comp_path) or codec(write_format="django")
    for value in ({"a": [1, "x" * 300]}, "short", [1.5, None], {}):
        data = theirs_comp.compress(theirs_ser.dumps(value))
        assert ours.decode(data) == value


def test_untagged_garbage_is_corrupt() -> None:
    with pytest.raises(CorruptValue):
        codec(compressor="zlib").decode(b"not a pickle")


def test_sniffers_know_each_stream() -> None:
    payload = pickle.dumps("v" * 500)
    streams = {"zlib": zlib.compress(payload), "gzip": gzip.compress(payload), "lzma": lzma.compress(payload)}
    for compressor in compressor_registry.sniffers():
        if compressor.name in streams:
            assert compressor.sniff(streams[compressor.name])
            assert not compressor.sniff(payload)


def test_codec_repr_is_stable_and_secret_free() -> None:
    a = repr(codec(serializer="json", sign_values=True))
    assert a == repr(codec(serializer="json", sign_values=True))
    assert "django-altcache-tests" not in a


def test_options_errors_name_the_setting() -> None:
    with pytest.raises(CacheConfigError, match=r"\['SERIALIZER'\] \(LOCATION='loc'\): unknown serializer"):
        codec_from_options({"OPTIONS": {"SERIALIZER": "yaml"}}, "loc")
    with pytest.raises(CacheConfigError, match="accept_unsigned"):
        codec_from_options({"OPTIONS": {"SIGN_VALUES": True, "WRITE_FORMAT": "django"}}, "loc")


def test_alias_is_the_default_salt() -> None:
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              "signed": {"BACKEND": "x", "LOCATION": "here", "OPTIONS": {"SIGN_VALUES": True}}}
    with override_settings(CACHES=caches):
        from_alias = codec_from_options({"OPTIONS": {"SIGN_VALUES": True}}, "here")
    assert from_alias is not None and from_alias.signer.salt == "signed"
    assert codec(sign_values=True, salt="signed").decode(from_alias.encode(1.5)) == 1.5


def test_options_for_the_matrix_are_valid() -> None:
    for serializer, compressor, sign in MATRIX:
        assert codec_from_options({"OPTIONS": codec_options(serializer, compressor, sign)}) is not None \
            or (serializer, compressor, sign) == ("pickle", None, False)


def test_time_window_uses_wall_clock() -> None:
    until = time.time() + 3600
    c = codec(sign_values={"accept_unsigned": dt.datetime.fromtimestamp(until, dt.timezone.utc).isoformat()})
    assert c.signer.accepts_unsigned()


# -- RedisCache's inline pickle path (backends/redis/codec.py) -------------------------------

@pytest.mark.parametrize("options", [{"compressor": "zstd"}, {"compressor": "zlib", "compress_min_length": 0},
                                     {"compressor": "zstd", "sign_values": True}, {"serializer": "json"},
                                     {"compressor": "lz4", "write_format": "django"}])
def test_redis_inline_pickle_path_writes_and_reads_what_the_codec_does(options: dict[str, Any]) -> None:
    from django_altcache.backends.redis.codec import CodecSerializer

    codec = build_codec(**options)
    assert codec is not None
    serializer = CodecSerializer(codec)
    inline = codec.plain_header is not None and codec.writes
    assert (serializer._write_head is not None) is inline
    for value in ({"small": [1, 2.5]}, {"big": "lorem ipsum " * 400}, "text", 2 ** 70, True):
        data = serializer.dumps(value)
        if type(value) is int:
            assert data == value  # raw, for INCRBY; redis-py sends it as decimal text
            data = str(value).encode()
        elif codec.writes:
            assert data == codec.encode(value)  # the same bytes, inline or not
        else:
            assert data == pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        assert serializer.loads(data) == value and type(serializer.loads(data)) is type(value)
    assert serializer.dumps(7) == 7 and serializer.loads(b"7") == 7

class _Ops:
    """The one database-operations method the db codec calls (Oracle's CLOB reading)."""

    @staticmethod
    def process_clob(raw: Any) -> Any:
        return raw


def _inline_writers(codec: Any) -> dict[str, tuple[Any, Any]]:
    """Each backend's (write, read) of one value through its codec glue, as bytes."""
    import base64
    from types import SimpleNamespace

    from django_altcache.backends.db import codec as db_codec
    from django_altcache.backends.memcached.codec import FLAG_OURS, CodecSerde
    from django_altcache.backends.memcached.serde import UNREADABLE
    from django_altcache.backends.redis.codec import CodecSerializer

    redis = CodecSerializer(codec)
    serde = CodecSerde(codec)
    db = SimpleNamespace()
    db_codec.install(db, codec)

    def memcached_write(value: Any) -> bytes:
        data, flags = serde.serialize("k", value)
        assert flags == FLAG_OURS
        return data  # type: ignore[no-any-return]

    def memcached_read(data: bytes) -> Any:
        value = serde.deserialize("k", data, FLAG_OURS)
        if value is UNREADABLE:  # reported by the hook; the driver deletes it and answers a miss
            raise CorruptValue("the pymemcache driver's unreadable marker")
        return value

    return {"redis": (redis.dumps, redis.loads), "memcached": (memcached_write, memcached_read),
            "db": (lambda v: base64.b64decode(db._encode(v)), lambda d: db._decode(_Ops, base64.b64encode(d).decode()))}


@pytest.mark.parametrize("options", [{"compressor": "zstd"}, {"compressor": "zlib", "compress_min_length": 0},
                                     {"compressor": "zstd", "sign_values": True}, {"serializer": "json"}])
@pytest.mark.parametrize("backend", ["redis", "memcached", "db"])
def test_inline_pickle_paths_write_and_read_what_the_codec_does(backend: str, options: dict[str, Any]) -> None:
    codec = build_codec(**options)
    assert codec is not None
    write, read = _inline_writers(codec)[backend]
    for value in ({"small": [1, 2.5]}, {"big": "lorem ipsum " * 400}, "text"):
        data = write(value)
        assert data == codec.encode(value)  # the same bytes, inline or through the codec
        assert read(data) == value and codec.decode(data) == value


@pytest.mark.parametrize("backend", ["redis", "memcached", "db"])
def test_inline_read_of_a_corrupt_plain_pickle_is_a_codec_error(backend: str) -> None:
    codec = build_codec(compressor="zstd")
    assert codec is not None and codec.plain_header is not None
    write, read = _inline_writers(codec)[backend]
    good = write({"k": "v"})
    assert good[:4] == codec.plain_header
    for bad in (good[:5], good[:4] + b"garbage", good[:-1]):
        with pytest.raises(CorruptValue):
            read(bad)
