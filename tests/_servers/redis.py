from __future__ import annotations

import socket
import ssl
import subprocess
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


@dataclass
class RedisTLSServer(RedisServer):
    """TLS only (``--port 0``); ``ca_file`` is the self-signed certificate clients must trust."""

    ca_file: str = ""

    @property
    def url(self) -> str:
        return f"rediss://{self.host}:{self.port}"

    def ping(self) -> bool:
        context = ssl.create_default_context(cafile=self.ca_file)
        with socket.create_connection((self.host, self.port), timeout=1) as raw:
            with context.wrap_socket(raw, server_hostname=self.host) as sock:
                sock.sendall(b"PING\r\n")
                return b"+PONG" in sock.recv(64)


@contextmanager
def redis_tls_server() -> Iterator[RedisTLSServer]:
    binary = require_binary("redis-server")
    openssl = require_binary("openssl")
    directory = make_tempdir("redis-tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    # A throwaway self-signed certificate for 127.0.0.1, made fresh for each server.
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    port = free_port()
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
           "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    # redis_argv's --port comes first; the later "--port 0" wins, leaving TLS as the only listener.
    process = ServerProcess(redis_argv(binary, port, directory, tls), name="redis-server (TLS)",
                            log_path=directory / "redis.log", cwd=directory)
    with running(RedisTLSServer(port=port, dir=directory, process=process, ca_file=str(cert))) as server:
        yield server
