from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .base import ManagedServer, ServerProcess, free_port, make_tempdir, require_binary, running, tcp_command


@dataclass
class MemcachedServer(ManagedServer):
    @property
    def location(self) -> str:
        return f"{self.host}:{self.port}"

    def ping(self) -> bool:
        return tcp_command(self.host, self.port, b"version\r\n", b"VERSION")

    def ready(self) -> bool:
        return self.ping()


@contextmanager
def memcached_server(extra_args: Sequence[str] = (), port: int | None = None,
                     memory_mb: int = 64) -> Iterator[MemcachedServer]:
    binary = require_binary("memcached")
    directory = make_tempdir("memcached")
    port = port or free_port()
    # memcached refuses to run as root without -u; "nobody" exists on Debian.
    argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(memory_mb), "-u", "nobody",
            *extra_args]
    process = ServerProcess(argv, name="memcached", log_path=directory / "memcached.log", cwd=directory)
    with running(MemcachedServer(port=port, dir=directory, process=process)) as server:
        yield server
