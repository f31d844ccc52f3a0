"""One thread hop per event-loop tick (_shared/hop.py): the same thread, context, order and
errors as one ``sync_to_async(thread_sensitive=True)`` hop per call."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, async_to_sync, sync_to_async

from django_altcache.backends._shared import hop as hop_module
from django_altcache.backends._shared.hop import hop, hop_group

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("hop_test", default="unset")


def spy(mp):
    hops = []
    original = hop_module._run_calls
    mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
    return hops


def test_gathered_calls_share_one_hop_in_order_with_their_own_context_and_errors():
    seen = []

    def work(n):
        seen.append((n, VAR.get(), threading.get_ident()))
        if n == 3:
            raise KeyError(n)
        return n * 10

    async def call(n):
        VAR.set(f"caller {n}")
        return await hop(work, n)

    async def main():
        expected_thread = await sync_to_async(threading.get_ident, thread_sensitive=True)()
        answers = await asyncio.gather(*[call(n) for n in range(6)], return_exceptions=True)
        return expected_thread, answers

    with pytest.MonkeyPatch.context() as mp:
        hops = spy(mp)
        thread, answers = asyncio.run(main())
    assert hops == [6]
    assert answers[:3] == [0, 10, 20] and isinstance(answers[3], KeyError) and answers[4:] == [40, 50]
    assert [n for n, _, _ in seen] == list(range(6))
    assert [value for _, value, _ in seen] == [f"caller {n}" for n in range(6)]
    assert {ident for _, _, ident in seen} == {thread}  # the thread one hop per call would use


def test_calls_bound_for_different_threads_are_not_batched_together():
    idents = {}

    async def request(name):
        async with ThreadSensitiveContext():  # as Django's ASGI handler wraps each request
            idents[name] = await hop(threading.get_ident)
            idents[name + " own"] = await sync_to_async(threading.get_ident, thread_sensitive=True)()

    async def main():
        await asyncio.gather(request("a"), request("b"))

    with pytest.MonkeyPatch.context() as mp:
        hops = spy(mp)
        asyncio.run(main())
    assert idents["a"] == idents["a own"] and idents["b"] == idents["b own"]
    assert idents["a"] != idents["b"]
    assert sorted(hops) == [1, 1]  # one hop each: they are bound for different threads


def test_inside_async_to_sync_the_hop_goes_back_to_the_calling_thread():
    outer = threading.get_ident()

    async def inner():
        return await hop(threading.get_ident)

    assert async_to_sync(inner)() == outer
    assert SyncToAsync.thread_sensitive_context.get(None) is None


def test_groups_take_adjacent_items_only_and_answer_each():
    calls = []

    class Reader:
        def group(self, items):
            calls.append(list(items))
            return [(True, item * 2) if item >= 0 else (False, ValueError(item)) for item in items]

    reader, other = Reader(), Reader()

    async def main():
        return await asyncio.gather(hop_group(reader.group, 1), hop_group(reader.group, 2),
                                    hop_group(other.group, 3), hop(lambda: "plain"), hop_group(reader.group, -1),
                                    hop_group(reader.group, 4), return_exceptions=True)

    answers = asyncio.run(main())
    assert answers[:4] == [2, 4, 6, "plain"]
    assert isinstance(answers[4], ValueError) and answers[5] == 8
    assert calls == [[1, 2], [3], [-1, 4]]


def test_a_failing_group_fails_each_of_its_items():
    def group(items):
        raise OSError("server down")

    async def main():
        return await asyncio.gather(hop_group(group, 1), hop_group(group, 2), return_exceptions=True)

    assert [type(a) for a in asyncio.run(main())] == [OSError, OSError]
