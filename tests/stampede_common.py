"""Parent side of the stampede tests, shared by every backend's test module.

``Workers`` are spawned processes (tests/stampede_worker.py) that run herds of threads
and asyncio tasks on command; ``LocalWorkers`` run the same code in this process (for
LocMemCache, whose store is per process, and for outage tests on servers only this
process knows). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from django_altcache.stampede import listen
from tests import stampede_worker
from tests.stampede_worker import read_log

IN_CI = os.environ.get("CI", "").lower() == "true"
# The 60 s early-refresh run: with ALTCACHE_SLOW=1, and once in CI (its Python 3.12 leg).
RUN_SLOW = os.environ.get("ALTCACHE_SLOW") == "1" or (IN_CI and sys.version_info[:2] == (3, 12))
REPLY_TIMEOUT = 180.0
PROCESSES, THREADS, TASKS_PER_PROCESS = 4, 25, 50  # 100 threads and 200 tasks in all
COMPUTE = 0.2  # seconds the herd's callable takes
REPORT: list[str] = []  # figures printed at the end of the run (tests/conftest.py)


def report(line: str) -> None:
    print(line)
    REPORT.append(line)


# -- worker pools -------------------------------------------------------------------------
class _Slot:
    def __init__(self, process: Any, conn: Any, pid: int) -> None:
        self.process, self.conn, self.pid = process, conn, pid


class Workers:
    """``n`` spawned processes; ``send``/``expect`` talk to one of them."""

    kind = "process(es)"

    def __init__(self, n: int, spec: dict[str, Any]) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.spec = spec
        self.slots: list[_Slot] = []
        try:
            for _ in range(n):
                self.slots.append(self._spawn())
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> _Slot:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=stampede_worker.serve, args=(child, self.spec), daemon=True)
        process.start()
        child.close()
        if not parent.poll(REPLY_TIMEOUT):
            process.kill()
            raise RuntimeError("stampede worker did not start")
        tag, pid = parent.recv()
        assert tag == "started", tag
        return _Slot(process, parent, pid)

    def __len__(self) -> int:
        return len(self.slots)

    def send(self, index: int, message: Any) -> None:
        self.slots[index].conn.send(message)

    def expect(self, index: int, timeout: float = REPLY_TIMEOUT) -> Any:
        conn = self.slots[index].conn
        if not conn.poll(timeout):
            raise AssertionError(f"worker {index} sent nothing for {timeout} s")
        message = conn.recv()
        if isinstance(message, tuple) and message and message[0] == "error":
            raise AssertionError(f"worker {index} failed:\n{message[1]}")
        return message

    def pid(self, index: int) -> int:
        return self.slots[index].pid

    def kill(self, index: int) -> float:
        """SIGKILL one worker; returns the wall-clock time of the kill. A new one replaces it."""
        slot = self.slots[index]
        os.kill(slot.pid, signal.SIGKILL)
        killed_at = time.time()
        slot.process.join(30)
        slot.conn.close()
        self.slots[index] = self._spawn()
        return killed_at

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot.conn.send("stop")
            except (OSError, BrokenPipeError):
                pass
        for slot in self.slots:
            slot.process.join(10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(10)


class _Shim:
    """One end of an in-process pipe (the worker's side or ours)."""

    def __init__(self, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        self.inbox, self.outbox = inbox, outbox
        self._held: list[Any] = []

    def send(self, message: Any) -> None:
        self.outbox.put(message)

    def poll(self, timeout: float) -> bool:
        if self._held:
            return True
        try:
            self._held.append(self.inbox.get(timeout=timeout))
        except queue.Empty:
            return False
        return True

    def recv(self) -> Any:
        if self._held:
            return self._held.pop(0)
        return self.inbox.get(timeout=REPLY_TIMEOUT)


class LocalWorkers(Workers):
    """The same commands, served by threads of this process."""

    kind = "worker thread(s) of one process"

    def __init__(self, n: int, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.slots = []
        for _ in range(n):
            to_worker: queue.Queue[Any] = queue.Queue()
            to_us: queue.Queue[Any] = queue.Queue()
            thread = threading.Thread(target=stampede_worker.serve, args=(_Shim(to_worker, to_us), spec),
                                      daemon=True)
            thread.start()
            conn = _Shim(to_us, to_worker)
            assert conn.poll(REPLY_TIMEOUT)
            tag, pid = conn.recv()
            self.slots.append(_Slot(thread, conn, pid))

    def kill(self, index: int) -> float:  # pragma: no cover - not for threads
        raise NotImplementedError

    def close(self) -> None:
        for slot in self.slots:
            slot.conn.send("stop")
        for slot in self.slots:
            slot.process.join(10)


def worker_pool(n: int, spec: dict[str, Any], local: bool = False) -> Iterator[Workers]:
    workers = (LocalWorkers if local else Workers)(n, spec)
    try:
        yield workers
    finally:
        workers.close()


async def close_in_sync_thread(close: Callable[[], None] | None) -> None:
    """Run ``close`` (close DB connections) in the thread the async twins' sync work ran in."""
    if close is not None:
        from asgiref.sync import sync_to_async

        await sync_to_async(close, thread_sensitive=True)()


# -- herds --------------------------------------------------------------------------------
@dataclass
class Herd:
    outcomes: list[tuple[str, str, Any, float]]  # (who, "ok"|"boom"|"error", value, seconds)
    starts: list[tuple[str, float]]  # (who, wall time) of every computation, in order
    hung: int
    waiting: list[int]

    @property
    def errors(self) -> list[tuple[str, str, Any, float]]:
        return [o for o in self.outcomes if o[1] == "error"]


class HerdRun:
    """One herd in phases: started (every caller built and blocked), go, waiting, done."""

    def __init__(self, workers: Workers, indices: list[int], *, spec: dict[str, Any], log: str,
                 **kwargs: Any) -> None:
        self.workers, self.indices, self.log = workers, indices, log
        for index in indices:
            workers.send(index, ("herd", {"spec": spec, "log": log, "tag": f"w{index}", **kwargs}))
        for index in indices:
            assert workers.expect(index) == "ready"

    def go(self) -> None:
        for index in self.indices:
            self.workers.send(index, "go")

    def waiting(self) -> list[int]:
        return [self.workers.expect(index)[1] for index in self.indices]

    def done(self, waiting: list[int] | None = None) -> Herd:
        results = [self.workers.expect(index)[1] for index in self.indices]
        starts = [(fields[1], float(fields[2])) for fields in read_log(self.log) if fields[0] == "start"]
        return Herd([o for r in results for o in r["outcomes"]], sorted(starts, key=lambda s: s[1]),
                    sum(r["hung"] for r in results), waiting or [])


def run_herd(workers: Workers, spec: dict[str, Any], log_dir: Path, *, options: dict[str, Any], key: str,
             indices: list[int] | None = None, threads: int = THREADS, tasks: int = TASKS_PER_PROCESS,
             sleep: float = COMPUTE, behaviour: str = "ok", ttl: Any = 300, join: float = 300) -> Herd:
    log = str(log_dir / f"computations-{uuid.uuid4().hex[:8]}.log")
    run = HerdRun(workers, indices if indices is not None else list(range(len(workers))), spec=spec, log=log,
                  options=options, key=key, threads=threads, tasks=tasks, sleep=sleep, behaviour=behaviour,
                  ttl=ttl, join=join)
    run.go()
    waiting = run.waiting()
    return run.done(waiting)


def expire(cache: Any, key: str, within: float = 10.0) -> None:
    """Store ``key`` with a 1 s timeout and wait until it has expired (an expired key, not a new one)."""
    cache.set(key, "expired value", 1)
    deadline = time.monotonic() + within
    while cache.get(key) is not None:
        assert time.monotonic() < deadline, f"{key} did not expire within {within} s"
        time.sleep(0.02)


def assert_single_flight(herd: Herd, callers: int) -> None:
    assert herd.hung == 0, f"{herd.hung} caller(s) still running"
    assert herd.errors == [], herd.errors[:5]
    assert len(herd.outcomes) == callers
    assert len(herd.starts) == 1, f"{len(herd.starts)} computations: {herd.starts[:10]}"
    expected = f"value-of-{herd.starts[0][0]}"
    wrong = [o for o in herd.outcomes if o[2] != expected]
    assert wrong == [], wrong[:5]


def herd_with_django(workers: Workers, spec: dict[str, Any], log_dir: Path, cache: Any, label: str,
                     options: dict[str, Any] | None = None,
                     threads: int = THREADS, tasks: int = TASKS_PER_PROCESS) -> tuple[Herd, Herd]:
    """The issue's herd, with STAMPEDE and then with Django's get_or_set, on one expired key each."""
    callers = len(workers) * (threads + tasks)
    ours_key, django_key = f"herd-{uuid.uuid4().hex[:8]}", f"herd-{uuid.uuid4().hex[:8]}"
    expire(cache, ours_key)
    ours = run_herd(workers, spec, log_dir, options={"STAMPEDE": options or True}, key=ours_key,
                    threads=threads, tasks=tasks)
    expire(cache, django_key)
    django = run_herd(workers, spec, log_dir, options={}, key=django_key, threads=threads, tasks=tasks)
    slowest = max(o[3] for o in ours.outcomes) if ours.outcomes else 0.0
    line = (f"[stampede herd {label}] {len(workers)} {workers.kind} x ({threads} threads + {tasks} tasks) "
              f"= {callers} callers, computation {COMPUTE * 1e3:.0f} ms: STAMPEDE {len(ours.starts)} "
              f"computation(s) (slowest caller {slowest:.2f} s); Django's get_or_set "
              f"{len(django.starts)} computation(s)")
    report(line)
    assert_single_flight(ours, callers)
    assert django.hung == 0
    return ours, django


# -- the lock holder killed ----------------------------------------------------------------
def killed_holder(workers: Workers, spec: dict[str, Any], log_dir: Path, cache: Any, *, lock_timeout: float,
                  lock_ttl: float, label: str, threads: int = 5, tasks: int = 5) -> float:
    """Worker 0's caller takes the lock and hangs; workers 1 and 2 wait; worker 0 is SIGKILLed.

    Returns the seconds from the kill to the start of the next computation, which must be
    the only one among the waiters and within the lock's lifetime (plus a margin for a
    shared, slow machine). Asserted here.
    """
    key = f"killed-{uuid.uuid4().hex[:8]}"
    expire(cache, key)
    options = {"STAMPEDE": {"lock_timeout": lock_timeout, "wait": lock_timeout * 10}}
    log = str(log_dir / f"killed-{uuid.uuid4().hex[:8]}.log")
    holder = HerdRun(workers, [0], spec=spec, log=log, options=options, key=key, threads=1, tasks=0,
                     sleep=0, behaviour="hang")
    holder.go()
    deadline = time.monotonic() + 60
    while not read_log(log):
        assert time.monotonic() < deadline, "the holder never started computing"
        time.sleep(0.01)
    waiters = HerdRun(workers, [1, 2], spec=spec, log=log, options=options, key=key, threads=threads,
                      tasks=tasks, sleep=0.05, wait_misses=True)
    waiters.go()
    waiting = waiters.waiting()
    assert waiting == [threads + tasks] * 2, waiting  # every waiter is inside get_or_set
    assert len(read_log(log)) == 1  # and none has computed: the holder's lock stands
    killed_at = workers.kill(0)
    herd = waiters.done()
    assert herd.hung == 0 and herd.errors == [], herd.errors[:3]
    starts = herd.starts
    assert len(starts) == 2, f"expected the holder's and one more computation: {starts}"
    took_over = starts[1][1] - killed_at
    bound = lock_ttl + 2.0  # the lock's lifetime from the kill at most, plus polling and a slow machine
    report(f"[stampede killed holder {label}] lock_timeout {lock_timeout:g} s (written with ttl {lock_ttl:g} s): "
          f"next computation {took_over:.2f} s after the SIGKILL (bound {bound:g} s)")
    assert 0 <= took_over <= bound, (took_over, bound)
    expected = f"value-of-{starts[1][0]}"
    assert all(o[1] == "ok" and o[2] == expected for o in herd.outcomes), herd.outcomes[:5]
    return took_over


# -- a raising computation -----------------------------------------------------------------
def raising(workers: Workers, spec: dict[str, Any], log_dir: Path, cache: Any, *, label: str,
            indices: list[int] | None = None, threads: int = 10, tasks: int = 10) -> None:
    """First computation raises: its caller gets the error, everyone else the next computation.
    Every computation raises: every caller gets the error of its own call. Nobody hangs."""
    indices = indices if indices is not None else [0, 1]
    options = {"STAMPEDE": {"lock_timeout": 5, "wait": 30}}
    key = f"raise-first-{uuid.uuid4().hex[:8]}"
    expire(cache, key)
    herd = run_herd(workers, spec, log_dir, options=options, key=key, indices=indices, threads=threads,
                    tasks=tasks, behaviour="raise_first", join=120)
    assert herd.hung == 0 and herd.errors == [], herd.errors[:3]
    assert len(herd.starts) == 2, herd.starts
    first, second = herd.starts[0][0], herd.starts[1][0]
    booms = [o for o in herd.outcomes if o[1] == "boom"]
    assert [(o[0], o[2]) for o in booms] == [(first, first)]  # its own caller, its own error
    assert all(o[2] == f"value-of-{second}" for o in herd.outcomes if o[1] == "ok")
    assert len(herd.outcomes) == len(indices) * (threads + tasks)
    served = len(herd.outcomes) - 1

    key = f"raise-always-{uuid.uuid4().hex[:8]}"
    expire(cache, key)
    small = max(2, threads // 2), max(2, tasks // 2)
    herd = run_herd(workers, spec, log_dir, options=options, key=key, indices=indices, threads=small[0],
                    tasks=small[1], sleep=0.02, behaviour="raise", join=120)
    assert herd.hung == 0 and herd.errors == [], herd.errors[:3]
    assert len(herd.outcomes) == len(indices) * sum(small)
    # Each caller got a Boom raised by its own call: nobody got another caller's error.
    assert all(o[1] == "boom" and o[2] == o[0] for o in herd.outcomes), herd.outcomes[:5]
    slowest = max(o[3] for o in herd.outcomes)
    report(f"[stampede raising {label}] raise-first: 1 error to its caller, "
          f"{served} callers served by the next computation; raise-always: "
          f"{len(herd.starts)} computations for {len(herd.outcomes)} callers, each its own error, "
          f"slowest {slowest:.2f} s")


# -- fail-soft with the server down ----------------------------------------------------------
def fail_soft_down(make_cache: Callable[[dict[str, Any]], Any], *, label: str, threads: int = 10,
                   tasks: int = 20, bound: float = 10.0, close: Callable[[], None] | None = None) -> None:
    """The server is down; STAMPEDE + IGNORE_EXCEPTIONS: every caller computes (no lock),
    in-process coalescing keeps it to few computations, and nothing waits for nobody."""
    computations: list[float] = []
    lock = threading.Lock()

    def compute() -> str:
        with lock:
            computations.append(time.monotonic())
        time.sleep(0.05)
        return "computed"

    go = threading.Event()
    outcomes: list[tuple[str, Any, float]] = []

    def caller(index: int) -> None:
        cache = make_cache({"STAMPEDE": True, "IGNORE_EXCEPTIONS": True})
        go.wait(30)
        started = time.monotonic()
        try:
            outcomes.append(("ok", cache.get_or_set(f"down-{index % 3}", compute, 60), time.monotonic() - started))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(("error", repr(exc), time.monotonic() - started))
        finally:
            if close is not None:
                close()

    async def acaller(index: int, cache: Any) -> None:
        started = time.monotonic()
        try:
            value = await cache.aget_or_set(f"down-{index % 3}", compute, 60)
            outcomes.append(("ok", value, time.monotonic() - started))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(("error", repr(exc), time.monotonic() - started))

    def loop_main() -> None:
        cache = make_cache({"STAMPEDE": True, "IGNORE_EXCEPTIONS": True})
        go.wait(30)

        async def run() -> None:
            try:
                await asyncio.gather(*(acaller(i, cache) for i in range(tasks)))
            finally:
                await close_in_sync_thread(close)

        try:
            asyncio.run(run())
        finally:
            if close is not None:
                close()

    pool = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(threads)]
    pool.append(threading.Thread(target=loop_main, daemon=True))
    for thread in pool:
        thread.start()
    go.set()
    for thread in pool:
        thread.join(60)
    assert not any(thread.is_alive() for thread in pool), "a caller hung"
    assert [o for o in outcomes if o[0] != "ok" or o[1] != "computed"] == []
    assert len(outcomes) == threads + tasks
    slowest = max(o[2] for o in outcomes)
    report(f"[stampede fail-soft down {label}] {len(outcomes)} callers, {len(computations)} computations, "
          f"slowest {slowest:.2f} s")
    assert slowest < bound, slowest


# -- early refresh --------------------------------------------------------------------------
@dataclass
class EarlyRun:
    reads: int
    misses: int
    computations: list[float]
    duration: float
    timeout: float
    lifetime: float  # the logical one: memcached's is a second shorter (whole-second clock)
    compute: float  # seconds one computation sleeps

    @property
    def hit_ratio(self) -> float:
        return 1 - self.misses / self.reads if self.reads else 0.0

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.computations, self.computations[1:])]

    def summary(self) -> str:
        gaps = self.gaps
        return (f"{self.reads} reads in {self.duration:g} s ({self.reads / self.duration:.0f}/s), hits "
                f"{self.hit_ratio:.4%}, {len(self.computations)} computations for a {self.timeout:g} s timeout"
                + (f" ({self.lifetime:g} s logical lifetime)" if self.lifetime != self.timeout else "")
                + (f", gaps {min(gaps):.2f}-{max(gaps):.2f} s" if gaps else ""))


def early_refresh(make_cache: Callable[[], Any], *, duration: float, timeout: float, rate: float = 1000,
                  readers: int = 4, compute: float = 0.05, mode: str = "sync",
                  close: Callable[[], None] | None = None, lifetime: float | None = None) -> EarlyRun:
    """``readers`` threads (or tasks) read one key at ``rate`` reads/s in all for ``duration`` s."""
    key = f"hot-{uuid.uuid4().hex[:8]}"
    computations: list[float] = []
    misses = [0]
    reads = [0]
    lock = threading.Lock()

    def on_event(event: str, _key: Any) -> None:
        if event == "miss":
            with lock:
                misses[0] += 1

    def sync_compute() -> str:
        with lock:
            computations.append(time.monotonic())
        time.sleep(compute)
        return "hot value"

    async def async_compute() -> str:
        with lock:
            computations.append(time.monotonic())
        await asyncio.sleep(compute)
        return "hot value"

    interval = readers / rate
    stop_listening = listen(on_event)
    started = time.monotonic()
    end = started + duration
    try:
        if mode == "sync":
            def reader() -> None:
                cache = make_cache()
                tick = time.monotonic()
                try:
                    while tick < end:
                        assert cache.get_or_set(key, sync_compute, timeout) == "hot value"
                        with lock:
                            reads[0] += 1
                        tick = max(tick + interval, time.monotonic() - interval)  # no catch-up bursts
                        pause = tick - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                finally:
                    if close is not None:
                        close()

            pool = [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(duration + 120)
            assert not any(thread.is_alive() for thread in pool), "a reader hung"
        else:
            async def areader(cache: Any) -> None:
                tick = time.monotonic()
                while tick < end:
                    assert await cache.aget_or_set(key, async_compute, timeout) == "hot value"
                    reads[0] += 1
                    tick = max(tick + interval, time.monotonic() - interval)
                    await asyncio.sleep(max(0.0, tick - time.monotonic()))

            async def main() -> None:
                cache = make_cache()
                try:
                    await asyncio.wait_for(asyncio.gather(*(areader(cache) for _ in range(readers))),
                                           duration + 120)
                finally:
                    await close_in_sync_thread(close)

            def in_thread() -> None:
                try:
                    asyncio.run(main())
                finally:
                    if close is not None:
                        close()

            thread = threading.Thread(target=in_thread, daemon=True)
            thread.start()
            thread.join(duration + 150)
            assert not thread.is_alive(), "the readers' loop hung"
    finally:
        stop_listening()
    return EarlyRun(reads[0], misses[0], computations, time.monotonic() - started, timeout,
                    timeout if lifetime is None else lifetime, compute)


def assert_early_refresh(run: EarlyRun, label: str) -> None:
    report(f"[stampede early refresh {label}] {run.summary()}")
    assert run.reads >= 0.5 * run.duration * 1000 * 0.5, run.summary()  # the machine kept up, roughly
    assert run.hit_ratio >= 0.99, run.summary()
    # One computation per value: a second computation of the same value (a caller that drew
    # from outdated metadata, or took the lock just after the refresher released it) would
    # start right after the first one ended, within a few compute times. XFetch itself may
    # refresh a value well before its expiry when a computation was measured slow (a stalled
    # machine): the lead grows with the compute time, so gaps are bounded below by that, and
    # the count by half a lifetime per computation.
    assert all(gap >= 2 * run.compute for gap in run.gaps), run.summary()
    assert len(run.computations) <= run.duration / (run.lifetime * 0.5) + 1, run.summary()


def early_refresh_options(**extra: Any) -> dict[str, Any]:
    return {"STAMPEDE": {"early_refresh": True, **extra}}


slow = pytest.mark.skipif(not RUN_SLOW, reason="60 s run: set ALTCACHE_SLOW=1 (CI runs it once, on Python 3.12)")
