"""The tagged wire format: a 4-byte header, an optional signature, the payload.

::

    byte 0      0xC1, the magic byte
    byte 1      format version in the high nibble (1), flags in the low one (bit 0: signed)
    byte 2      serializer id   (1 pickle, 2 json, 3 msgpack; 128-255 user classes)
    byte 3      compressor id   (0 none, 1 zlib, 2 zstd, 3 lz4, 4 gzip, 5 lzma; 128-255 user classes)
    4..20       HMAC-SHA256 of the header and the payload, truncated to 16 bytes (signed only)
    then        the payload: the serialized value, compressed when byte 3 is not 0

Why 0xC1: no untagged value any backend or django-redis writes can start with it.
A pickle of protocol 2+ starts with 0x80 (PROTO) and 0xC1 is no pickle opcode of
any protocol (they stop at 0x98 and are ASCII below 0x80); a decimal integer (Redis,
memcached) starts with a digit or "-"; 0xC1 can never start UTF-8 text (so no JSON),
msgpack never uses it ("never used" in the msgpack spec); the zlib (low nibble 8),
gzip (1F 8B), xz (FD 37), lz4 frame (04 22) and zstd (28 B5) streams start otherwise.
So a reader knows from the first byte, without trying decoders, which kind it holds.
"""

from __future__ import annotations

MAGIC = 0xC1
MAGIC_BYTE = b"\xc1"
VERSION = 1
SIGNED = 0x01
HEADER_LEN = 4
TAG_LEN = 16  # HMAC-SHA256 truncated to 128 bits (as RFC 4868's HMAC-SHA-256-128)


def header(serializer_id: int, compressor_id: int, signed: bool) -> bytes:
    return bytes((MAGIC, (VERSION << 4) | (SIGNED if signed else 0), serializer_id, compressor_id))


def is_tagged(data: bytes | memoryview) -> bool:
    return len(data) >= HEADER_LEN and data[0] == MAGIC
