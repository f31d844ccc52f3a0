"""FileBasedCache under real threads and processes: atomic add/incr, killed writers, touch vs get."""

from __future__ import annotations

import asyncio
import glob
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from django_altcache.backends import _files
from django_altcache.backends import filebased as filebased_module
from django_altcache.backends.filebased import FileBasedCache

PROCESSES, THREADS = 4, 4
INCREMENTS = 40  # per thread
ADD_KEYS = 25
JOIN_TIMEOUT = 60.0
# Workers start from a clean forkserver process (the test process may run threads, e.g.
# asgiref's executors, and forking those is unsafe); the backends need no Django settings.
workers = multiprocessing.get_context("forkserver")
# The fork test forks on purpose: it checks what a child inherits.
fork = multiprocessing.get_context("fork")


def run_threads(target: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        results[index] = target(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    return results


def incr_worker(directory: str, start: Any, queue: Any) -> None:
    cache = FileBasedCache(directory, {})
    start.wait(JOIN_TIMEOUT)
    seen = run_threads(lambda _i: [cache.incr("counter") for _ in range(INCREMENTS)])
    queue.put([value for values in seen for value in values])


def add_worker(directory: str, start: Any, queue: Any) -> None:
    cache = FileBasedCache(directory, {})
    start.wait(JOIN_TIMEOUT)
    me = os.getpid()
    wins = run_threads(lambda t: [k for k in range(ADD_KEYS) if cache.add(f"key{k}", (me, t))])
    queue.put([(k, (me, t)) for t, keys in enumerate(wins) for k in keys])


def run_processes(worker: Callable[..., None], directory: str) -> list[Any]:
    start, queue = workers.Event(), workers.Queue()
    processes = [workers.Process(target=worker, args=(directory, start, queue)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    start.set()
    try:
        results = [queue.get(timeout=JOIN_TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(JOIN_TIMEOUT)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return results


def test_incr_loses_nothing_across_processes_and_threads(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {})
    cache.set("counter", 0, 3600)
    results = run_processes(incr_worker, directory)
    total = PROCESSES * THREADS * INCREMENTS
    assert cache.get("counter") == total
    every_value = sorted(value for values in results for value in values)
    assert every_value == list(range(1, total + 1))  # each increment saw a distinct value


def test_add_has_exactly_one_winner_per_key(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {})
    results = run_processes(add_worker, directory)
    wins = [win for process_wins in results for win in process_wins]
    assert sorted(key for key, _ in wins) == list(range(ADD_KEYS))
    for key, winner in wins:
        assert cache.get(f"key{key}") == winner


def slow_writer(directory: str) -> None:
    data = b"\0" * (64 * 1024 * 1024)
    target = os.path.join(directory, "0" * 32 + ".djcache")
    for _ in range(200):  # bounded; the parent kills us long before
        _files.write_file(directory, target, data)


def test_temp_file_of_a_killed_writer_is_cleaned_up(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {})
    pattern = os.path.join(directory, f"{_files.TMP_PREFIX}*{_files.TMP_SUFFIX}")
    leftovers: list[str] = []
    deadline = time.monotonic() + 30
    while not leftovers and time.monotonic() < deadline:
        writer = workers.Process(target=slow_writer, args=(directory,))
        writer.start()
        while writer.is_alive() and not glob.glob(pattern) and time.monotonic() < deadline:
            pass
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(JOIN_TIMEOUT)
        leftovers = glob.glob(pattern)  # empty if the kill landed between two writes: retry
    assert leftovers, "could not kill the writer mid-write"
    cache.clear()
    assert glob.glob(pattern) == leftovers  # young: could be a live writer's, kept
    old = time.time() - _files.STALE_TEMP_SECONDS - 1
    for path in leftovers:
        os.utime(path, (old, old))
    cache.clear()
    assert glob.glob(pattern) == []


def test_touch_never_shows_get_a_partial_file(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {})
    value = {"payload": "x" * 50_000}
    cache.set("k", value, 3600)
    path = cache._key_to_file("k")
    inode = os.stat(path).st_ino
    assert cache.touch("k", 3600) is True
    # A new file renamed over the old one (Django rewrites in place while get reads unlocked),
    # so a reader holds either the old complete file or the new complete one.
    assert os.stat(path).st_ino != inode
    misses: list[Any] = []
    stop = threading.Event()

    def toucher() -> None:
        for _ in range(1500):
            cache.touch("k", 3600)
        stop.set()

    def reader() -> None:
        for _ in range(20_000):
            if stop.is_set():
                return
            got = cache.get("k", "MISS")
            if got != value:
                misses.append(got)

    threads = [threading.Thread(target=toucher), threading.Thread(target=reader), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert misses == []


async def test_async_write_waits_for_a_held_lock_in_a_thread(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {})
    cache.set("n", 1, 3600)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _files.key_lock(cache._key_to_file("n")):
            locked.set()
            release.wait(JOIN_TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(JOIN_TIMEOUT)
    try:
        task = asyncio.ensure_future(cache.aincr("n"))
        for _ in range(20):  # the event loop keeps running while aincr waits for the lock
            await asyncio.sleep(0.005)
        assert not task.done()
    finally:
        release.set()
    assert await asyncio.wait_for(task, JOIN_TIMEOUT) == 2
    holder.join(JOIN_TIMEOUT)


async def test_uncontended_async_calls_stay_on_the_event_loop(
        make_dir: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FileBasedCache(make_dir(), {})
    cache.set("warm", 1)  # the first write of a process scans the directory (in a thread)

    def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unexpected thread hop")

    monkeypatch.setattr(filebased_module, "sync_to_async", no_thread)
    await cache.aset("a", 1)
    assert await cache.aadd("b", 2) is True
    assert await cache.aincr("a") == 2
    assert await cache.atouch("a", 100) is True
    assert await cache.aget_many(["a", "b"]) == {"a": 2, "b": 2}
    assert await cache.adelete("b") is True


def cull_in_child(directory: str, queue: Any) -> None:
    cache = FileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 20}})
    for i in range(100):
        cache.set(f"child{i}", i)
    queue.put(len(_files.scan(directory, ".djcache")))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_culls_although_the_parent_was_scanning(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 20}})
    cache.set("parent", 1)
    queue = fork.Queue()
    with cache._state.scan_lock:  # as if a parent thread were scanning at fork time
        child = fork.Process(target=cull_in_child, args=(directory, queue))
        child.start()
        count = queue.get(timeout=JOIN_TIMEOUT)
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0 and count <= 20
