"""Read memcached's own counters over a plain socket (independent of the clients under test)."""

from __future__ import annotations

import socket


def server_stats(location: str) -> dict[str, int]:
    host, _, port = location.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"stats\r\n")
        data = b""
        for _ in range(1000):  # bounded: the reply is a few kB
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.endswith(b"END\r\n"):
                break
    stats = {}
    for line in data.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[2].lstrip("-").isdigit():
            stats[parts[1]] = int(parts[2])
    return stats
