from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .base import ManagedServer, ServerProcess, free_port, make_tempdir, require_binary, running, tcp_command


@dataclass
class RedisServer(ManagedServer):
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def ping(self) -> bool:
        return tcp_command(self.host, self.port, b"PING\r\n", b"+PONG")

    def ready(self) -> bool:
        return self.ping()


def redis_argv(binary: str, port: int, directory: Path, extra: Sequence[str] = ()) -> list[str]:
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
        *extra,
    ]


@contextmanager
def redis_server(extra_args: Sequence[str] = (), port: int | None = None) -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    directory = make_tempdir("redis")
    port = port or free_port()
    process = ServerProcess(redis_argv(binary, port, directory, extra_args), name="redis-server",
                            log_path=directory / "redis.log", cwd=directory)
    with running(RedisServer(port=port, dir=directory, process=process, extra_args=list(extra_args))) as server:
        yield server
