"""A small load generator for the demo (``./dev demo --load``), and the outage drill on a timer.

Threads request the site's pages over real HTTP (the read-through ``/work/`` page,
the page counter, the cached pages, a session) at a steady rate, so the dashboard
has something to chart. Every ``drill_every`` seconds Redis is killed (SIGKILL) for
``drill_down`` seconds and started again, and the dashboard's timeline marks both.
Everything stops when ``stop()`` is called, or after ``duration`` seconds.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

PAGES = (("/work/?n=8", 6), ("/", 2), ("/cached/site/", 1), ("/session/", 1), ("/cached/view/", 1))


def wait_for_port(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the site did not start listening on {host}:{port} within {timeout} s")


class LoadGenerator:
    def __init__(self, base_url: str, *, rate: float = 40.0, threads: int = 4, redis: Any = None,
                 drill_every: float = 60.0, drill_down: float = 8.0, first_drill: float = 25.0,
                 duration: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.threads = threads
        self.redis = redis
        self.drill_every, self.drill_down, self.first_drill = drill_every, drill_down, first_drill
        self.duration = duration
        self.stopped = threading.Event()
        self.requests = self.failures = 0
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        weighted = [path for path, weight in PAGES for _ in range(weight)]
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(weighted, index), daemon=True,
                                      name=f"demo-load-{index}")
            worker.start()
            self._workers.append(worker)
        if self.redis is not None:
            drill = threading.Thread(target=self._drills, daemon=True, name="demo-outage-drill")
            drill.start()
            self._workers.append(drill)

    def stop(self) -> None:
        self.stopped.set()
        for worker in self._workers:
            worker.join(10)

    def _over(self, started: float) -> bool:
        return self.stopped.is_set() or (self.duration is not None and time.monotonic() - started > self.duration)

    def _run(self, pages: list[str], index: int) -> None:
        rng = random.Random(index)
        interval = self.threads / self.rate  # each thread's share of the rate
        started = time.monotonic()
        next_at = started
        while not self._over(started):
            try:
                with urllib.request.urlopen(self.base_url + rng.choice(pages), timeout=10) as response:
                    response.read()
                ok = True
            except (urllib.error.URLError, OSError):
                ok = False
            with self._lock:
                self.requests += 1
                self.failures += not ok
            next_at += interval * rng.uniform(0.5, 1.5)
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def _drills(self) -> None:
        from demoapp import events

        started = time.monotonic()
        if self.stopped.wait(self.first_drill):
            return
        while not self._over(started):
            self.redis.kill()
            events.note(f"Redis killed (SIGKILL): outage drill, back in {self.drill_down:g} s", "outage")
            print(f"  [load] Redis killed; restarting it in {self.drill_down:g} s", flush=True)
            self.stopped.wait(self.drill_down)
            self.redis.start()
            events.note("Redis restarted", "recovery")
            print("  [load] Redis restarted", flush=True)
            if self.stopped.wait(self.drill_every):
                return
