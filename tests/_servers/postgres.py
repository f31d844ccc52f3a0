from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .base import ManagedServer, ServerProcess, free_port, make_tempdir, require_binary, running

# PostgreSQL refuses to run as root; as root we run it as the "postgres" user.
PG_USER = "postgres"


@dataclass
class PostgresServer(ManagedServer):
    user: str = "postgres"
    dbname: str = "postgres"

    start_timeout = 60
    stop_timeout = 20

    def ready(self) -> bool:
        result = subprocess.run(
            [require_binary("pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-q"],
            capture_output=True, timeout=5,
        )
        return result.returncode == 0


@contextmanager
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
    # Durability off: a test database that is thrown away needs no fsync.
    argv = [postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200"]
    process = ServerProcess(argv, name="postgres", log_path=root / "postgres.log", user=PG_USER, cwd=root)
    with running(PostgresServer(port=port, dir=root, process=process)) as server:
        yield server
