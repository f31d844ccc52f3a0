"""Child-process side of the concurrency tests (imported by multiprocessing's spawn)."""

from __future__ import annotations

import os
import threading
from typing import Any


def run_process(alias: str, db_name: str, table: str, worker: int, threads: int, rounds: int) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    # Point the alias at the test database before any connection exists.
    settings.DATABASES[alias]["NAME"] = db_name
    from django.db import connections, router

    from django_altcache.backends.db import DatabaseCache
    from tests.db.conftest import OneDatabaseRouter

    router.routers = [OneDatabaseRouter(alias)]
    cache = DatabaseCache(table, {"OPTIONS": {"MAX_ENTRIES": 100_000}})
    incrs = [0] * threads
    wins: list[tuple[int, str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def thread_main(index: int) -> None:
        me = f"{worker}-{index}"
        try:
            for round_no in range(rounds):
                cache.incr("counter")
                incrs[index] += 1
                if cache.add(f"add-{round_no}", me, None):
                    with lock:
                        wins.append((round_no, me))
                cache.set(f"set-{round_no % 3}", me)
        except Exception as exc:  # reported to the test, which fails on any
            with lock:
                errors.append(f"{me}: {type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    pool = [threading.Thread(target=thread_main, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    hung = sum(thread.is_alive() for thread in pool)
    if hung:
        errors.append(f"{hung} thread(s) still running after 300 s")
    return {"incrs": sum(incrs), "wins": wins, "errors": errors}
