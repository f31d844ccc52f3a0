"""4 processes x 4 threads on one server: atomic incr and add, no crossed replies."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any

from .conftest import BACKENDS

PROCESSES = 4
THREADS = 4
INCRS = 100
ROUNDS = 20


def _process(library: str, location: str, results: Any) -> None:
    cache = BACKENDS[library](location, {"KEY_PREFIX": "concurrency"})
    wins: list[int] = []
    errors: list[str] = []

    def thread(n: int) -> None:
        try:
            for i in range(INCRS):
                cache.incr("counter")
                value = (n, i)
                own = f"own-{os.getpid()}-{n}"
                cache.set(own, value)
                if cache.get(own) != value:
                    errors.append(f"crossed reply in thread {n}")
            for round_no in range(ROUNDS):
                if cache.add(f"lock-{round_no}", n):
                    wins.append(round_no)
        except Exception as exc:  # noqa: BLE001 - sent to the parent
            errors.append(repr(exc))

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results.put((wins, errors, any(t.is_alive() for t in threads)))


def test_processes_and_threads(library, own_memcached):
    cache = BACKENDS[library](own_memcached.location, {"KEY_PREFIX": "concurrency"})
    cache.set("counter", 0)
    # forkserver: forking this (threaded) test process could deadlock a child on a held lock.
    context = multiprocessing.get_context("forkserver")
    results = context.Queue()
    processes = [context.Process(target=_process, args=(library, own_memcached.location, results))
                 for _ in range(PROCESSES)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(30)
    assert [o[1] for o in outcomes] == [[]] * PROCESSES
    assert not any(o[2] for o in outcomes)
    assert cache.get("counter") == PROCESSES * THREADS * INCRS
    all_wins = sorted(w for o in outcomes for w in o[0])
    assert all_wins == list(range(ROUNDS))  # exactly one add() wins each round
