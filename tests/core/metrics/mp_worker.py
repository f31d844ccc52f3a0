"""A worker process for the multiprocess Prometheus test (run with PROMETHEUS_MULTIPROC_DIR set).

    python -m tests.core.metrics.mp_worker ALIAS GETS [--fork N]

Records GETS gets (3 hits, then a miss) for ALIAS from 4 threads, then exits normally
(the atexit flush writes the totals). With --fork N it first builds the recorder, then
forks N children that each do the same, as gunicorn --preload workers do.
"""

from __future__ import annotations

import os
import sys
import threading

from django_altcache.metrics import MetricsSettings, recorder_for


def work(alias: str, gets: int) -> None:
    recorder = recorder_for(alias, "redis", MetricsSettings(latency=True, prometheus=True))

    def run(count: int) -> None:
        for i in range(count):
            hit = i % 4 != 3
            recorder.record("get", 0.0003, int(hit), int(not hit), None, False)

    threads = [threading.Thread(target=run, args=(gets // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv: list[str]) -> int:
    alias, gets = argv[0], int(argv[1])
    if len(argv) > 2 and argv[2] == "--fork":
        recorder = recorder_for(alias, "redis", MetricsSettings(latency=True, prometheus=True))
        recorder.record("get", 0.0003, 1, 0, None, False)  # the parent's own call, before forking
        children = []
        for _ in range(int(argv[3])):
            pid = os.fork()
            if pid == 0:
                work(alias, gets)
                sys.exit(0)  # a normal exit: atexit handlers (the final flush) run
            children.append(pid)
        status = 0
        for pid in children:
            status |= os.waitpid(pid, 0)[1]
        return 1 if status else 0
    work(alias, gets)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
