"""Django's serializer: ``pickle.dumps(value, pickle.HIGHEST_PROTOCOL)``."""

from __future__ import annotations

import pickle
from functools import partial
from typing import Any

from .base import Serializer


class PickleSerializer(Serializer):
    name = "pickle"
    id = 1

    def __init__(self) -> None:
        # Bound once: the codec calls these directly, without a Python frame of ours.
        self.dumps = partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[method-assign]
        self.loads = pickle.loads  # type: ignore[method-assign, assignment]

    def dumps(self, value: Any) -> bytes:  # replaced in __init__
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes | memoryview) -> Any:  # replaced in __init__
        return pickle.loads(data)
