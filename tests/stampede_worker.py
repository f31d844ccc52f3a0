"""Child-process side of the stampede tests (started with multiprocessing's spawn).

A worker builds caches from a picklable spec, exactly as Django's CacheHandler does
(``Backend(location, params)``, one instance per thread), and runs commands the parent
sends over a pipe. Computations are counted across processes in a log file: every
computation appends one line (``O_APPEND`` writes of one short line are atomic).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

START_TIMEOUT = 120.0  # bound on any wait of a worker for the parent
_ready = False


class Boom(Exception):
    """What a raising computation raises; carries the id of the caller that computed."""

    def __init__(self, who: str) -> None:
        super().__init__(who)
        self.who = who


def record(log: str, line: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_log(log: str) -> list[list[str]]:
    try:
        with open(log) as fh:
            return [line.split() for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def computation(log: str, who: str, sleep: float, behaviour: str = "ok") -> Callable[[], Any]:
    """The callable a caller passes: logs ``start <who> <time>``, sleeps, then answers."""

    def compute() -> Any:
        record(log, f"start {who} {time.time():.6f}")
        if behaviour == "hang":
            time.sleep(3600)  # killed before it ends
        time.sleep(sleep)
        if behaviour == "raise":
            raise Boom(who)
        if behaviour == "raise_first":
            # Only the very first computation (across processes) raises.
            try:
                os.close(os.open(log + ".first", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
            else:
                raise Boom(who)
        return f"value-of-{who}"

    return compute


# -- building caches ----------------------------------------------------------------------
def setup_django(spec: dict[str, Any]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    global _ready
    if not _ready:
        django.setup()
        _ready = True
    db = spec.get("db")
    if db:
        from django.db import connections, router

        from tests.db.conftest import OneDatabaseRouter

        if settings.DATABASES[db["alias"]]["NAME"] != db["name"]:
            connections.close_all()
            settings.DATABASES[db["alias"]]["NAME"] = db["name"]
            connections.settings[db["alias"]]["NAME"] = db["name"]
        router.routers = [OneDatabaseRouter(db["alias"])]


def build(spec: dict[str, Any], options: dict[str, Any]) -> Any:
    from django.utils.module_loading import import_string

    params = {**spec.get("params", {})}
    params["OPTIONS"] = {**params.get("OPTIONS", {}), **options}
    return import_string(spec["backend"])(spec["location"], params)


def close_connections() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()


# -- commands -----------------------------------------------------------------------------
def herd(conn: Any, spec: dict[str, Any], *, options: dict[str, Any], key: str, threads: int, tasks: int,
         log: str, sleep: float, behaviour: str = "ok", ttl: Any = 300, join: float = 300,
         tag: str = "", wait_misses: bool = False) -> dict[str, Any]:
    """``threads`` threads and ``tasks`` asyncio tasks call get_or_set(key, ..., ttl) at once.

    Phase 1: every caller is built and blocked; "ready" is sent. Phase 2 ("go" received):
    all released together, and ``("waiting", misses)`` is sent: with ``wait_misses``, once
    every caller has entered the miss path (event "miss", STAMPEDE only) or after 30 s.
    Returns each call's outcome.
    """
    from django_altcache.stampede import listen

    go = threading.Event()
    outcomes: list[tuple[str, str, Any, float]] = []
    lock = threading.Lock()
    misses = [0]

    def on_event(event: str, _key: Any) -> None:
        if event == "miss":
            with lock:
                misses[0] += 1

    stop_listening = listen(on_event)
    pid = os.getpid()

    def outcome(who: str, kind: str, value: Any, started: float) -> None:
        with lock:
            outcomes.append((who, kind, value, time.monotonic() - started))

    def thread_main(index: int) -> None:
        who = f"{tag}p{pid}t{index}"
        cache = build(spec, options)
        go.wait(START_TIMEOUT)
        started = time.monotonic()
        try:
            value = cache.get_or_set(key, computation(log, who, sleep, behaviour), ttl)
        except Boom as exc:
            outcome(who, "boom", exc.who, started)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            outcome(who, "error", f"{type(exc).__name__}: {exc}", started)
        else:
            outcome(who, "ok", value, started)
        finally:
            close_connections()

    async def task_main(index: int, cache: Any) -> None:
        who = f"{tag}p{pid}a{index}"
        started = time.monotonic()
        try:
            value = await cache.aget_or_set(key, computation(log, who, sleep, behaviour), ttl)
        except Boom as exc:
            outcome(who, "boom", exc.who, started)
        except Exception as exc:  # noqa: BLE001
            outcome(who, "error", f"{type(exc).__name__}: {exc}", started)
        else:
            outcome(who, "ok", value, started)

    def loop_main() -> None:
        cache = build(spec, options)

        async def run() -> None:
            from asgiref.sync import sync_to_async

            try:
                await asyncio.gather(*(task_main(i, cache) for i in range(tasks)))
            finally:  # the twins' sync work ran in asgiref's thread: close its connections too
                await sync_to_async(close_connections, thread_sensitive=True)()

        go.wait(START_TIMEOUT)
        try:
            asyncio.run(run())
        finally:
            close_connections()

    pool = [threading.Thread(target=thread_main, args=(i,), daemon=True) for i in range(threads)]
    if tasks:
        pool.append(threading.Thread(target=loop_main, daemon=True))
    for thread in pool:
        thread.start()
    conn.send("ready")
    if not conn.poll(START_TIMEOUT) or conn.recv() != "go":
        raise RuntimeError("no go from the parent")
    go.set()
    deadline = time.monotonic() + 30
    while wait_misses and misses[0] < threads + tasks and time.monotonic() < deadline:
        time.sleep(0.005)
    conn.send(("waiting", misses[0]))
    deadline = time.monotonic() + join
    for thread in pool:
        thread.join(max(0.0, deadline - time.monotonic()))
    stop_listening()
    hung = sum(thread.is_alive() for thread in pool)
    return {"outcomes": outcomes, "hung": hung, "pid": pid}


def ping(conn: Any, spec: dict[str, Any]) -> int:
    return os.getpid()


COMMANDS: dict[str, Callable[..., Any]] = {"herd": herd, "ping": ping}


def serve(conn: Any, spec: dict[str, Any]) -> None:
    """The worker's main loop: one command at a time until "stop" or the pipe closes."""
    try:
        setup_django(spec)
        conn.send(("started", os.getpid()))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message == "stop":
                return
            name, kwargs = message
            try:
                own = kwargs.pop("spec", spec)
                setup_django(own)
                result = COMMANDS[name](conn, own, **kwargs)
            except BaseException:  # noqa: BLE001 - handed to the parent
                conn.send(("error", traceback.format_exc()))
            else:
                conn.send(("done", result))
    finally:
        close_connections()
