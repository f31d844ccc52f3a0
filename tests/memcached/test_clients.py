"""Client lifetime: one per process and configuration, kept across requests, never per request."""

from __future__ import annotations

import os
import threading

import pytest
from django.core.signals import request_finished, request_started

from .stats import server_stats


def test_connections_persist_across_requests(cache_for, own_memcached):
    location = own_memcached.location
    cache = cache_for(location)
    cache.set("k", 1)
    opened = server_stats(location)["total_connections"]
    for _ in range(20):
        request_started.send(sender=None)
        assert cache_for(location).get("k") == 1  # Django makes a new backend per thread/context
        cache.close()
        request_finished.send(sender=None)
    # stats opens one connection of its own per call
    assert server_stats(location)["total_connections"] - opened == 1


def test_backend_instances_share_one_client(cache_for, own_memcached, library):
    first = cache_for(own_memcached.location)
    second = cache_for(own_memcached.location, KEY_PREFIX="other")
    assert first._handle is second._handle
    if library == "pymemcache":
        assert first._cache is second._cache
    different = cache_for(own_memcached.location, OPTIONS={"connect_timeout": 2} if library == "pymemcache"
                          else {"behaviors": {"connect_timeout": 2000}})
    assert different._handle is not first._handle


def test_threads_share_connections_without_mixing_replies(cache_for, own_memcached, library):
    cache = cache_for(own_memcached.location)
    errors: list[BaseException] = []
    clients: set[int] = set()

    def work(n: int) -> None:
        try:
            clients.add(id(cache._cache))
            for i in range(200):
                key = f"t{n}-{i}"
                cache.set(key, (n, i))
                assert cache.get(key) == (n, i)
                assert cache.get_many([key, f"t{n}-x"]) == {key: (n, i)}
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    # pymemcache: one HashClient with a connection pool; pylibmc: one clone per thread.
    assert len(clients) == (1 if library == "pymemcache" else 4)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # deliberate
def test_child_process_gets_its_own_client(cache_for, own_memcached):
    cache = cache_for(own_memcached.location)
    cache.set("before-fork", 1)
    parent_client = cache._cache
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's sockets
        try:
            ok = cache._cache is not parent_client and cache.get("before-fork") == 1
            cache.set("from-child", 2)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert cache.get("from-child") == 2
    assert cache._cache is parent_client


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # deliberate
def test_fork_leaves_other_threads_connections_working(cache_for, own_memcached):
    # A child frees the other threads' data; freeing a pylibmc client would send "quit"
    # on the parent's sockets.
    cache = cache_for(own_memcached.location)
    ready, go, result = threading.Event(), threading.Event(), []

    def worker() -> None:
        cache.set("k", 1)
        ready.set()
        go.wait(30)
        try:
            result.append(cache.get("k"))
        except Exception as exc:  # noqa: BLE001 - the assertion shows it
            result.append(repr(exc))

    thread = threading.Thread(target=worker)
    thread.start()
    assert ready.wait(30)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    go.set()
    thread.join(30)
    assert result == [1]
