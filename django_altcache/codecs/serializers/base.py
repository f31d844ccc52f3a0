"""What a serializer is: a name, a one-byte id for the header, ``dumps`` and ``loads``."""

from __future__ import annotations

from typing import Any, ClassVar


class Serializer:
    name: ClassVar[str]
    id: ClassVar[int]  # byte 2 of the header (format.py)

    def dumps(self, value: Any) -> bytes:
        raise NotImplementedError

    def loads(self, data: bytes | memoryview) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name
