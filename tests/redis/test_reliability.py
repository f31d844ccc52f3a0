"""Outages, corrupt data and concurrency, against real servers and processes."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import socket
import threading
from typing import Any

import pytest
import redis

from django_altcache.backends.redis import RedisCache
from tests._servers.redis import RedisServer


def test_pools_heal_after_a_server_restart(own_redis: RedisServer, cache_for: Any) -> None:
    cache = cache_for(own_redis.url)
    threads_done: list[Any] = []

    def use_pool() -> None:  # several pooled connections, all of them stale after the restart
        threads_done.append(cache.get_many(["a", "b"]))

    workers = [threading.Thread(target=use_pool) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    cache.set("before", 1)
    own_redis.kill()
    own_redis.start()
    # No error on the first calls after the restart (the server lost its data: no persistence).
    for _ in range(5):
        assert cache.get("before") is None
        cache.set("after", 2)
        assert cache.incr("after") == 3


def test_async_pools_heal_after_a_server_restart(own_redis: RedisServer, cache_for: Any) -> None:
    cache = cache_for(own_redis.url)

    async def main() -> None:
        await asyncio.gather(*(cache.aset(f"k{i}", i) for i in range(20)))
        # The loop keeps running during the outage, as in a server process.
        await asyncio.to_thread(own_redis.kill)
        await asyncio.to_thread(own_redis.start)
        for _ in range(5):
            assert await cache.aget("k1") is None
            await cache.aset("after", 2)
            assert await cache.aincr("after") == 3

    asyncio.run(main())


def test_a_silent_server_times_out_instead_of_hanging(cache_for: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog) but never answers
    try:
        port = listener.getsockname()[1]
        cache = cache_for(f"redis://127.0.0.1:{port}", OPTIONS={"socket_timeout": 0.3})
        with pytest.raises(redis.TimeoutError):
            cache.get("x")
        with pytest.raises(redis.TimeoutError):
            asyncio.run(cache.aget("x"))
    finally:
        listener.close()


def test_a_down_server_raises_connection_error(cache_for: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = cache_for(f"redis://127.0.0.1:{port}")
    with pytest.raises(redis.ConnectionError):
        cache.set("x", 1)


def test_a_corrupt_value_is_a_logged_miss_and_does_not_break_add(
        cache: RedisCache, raw: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    truncated = pickle.dumps({"big": "x" * 100}, pickle.HIGHEST_PROTOCOL)[:20]
    raw.set(cache.make_key("bad"), truncated)
    raw.set(cache.make_key("bad2"), truncated)
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        assert cache.get("bad", "default") == "default"
    assert "bad" in caplog.text
    assert cache.add("bad", "fresh") is True
    assert cache.get("bad") == "fresh"
    cache.set("good", 1)
    assert cache.get_many(["bad2", "good"]) == {"good": 1}
    assert cache.get_or_set("bad2", "recomputed") == "recomputed"


def test_a_corrupt_value_is_a_miss_in_async_too(cache: RedisCache, raw: redis.Redis) -> None:
    raw.set(cache.make_key("bad"), b"\x80\x05garbage")

    async def main() -> Any:
        missing = await cache.aget("bad", "default")
        return missing, await cache.aadd("bad", "fresh"), await cache.aget("bad")

    assert asyncio.run(main()) == ("default", True, "fresh")


def _incr_worker(url: str, prefix: str, threads: int, per_thread: int) -> None:
    cache = RedisCache(url, {"KEY_PREFIX": prefix})

    def run() -> None:
        for _ in range(per_thread):
            cache.incr("counter")

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)


def test_no_lost_increments_across_processes_and_threads(cache: RedisCache, redis_url: str,
                                                         prefix: str) -> None:
    cache.set("counter", 0, 600)
    # spawn, not fork: earlier tests leave threads behind, and forking a threaded
    # process can deadlock the child.
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_incr_worker, args=(redis_url, prefix, 4, 250)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert cache.get("counter") == 4 * 4 * 250
    assert cache.ttl("counter") not in (None, 0)
