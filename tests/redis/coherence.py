"""Two processes against a real server: one writes a key N times, the other reads it in a tight
loop with the local tier on; how stale did the reader get?

    python -m tests.redis.coherence writer CONFIG.json
    python -m tests.redis.coherence reader CONFIG.json

``run(config, disrupt)`` (from a test or a benchmark) starts both, calls ``disrupt(progress)``
while the writer runs (kill, freeze, CLIENT KILL, failover...), and returns the ``Report``.

The writer writes 1..N (ints) with random pauses and records when each write was acknowledged;
after a failed write it retries the same value until one succeeds (the acknowledgement is the
success). With ``wait_replicas`` each write is followed by ``WAIT``, so a failover cannot lose an
acknowledged write (the leader's asynchronous replication would otherwise make the server itself
go back, which says nothing about the local tier).

The reader records segments: (value, start of the first read that returned it, start of the last
one). Reads that fail (server down) are counted, not recorded. Clocks: ``time.monotonic()``,
which is CLOCK_MONOTONIC, one clock for every process on Linux.

Staleness of write i = (start of the last read that returned a value < i) - (ack of i), when
positive (``Report.staleness_ms``). A *stale read* returned v while a write > v had been
acknowledged more than a given slack earlier (``Report.stale_reads``).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEY = "coherence"


@dataclass
class Config:
    location: Any  # the reader's LOCATION (and the writer's, unless writer_url)
    writes: int = 1000
    pause_ms: float = 2.0  # each pause is uniform in [0, pause_ms]
    local_cache: Any = True
    options: dict[str, Any] = field(default_factory=dict)  # the reader's other OPTIONS
    writer: str = "django"  # "django" (Django's own RedisCache), "redis-py", "sentinel"
    writer_url: str = ""  # redis-py URL (or sentinel://host:port,.../service for "sentinel")
    wait_replicas: int = 0
    key_prefix: str = "coh"
    deadline: float = 120.0  # seconds the reader keeps going at most
    socket_timeout: float = 0.5
    workdir: str = ""

    def path(self, name: str) -> Path:
        return Path(self.workdir) / name


# -- the two processes ---------------------------------------------------------------------
def _django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={}, USE_TZ=True)
        django.setup()


def _writer_client(config: Config) -> Callable[[int], None]:
    made = f"{config.key_prefix}:1:{KEY}"
    timeouts = {"socket_timeout": config.socket_timeout, "socket_connect_timeout": config.socket_timeout}
    if config.writer == "django":
        from django.core.cache.backends.redis import RedisCache

        cache = RedisCache(config.writer_url or config.location, {"KEY_PREFIX": config.key_prefix,
                                                                  "OPTIONS": timeouts})
        return lambda value: cache.set(KEY, value, None)
    import redis

    if config.writer == "sentinel":
        from redis.sentinel import Sentinel

        hosts, _, service = config.writer_url.split("://", 1)[1].partition("/")
        sentinels = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in hosts.split(",")]
        client = Sentinel(sentinels, sentinel_kwargs=timeouts, **timeouts).master_for(service, **timeouts)
    else:
        client = redis.Redis.from_url(config.writer_url or config.location, **timeouts)

    replicated = [bool(config.wait_replicas)]

    def write(value: int) -> None:
        client.set(made, value)
        if replicated[0]:
            # While the leader has its replica, a write counts once the replica has it, so a
            # failover cannot take an acknowledged write back. Once the replica is gone (the
            # failover happened: this is the new leader, alone), writes count as they are.
            if int(client.execute_command("WAIT", config.wait_replicas, 200)) < config.wait_replicas:
                replicated[0] = False

    return write


def writer(config: Config) -> None:
    _django()
    write = _writer_client(config)
    rng = random.Random(1234)
    acks: list[float] = []
    failures = 0
    progress = config.path("progress")
    write(0)  # a fresh start: nothing left from an earlier run
    config.path("writer-ready").write_text("1")
    while not config.path("go").exists():
        time.sleep(0.001)
    give_up = time.monotonic() + config.deadline
    for value in range(1, config.writes + 1):
        while True:
            try:
                write(value)
            except Exception:  # noqa: BLE001 - an outage in progress: retry the same value
                failures += 1
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.01)
                continue
            break
        acks.append(time.monotonic())
        progress.write_text(str(value))
        time.sleep(rng.uniform(0, config.pause_ms / 1000))
    config.path("writer.json").write_text(json.dumps({"acks": acks, "failures": failures}))


def reader(config: Config) -> None:
    _django()
    from django_altcache.backends.redis import RedisCache

    cache = RedisCache(config.location, {
        "KEY_PREFIX": config.key_prefix,
        "OPTIONS": {"LOCAL_CACHE": config.local_cache, "socket_timeout": config.socket_timeout,
                    "socket_connect_timeout": config.socket_timeout, **config.options}})
    get = cache.get
    monotonic = time.monotonic
    # Warm up: the channel must be live before the writer starts, else the first reads are
    # simply not local (correct, but not what is measured).
    try:
        get(KEY)
    except Exception:  # noqa: BLE001
        pass
    if config.local_cache:
        cache._cache.local.wait_live(10)
    config.path("reader-ready").write_text("1")
    while not config.path("go").exists():
        time.sleep(0.001)
    segments: list[list[float]] = []  # [value, first start, last start]
    errors = 0
    reads = 0
    current = None
    stop_at = monotonic() + config.deadline
    final = config.writes
    while True:
        started = monotonic()
        if started > stop_at:
            break
        try:
            value = get(KEY)
        except Exception:  # noqa: BLE001 - the server is down: no value read
            errors += 1
            time.sleep(0.001)
            continue
        reads += 1
        value = value or 0
        if value != current:
            segments.append([value, started, started])
            current = value
        else:
            segments[-1][2] = started
        if value == final:
            break
    stats = cache._cache.local.store.stats() if config.local_cache else {}
    channels = [{"connects": c.connects, "losses": c.losses} for c in cache._cache.local.channels()] \
        if config.local_cache else []
    config.path("reader.json").write_text(json.dumps({"segments": segments, "errors": errors, "reads": reads,
                                                      "store": stats, "channels": channels}))


# -- analysis ----------------------------------------------------------------------------------
@dataclass
class Report:
    writes: int
    acks: list[float]
    segments: list[list[float]]
    reads: int
    read_errors: int
    write_failures: int
    store: dict[str, int]
    channels: list[dict[str, int]]

    @property
    def finished(self) -> bool:
        return bool(self.segments) and self.segments[-1][0] == self.writes

    @property
    def staleness_ms(self) -> list[float]:
        """Per write: how long after its acknowledgement a read still returned an older value."""
        result = []
        for index, ack in enumerate(self.acks):
            write = index + 1
            last_older = max((seg[2] for seg in self.segments if seg[0] < write), default=None)
            result.append(max(0.0, (last_older - ack) * 1000) if last_older is not None else 0.0)
        return result

    def stale_reads(self, slack_ms: float) -> int:
        """Runs of reads that returned v while a write > v had been acknowledged more than
        ``slack_ms`` earlier (a segment is a run of reads of one value)."""
        slack = slack_ms / 1000
        return sum(1 for value, _, last in self.segments
                   if int(value) < len(self.acks) and last - self.acks[int(value)] > slack)

    @property
    def went_back(self) -> int:
        return sum(1 for before, after in zip(self.segments, self.segments[1:]) if after[0] < before[0])

    def pct(self, p: float) -> float:
        data = sorted(self.staleness_ms)
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))] if data else 0.0

    def summary(self) -> str:
        data = self.staleness_ms
        return (f"{self.writes} writes ({self.write_failures} failed attempts), {self.reads} reads "
                f"({self.read_errors} failed); staleness per write: median {statistics.median(data):.3f} ms, "
                f"p99 {self.pct(99):.3f} ms, max {max(data):.3f} ms; read runs staler than 5 ms: "
                f"{self.stale_reads(5)}, than 50 ms: {self.stale_reads(50)}; went back: {self.went_back}; "
                f"channels {self.channels}; store {self.store}")


# -- orchestration ---------------------------------------------------------------------------
def _spawn(role: str, config_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.redis.coherence", role, str(config_path)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{path.name}: process exited with {proc.returncode}:\n{out}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} not written within {timeout} s")
        time.sleep(0.01)


def progress(config: Config) -> int:
    try:
        return int(config.path("progress").read_text() or 0)
    except (OSError, ValueError):
        return 0


def wait_progress(config: Config, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while progress(config) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the writer did not reach {count} writes within {timeout} s")
        time.sleep(0.002)


def run(config: Config, disrupt: Callable[[Config], None] | None = None) -> Report:
    with tempfile.TemporaryDirectory(prefix="altcache-coherence-") as workdir:
        config.workdir = workdir
        config_path = Path(workdir) / "config.json"
        config_path.write_text(json.dumps(asdict(config)))
        procs = [_spawn("writer", config_path)]
        try:
            # The writer resets the key first, so the reader never starts on an earlier run's value.
            _wait_file(config.path("writer-ready"), procs[0], 30)
            procs.insert(0, _spawn("reader", config_path))
            _wait_file(config.path("reader-ready"), procs[0], 30)
            config.path("go").write_text("1")
            if disrupt is not None:
                disrupt(config)
            for proc in procs:
                try:
                    proc.wait(config.deadline + 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for proc, name in zip(procs, ("reader", "writer")):
                if proc.returncode != 0:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    raise RuntimeError(f"the {name} exited with {proc.returncode}:\n{out}")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                if proc.stdout:
                    proc.stdout.close()
        wrote = json.loads(config.path("writer.json").read_text())
        read = json.loads(config.path("reader.json").read_text())
    return Report(config.writes, wrote["acks"], read["segments"], read["reads"], read["errors"], wrote["failures"],
                  read["store"], read["channels"])


def main(argv: list[str]) -> None:
    role, path = argv
    config = Config(**json.loads(Path(path).read_text()))
    {"writer": writer, "reader": reader}[role](config)


if __name__ == "__main__":
    main(sys.argv[1:])
