"""What a compressor is: a name, a header id, ``compress``/``decompress``, and the magic
bytes its streams start with (to recognise django-redis's untagged values)."""

from __future__ import annotations

from typing import ClassVar


class Compressor:
    name: ClassVar[str]
    id: ClassVar[int]  # byte 3 of the header (format.py)
    magic: ClassVar[bytes] = b""

    def compress(self, data: bytes) -> bytes:
        raise NotImplementedError

    def decompress(self, data: bytes | memoryview) -> bytes:
        raise NotImplementedError

    def sniff(self, data: bytes) -> bool:
        """Whether untagged ``data`` looks like this compressor's output."""
        return bool(self.magic) and data.startswith(self.magic)

    def __repr__(self) -> str:
        return self.name
