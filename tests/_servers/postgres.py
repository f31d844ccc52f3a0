from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import ServerProcess, free_port, make_tempdir, require_binary, wait_until

# PostgreSQL refuses to run as root; as root we run it as the "postgres" user.
PG_USER = "postgres"


@dataclass
class PostgresServer:
    port: int
    dir: Path
    process: ServerProcess
    host: str = "127.0.0.1"
    user: str = "postgres"
    dbname: str = "postgres"

    def ready(self) -> bool:
        result = subprocess.run(
            [require_binary("pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-q"],
            capture_output=True, timeout=5,
        )
        return result.returncode == 0

    def start(self) -> None:
        self.process.start()
        wait_until(self.ready, timeout=60, what=f"postgres on port {self.port}", proc=self.process)

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop(timeout=20)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    initdb = require_binary("initdb")
    postgres = require_binary("postgres")
    root = make_tempdir("postgres", owner=PG_USER)
    data = root / "data"
    run_as = PG_USER if os.geteuid() == 0 else None
    subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
         "--locale=C"],
        check=True, capture_output=True, timeout=120, user=run_as, cwd=root,
    )
    port = free_port()
    argv = [postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200"]
    process = ServerProcess(argv, name="postgres", log_path=root / "postgres.log", user=PG_USER, cwd=root)
    server = PostgresServer(port=port, dir=root, process=process)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
