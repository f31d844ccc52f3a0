"""Coherence of the local tier across processes, in normal operation and while the servers are
killed, frozen, restarted or failed over (tests/redis/coherence.py runs the two processes).

A writer process writes 1..1000 with random pauses; a reader process reads in a tight loop with
LOCAL_CACHE on. The product's promise: no read returns a value older than the last write
acknowledged 5 ms earlier (the tier applies the server's reports at least every millisecond).
On this shared 2-core machine the assertions are generous (STALE_MS); the measured figures are
printed (run with -s) and committed by benchmarks/local.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests._servers.base import wait_until
from tests._servers.redis import Flavour, RedisServer, redis_server
from tests._servers.redis_ha import SentinelTopology, redis_sentinel
from tests.conftest import dedicated
from tests.redis.coherence import Config, Report, run, wait_progress

STALE_MS = 50.0  # a read staler than this fails the test (the target is 5 ms; the machine is shared)
P99_MS = 25.0


def check(report: Report, what: str, *, losses: bool) -> None:
    print(f"\n[coherence] {what}: {report.summary()}")
    assert report.finished, f"{what}: the reader never saw the last write"
    assert report.went_back == 0, f"{what}: a read returned an older value than one read before it"
    assert report.stale_reads(STALE_MS) == 0, f"{what}: {report.summary()}"
    assert report.pct(99) <= P99_MS, f"{what}: {report.summary()}"
    if losses:  # the disruption did reach the tier
        assert sum(channel["losses"] for channel in report.channels) >= 1, report.channels


@pytest.fixture
def persistent(flavour: Flavour) -> Iterator[RedisServer]:
    """A server whose acknowledged writes survive a kill -9 (AOF, fsync per write)."""
    yield from dedicated(redis_server, ["--appendonly", "yes", "--appendfsync", "always"], flavour=flavour)


def _config(server: RedisServer, **kwargs: Any) -> Config:
    # The reader takes the flavour's own LOCATION (valkey://); Django's backend writes, redis:// only.
    return Config(location=server.url, writer_url=server.raw_url, **kwargs)


def test_two_processes(persistent: RedisServer) -> None:
    check(run(_config(persistent)), "steady", losses=False)


def test_client_kill(persistent: RedisServer) -> None:
    admin = redis.Redis.from_url(persistent.raw_url)

    def disrupt(config: Config) -> None:
        for at in (250, 500, 750):
            wait_progress(config, at)
            admin.client_kill_filter(_type="normal", skipme=True)  # the channel and every pooled connection

    check(run(_config(persistent), disrupt), "CLIENT KILL x3", losses=True)
    admin.close()


def test_server_restart(persistent: RedisServer) -> None:
    def disrupt(config: Config) -> None:
        for at in (300, 650):
            wait_progress(config, at)
            persistent.kill()
            time.sleep(0.1)
            persistent.start()

    check(run(_config(persistent), disrupt), "kill -9 + restart x2", losses=True)


def test_frozen_server(persistent: RedisServer) -> None:
    def disrupt(config: Config) -> None:
        wait_progress(config, 400)
        persistent.freeze()
        try:
            time.sleep(1.5)  # longer than the lease: the tier must notice
        finally:
            persistent.thaw()

    check(run(_config(persistent, local_cache={"lease": 0.5})), "steady, lease 0.5", losses=False)
    check(run(_config(persistent, local_cache={"lease": 0.5}), disrupt), "frozen 1.5 s", losses=False)


@pytest.fixture
def sentinel(flavour: Flavour) -> Iterator[SentinelTopology]:
    yield from dedicated(redis_sentinel, flavour=flavour)


def _failover_config(topology: SentinelTopology) -> Config:
    # The lease (0.5 s) is below the sentinels' down-after (1 s): a silent leader stops local
    # hits before a replica can be promoted and take writes.
    return Config(location=topology.location, local_cache={"lease": 0.5}, writer="sentinel",
                  writer_url=topology.location, wait_replicas=1)


def _promoted(topology: SentinelTopology) -> None:
    wait_until(lambda: topology.master_port() == topology.replica.port, timeout=30, what="the failover")


def test_failover_after_a_kill(sentinel: SentinelTopology) -> None:
    def disrupt(config: Config) -> None:
        wait_progress(config, 300)
        sentinel.leader.kill()
        _promoted(sentinel)

    check(run(_failover_config(sentinel), disrupt), "Sentinel failover, leader killed", losses=True)


def test_failover_after_a_freeze(sentinel: SentinelTopology) -> None:
    frozen: list[Any] = []

    def disrupt(config: Config) -> None:
        wait_progress(config, 300)
        sentinel.leader.freeze()
        frozen.append(True)
        _promoted(sentinel)
        wait_progress(config, 600)
        sentinel.leader.thaw()  # the old leader comes back (demoted by the sentinels)
        frozen.clear()

    try:
        check(run(_failover_config(sentinel), disrupt), "Sentinel failover, leader frozen then thawed",
              losses=True)
    finally:
        if frozen:
            sentinel.leader.thaw()
