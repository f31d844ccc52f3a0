"""Shared by the codec tests of every backend group: the option matrix, sample values,
and one scenario (sync and async) that every backend × codec combination must pass."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import pickle
from typing import Any

import pytest
from django.utils.safestring import SafeString, mark_safe

from django_altcache.codecs import report
from django_altcache.codecs.options import make_serializer, parse_serializer

SERIALIZERS = ("pickle", "json", "msgpack")
COMPRESSORS = (None, "zlib", "zstd", "lz4")
MIN_LENGTH = 200  # small, so the boundary values stay cheap on every backend
MATRIX = [(s, c, g) for s in SERIALIZERS for c in COMPRESSORS for g in (False, True)]
MATRIX_IDS = [f"{s}-{c or 'none'}-{'signed' if g else 'unsigned'}" for s, c, g in MATRIX]
# A smaller cut for slow backends (network databases): every serializer, compressor and
# signing state appears, not every combination.
REDUCED = [("pickle", "zstd", True), ("json", "zlib", False), ("msgpack", "lz4", True), ("json", None, True),
           ("pickle", None, False), ("msgpack", "zstd", False)]
REDUCED_IDS = [f"{s}-{c or 'none'}-{'signed' if g else 'unsigned'}" for s, c, g in REDUCED]


def codec_options(serializer: str, compressor: str | None, sign: bool, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"SERIALIZER": serializer, "COMPRESSOR": compressor,
                               "COMPRESS_MIN_LENGTH": MIN_LENGTH, "SIGN_VALUES": sign}
    options.update(extra)
    return options


@pytest.fixture(autouse=True)
def _fresh_log_limiter() -> None:
    report.reset()


def sample_values(serializer: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "str": "héllo wörld", "int": 42, "neg": -7, "float": 1.5, "none": None, "true": True, "false": False,
        "list": [1, "a", None, [2.5, {"k": "v"}]], "dict": {"a": {"b": [1, 2]}, "é": "x"},
        "empty": "", "big": "lorem ipsum dolor sit amet " * 400,  # compressible, well over MIN_LENGTH
        "bigint": 2 ** 70,
    }
    if serializer == "msgpack":
        del values["bigint"]  # a raw int on Redis/memcached/locmem, refused elsewhere: tested apart
        values.update({"bytes": b"\x00\xc1\x80raw", "intkeys": {1: "one", 2: [b"two"]}})
    if serializer == "pickle":
        values.update({
            "tuple": (1, (2, 3)), "set": {1, 2}, "bytes": b"\x00\xc1\x80raw",
            "datetime": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
            "decimal": decimal.Decimal("1.10"), "safe": mark_safe("<b>x</b>"),
        })
    return values


def refused_values(serializer: str) -> list[Any]:
    """Values the serializer must refuse with a TypeError (never store with another type)."""
    if serializer == "json":
        return [(1, 2), {1: "int key"}, b"bytes", mark_safe("<b>"), {"a": [dt.date(2024, 1, 1)]}]
    if serializer == "msgpack":
        return [(1, 2), mark_safe("<b>"), {"a": {1, 2}}, [decimal.Decimal(1)]]
    return []


def boundary_strings(serializer: str) -> list[str]:
    """Strings whose serialized form is MIN_LENGTH - 1, MIN_LENGTH and MIN_LENGTH + 1 bytes."""
    ser = make_serializer(parse_serializer(serializer))
    found = []
    for target in (MIN_LENGTH - 1, MIN_LENGTH, MIN_LENGTH + 1):
        for n in range(target):
            if len(ser.dumps("a" * n)) == target:
                found.append("a" * n)
                break
    assert len(found) == 3, f"no boundary strings for {serializer}"
    return found


def same(got: Any, expected: Any) -> bool:
    return got == expected and type(got) is type(expected)


def scenario(cache: Any, serializer: str, skip: frozenset[str] = frozenset()) -> None:
    values = {k: v for k, v in sample_values(serializer).items() if k not in skip}
    for key, value in values.items():
        cache.set(key, value)
        assert same(cache.get(key), value), key
    cache.clear()
    assert cache.set_many(values) == []
    got = cache.get_many(list(values) + ["missing"])
    assert got.keys() == values.keys()
    assert all(same(got[k], v) for k, v in values.items())
    assert cache.add("str", "other") is False and cache.get("str") == values["str"]
    assert cache.add("added", [1, "x"]) is True and cache.get("added") == [1, "x"]
    cache.set("n", 10)
    assert cache.incr("n", 5) == 15 and cache.decr("n", 3) == 12 and cache.get("n") == 12
    assert cache.touch("dict", 300) is True and cache.touch("missing", 300) is False
    assert cache.get_or_set("gos", lambda: {"made": [1]}) == {"made": [1]}
    assert cache.get_or_set("gos", lambda: "not used") == {"made": [1]}
    for text in boundary_strings(serializer):
        cache.set(f"edge{len(text)}", text)
        assert cache.get(f"edge{len(text)}") == text
    for bad in refused_values(serializer):
        with pytest.raises(TypeError, match=serializer):
            cache.set("refused", bad)
    assert cache.get("refused", "nothing") == "nothing"


async def ascenario(cache: Any, serializer: str, skip: frozenset[str] = frozenset()) -> None:
    values = {k: v for k, v in sample_values(serializer).items() if k not in skip}
    for key, value in values.items():
        await cache.aset(key, value)
        assert same(await cache.aget(key), value), key
    await cache.aclear()
    assert await cache.aset_many(values) == []
    got = await cache.aget_many(list(values) + ["missing"])
    assert got.keys() == values.keys()
    assert all(same(got[k], v) for k, v in values.items())
    assert await cache.aadd("str", "other") is False
    assert await cache.aadd("added", [1, "x"]) is True and await cache.aget("added") == [1, "x"]
    await cache.aset("n", 10)
    assert await cache.aincr("n", 5) == 15 and await cache.adecr("n", 3) == 12
    assert await cache.atouch("dict", 300) is True
    assert await cache.aget_or_set("gos", lambda: {"made": [1]}) == {"made": [1]}
    for text in boundary_strings(serializer):
        await cache.aset(f"edge{len(text)}", text)
        assert await cache.aget(f"edge{len(text)}") == text
    for bad in refused_values(serializer):
        with pytest.raises(TypeError, match=serializer):
            await cache.aset("refused", bad)


class Plant:
    """Unpickling this creates ``path``: proof that code from the store ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


def evil_pickle(marker: str) -> bytes:
    return pickle.dumps(Plant(marker), pickle.HIGHEST_PROTOCOL)


def assert_never_ran(marker: str) -> None:
    assert not os.path.exists(marker), "a planted pickle ran code"


def tamper(data: bytes) -> list[bytes]:
    """Truncated and bit-flipped versions of a stored value."""
    flipped_end = bytearray(data)
    flipped_end[-1] ^= 0x01
    flipped_mid = bytearray(data)
    flipped_mid[len(data) // 2] ^= 0x40
    return [data[:3], data[:len(data) // 2], bytes(flipped_end), bytes(flipped_mid)]


__all__ = ["COMPRESSORS", "MATRIX", "MATRIX_IDS", "MIN_LENGTH", "REDUCED", "REDUCED_IDS", "SERIALIZERS",
           "SafeString", "ascenario", "assert_never_ran", "codec_options", "evil_pickle", "sample_values",
           "scenario", "tamper"]
