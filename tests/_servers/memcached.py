from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import ServerProcess, free_port, make_tempdir, require_binary, tcp_command, wait_until


@dataclass
class MemcachedServer:
    port: int
    dir: Path
    process: ServerProcess
    host: str = "127.0.0.1"

    @property
    def location(self) -> str:
        return f"{self.host}:{self.port}"

    def ping(self) -> bool:
        return tcp_command(self.host, self.port, b"version\r\n", b"VERSION")

    def start(self) -> None:
        self.process.start()
        wait_until(self.ping, timeout=20, what=f"memcached on port {self.port}", proc=self.process)

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()


@contextlib.contextmanager
def memcached_server(extra_args: Sequence[str] = (), port: int | None = None,
                     memory_mb: int = 64) -> Iterator[MemcachedServer]:
    binary = require_binary("memcached")
    directory = make_tempdir("memcached")
    port = port or free_port()
    # memcached refuses to run as root without -u; "nobody" exists on Debian.
    argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(memory_mb), "-u", "nobody",
            *extra_args]
    process = ServerProcess(argv, name="memcached", log_path=directory / "memcached.log", cwd=directory)
    server = MemcachedServer(port=port, dir=directory, process=process)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
