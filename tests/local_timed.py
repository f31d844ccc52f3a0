"""One body of checks for the time-bounded local tier (LOCAL_CACHE={"ttl": s}), run against each
backend that takes it (file cache in tests/core, memcached, database) on real servers.

``make(**params)`` builds the backend on one shared location; the tiered instance and a plain
one (standing for another process) see the same data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from django_altcache.conf import CacheConfigError
from django_altcache.local import timed

TTL = 0.3


def until(check: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.005)


@contextmanager
def counting_reads(cls: type, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count calls reaching the backend class's own get/get_many/has_key (the server)."""
    calls = [0]
    for name in ("get", "get_many", "has_key"):
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls[0] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    yield calls


def check_options(make: Callable[..., Any]) -> None:
    for bad, detail in [(True, "write {'ttl': seconds}"), ({}, "write {'ttl': seconds}"),
                        ({"ttl": 0}, "positive"), ({"ttl": 1, "lease": 1}, "unknown key")]:
        with pytest.raises(CacheConfigError) as caught:
            make(OPTIONS={"LOCAL_CACHE": bad})
        assert "['OPTIONS']['LOCAL_CACHE']" in str(caught.value) and detail in str(caught.value)
    plain = make()
    assert not isinstance(plain, timed.TimedLocalMixin)  # off: the class itself, nothing wrapped
    tiered = make(OPTIONS={"LOCAL_CACHE": {"ttl": 2, "max_entries": 5}})
    assert isinstance(tiered, timed.TimedLocalMixin) and isinstance(tiered, type(plain))
    assert type(tiered).__name__ == type(plain).__name__


def check_behaviour(make: Callable[..., Any], cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    tiered = make(OPTIONS={"LOCAL_CACHE": {"ttl": TTL}})
    other = make()  # another process, as far as the tier can tell
    other.clear()

    # hits: served from memory, copied out
    tiered.set("d", {"list": [1]})
    assert tiered.get("d") == {"list": [1]}
    with counting_reads(cls, monkeypatch) as calls:
        value = tiered.get("d")
        value["list"].append(2)
        assert tiered.get("d") == {"list": [1]}
        assert tiered.get_many(["d"]) == {"d": {"list": [1]}}
        assert tiered.has_key("d")
        assert asyncio.run(tiered.aget("d")) == {"list": [1]}
        assert calls[0] == 0
    monkeypatch.undo()

    # another process's write: stale for at most TTL, then seen
    other.set("d", "changed")
    written = time.monotonic()
    assert tiered.get("d") == {"list": [1]}  # the documented staleness
    until(lambda: tiered.get("d") == "changed", timeout=TTL + 2, what="the other write after the ttl")
    assert time.monotonic() - written <= TTL + 0.5

    # absent keys are kept too, for the ttl
    assert tiered.get("absent", "dflt") == "dflt"
    other.set("absent", 1)
    until(lambda: tiered.get("absent") == 1, timeout=TTL + 2, what="the creation after the ttl")

    # own writes: seen at once
    tiered.set("n", 1)
    assert tiered.get("n") == 1
    assert tiered.incr("n") == 2 and tiered.get("n") == 2
    assert tiered.decr("n") == 1 and tiered.get("n") == 1  # (memcached stops at 0)
    assert tiered.delete("n") and tiered.get("n") is None
    assert tiered.add("n", 5) and tiered.get("n") == 5
    tiered.set_many({"n": 6, "m": 7})
    assert tiered.get_many(["n", "m"]) == {"n": 6, "m": 7}
    tiered.delete_many(["n", "m"])
    assert tiered.get_many(["n", "m"]) == {} and not tiered.has_key("n")
    tiered.set("v", "one")
    assert tiered.get("v") == "one"
    assert tiered.incr_version("v") == 2
    assert tiered.get("v") is None and tiered.get("v", version=2) == "one"
    assert tiered.decr_version("v", version=2) == 1 and tiered.get("v") == "one"
    tiered.set("t", "x")
    assert tiered.get("t") == "x"
    tiered.touch("t", 0) if hasattr(tiered, "touch") else None
    assert tiered.get("t") is None
    tiered.set("c", "x")
    assert tiered.get("c") == "x"
    tiered.clear()
    assert tiered.get("c") is None

    # a composed write builds on the server's value, never on a stale local copy
    tiered.set("s", "mine")
    assert tiered.get("s") == "mine"
    other.set("s", "theirs")
    assert tiered.get("s") == "mine"  # stale, as documented
    tiered.incr_version("s")
    assert other.get("s", version=2) == "theirs"

    async def async_writes() -> None:
        await tiered.aset("a", 1)
        assert await tiered.aget("a") == 1
        assert await tiered.aincr("a") == 2 and await tiered.aget("a") == 2
        assert await tiered.adelete("a") and await tiered.aget("a") is None
        await tiered.aset_many({"a": 3})
        assert await tiered.aget_many(["a"]) == {"a": 3} and await tiered.ahas_key("a")
        await tiered.aclear()
        assert await tiered.aget("a") is None

    asyncio.run(async_writes())
