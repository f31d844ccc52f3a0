from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .base import ServerProcess, free_port, make_tempdir, require_binary, tcp_command, wait_until


@dataclass
class RedisServer:
    port: int
    dir: Path
    process: ServerProcess
    extra_args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def ping(self) -> bool:
        return tcp_command(self.host, self.port, b"PING\r\n", b"+PONG")

    def start(self) -> None:
        self.process.start()
        wait_until(self.ping, timeout=20, what=f"redis-server on port {self.port}", proc=self.process)

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()


def redis_argv(binary: str, port: int, directory: Path, extra: Sequence[str] = ()) -> list[str]:
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
        *extra,
    ]


@contextlib.contextmanager
def redis_server(extra_args: Sequence[str] = (), port: int | None = None) -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    directory = make_tempdir("redis")
    port = port or free_port()
    process = ServerProcess(redis_argv(binary, port, directory, extra_args), name="redis",
                            log_path=directory / "redis.log", cwd=directory)
    server = RedisServer(port=port, dir=directory, process=process, extra_args=list(extra_args))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
