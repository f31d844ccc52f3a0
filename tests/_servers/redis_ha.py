"""Redis topologies beyond one server, on 127.0.0.1 free ports: Sentinel and Cluster.

``redis_sentinel()``: a leader, a replica of it, and 1..3 ``redis-server --sentinel``
processes watching them with short failure timers, so a killed leader is replaced
within a few seconds. ``redis_cluster()``: three cluster-enabled masters joined with
``redis-cli --cluster create``. Every process is always stopped, temp dirs removed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import ServerProcess, free_port, make_tempdir, require_binary, tcp_command, wait_until
from .redis import RedisServer, redis_argv, redis_server

SERVICE = "altcache"
# Redis 7 waits 5 s before a diskless full sync to batch replicas; ours is alone.
LEADER_ARGS = ["--repl-diskless-sync-delay", "0"]
# Sentinel timers (sentinel.conf): a leader silent this long is "subjectively down";
# a failover attempt that stalls is retried after failover-timeout.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


def _info(host: str, port: int, command: bytes) -> str:
    import socket

    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(command)
        chunks = b""
        while True:  # a bulk reply: read until the declared length arrived
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks += chunk
            head, _, body = chunks.partition(b"\r\n")
            if head.startswith(b"$") and len(body) >= int(head[1:]):
                break
            if head[:1] in (b"+", b"-", b":", b"*"):
                break
        return chunks.decode(errors="replace")


@dataclass
class SentinelTopology:
    leader: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer]
    service: str = SERVICE

    @property
    def location(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"sentinel://{hosts}/{self.service}"

    def master_port(self) -> int | None:
        """The leader's port as the first sentinel currently reports it."""
        for sentinel in self.sentinels:
            if not sentinel.process.running:
                continue
            reply = _info("127.0.0.1", sentinel.port,
                          f"SENTINEL get-master-addr-by-name {self.service}\r\n".encode())
            parts = [line for line in reply.split("\r\n") if line and line[0] not in "*$"]
            if len(parts) == 2:
                return int(parts[1])
        return None


def _sentinel_conf(directory: Path, port: int, leader_port: int, quorum: int) -> Path:
    conf = directory / f"sentinel-{port}.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {directory}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {leader_port} {quorum}\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    return conf


@contextlib.contextmanager
def redis_sentinel(sentinels: int = 3, failover: bool = True) -> Iterator[SentinelTopology]:
    """``failover=False``: the replica is never promoted (replica-priority 0), so the leader stays
    the leader through any outage (tests of outages that are not about failing over)."""
    if not 1 <= sentinels <= 3:
        raise ValueError(f"sentinels must be 1..3, got {sentinels}")
    binary = require_binary("redis-server")
    never_promoted = [] if failover else ["--replica-priority", "0"]
    with contextlib.ExitStack() as stack:
        leader = stack.enter_context(redis_server(LEADER_ARGS))
        replica = stack.enter_context(redis_server(["--replicaof", "127.0.0.1", str(leader.port), *never_promoted]))
        wait_until(lambda: "master_link_status:up" in _info("127.0.0.1", replica.port, b"INFO replication\r\n"),
                   timeout=20, what="replica sync")
        directory = make_tempdir("sentinel")
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        quorum = sentinels // 2 + 1
        watchers: list[RedisServer] = []
        for _ in range(sentinels):
            port = free_port()
            conf = _sentinel_conf(directory, port, leader.port, quorum)
            process = ServerProcess([binary, str(conf), "--sentinel"], name="sentinel",
                                    log_path=directory / f"sentinel-{port}.log", cwd=directory)
            server = RedisServer(port=port, dir=directory, process=process)
            stack.callback(server.stop)
            server.start()
            watchers.append(server)
        topology = SentinelTopology(leader, replica, watchers)
        for sentinel in watchers:  # each sentinel must know the replica before a failover can pick it
            wait_until(lambda s=sentinel: f"{replica.port}" in _info(
                "127.0.0.1", s.port, f"SENTINEL replicas {SERVICE}\r\n".encode()),
                timeout=20, what="sentinel discovering the replica")
        yield topology


@dataclass
class ClusterTopology:
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def location(self) -> list[str]:
        return [node.url for node in self.nodes]


def _cluster_ok(node: RedisServer) -> bool:
    return "cluster_state:ok" in _info("127.0.0.1", node.port, b"CLUSTER INFO\r\n")


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[ClusterTopology]:
    binary = require_binary("redis-server")
    cli = require_binary("redis-cli")
    topology = ClusterTopology()
    with contextlib.ExitStack() as stack:
        for _ in range(masters):
            directory = make_tempdir("redis-cluster")
            stack.callback(shutil.rmtree, directory, ignore_errors=True)
            port = free_port()
            # An explicit bus port: the default (port + 10000) may be taken or out of range.
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                     "--cluster-node-timeout", "2000", "--cluster-port", str(free_port())]
            process = ServerProcess(redis_argv(binary, port, directory, extra), name="redis-cluster",
                                    log_path=directory / "redis.log", cwd=directory)
            node = RedisServer(port=port, dir=directory, process=process, extra_args=extra)
            stack.callback(node.stop)
            node.start()
            topology.nodes.append(node)
        addresses = [f"127.0.0.1:{node.port}" for node in topology.nodes]
        subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        for node in topology.nodes:
            wait_until(lambda n=node: _cluster_ok(n), timeout=30, what=f"cluster state on {node.port}")
        yield topology


__all__ = ["ClusterTopology", "SentinelTopology", "redis_cluster", "redis_sentinel", "tcp_command"]
