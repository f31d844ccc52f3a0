"""A throwaway MariaDB server for the database-cache tests.

Data directory in a temp dir, TCP on 127.0.0.1 only, a socket in the same dir.
After start, ``root`` may connect from 127.0.0.1 without a password and the
database ``altcache`` (tests/settings.py's ``mysql`` alias) exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .base import ManagedServer, ServerProcess, free_port, make_tempdir, require_binary, running

# mariadbd refuses to run as root unless told which user to be; root is fine in a temp dir.
RUN_AS = "root" if os.geteuid() == 0 else None
BOOTSTRAP_SQL = (
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
    "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; "
    "CREATE DATABASE IF NOT EXISTS altcache CHARACTER SET utf8mb4; "
)


@dataclass
class MariaDBServer(ManagedServer):
    database: str = "altcache"

    start_timeout = 60
    stop_timeout = 30

    @property
    def socket(self) -> Path:
        return self.dir / "mariadb.sock"

    def client(self, sql: str, *, tcp: bool = False) -> subprocess.CompletedProcess[bytes]:
        where = (["--protocol=TCP", "-h", self.host, "-P", str(self.port)] if tcp
                 else [f"--socket={self.socket}"])
        return subprocess.run([require_binary("mariadb"), "-uroot", *where, "-e", sql],
                              capture_output=True, timeout=10)

    def ready(self) -> bool:
        return self.socket.exists() and self.client("SELECT 1").returncode == 0

    def bootstrap(self) -> None:
        result = self.client(BOOTSTRAP_SQL)
        if result.returncode != 0:
            raise RuntimeError(f"MariaDB bootstrap failed: {result.stderr.decode(errors='replace')}")


@contextmanager
def mariadb_server() -> Iterator[MariaDBServer]:
    install_db = require_binary("mariadb-install-db")
    mariadbd = require_binary("mariadbd")
    require_binary("mariadb")
    root = make_tempdir("mariadb")
    data = root / "data"
    user_args = [f"--user={RUN_AS}"] if RUN_AS else []
    install = [install_db, "--no-defaults", f"--datadir={data}", *user_args,
               "--auth-root-authentication-method=normal", "--skip-test-db"]
    for attempt in range(2):  # seen failing once on a loaded machine, then succeeding
        result = subprocess.run(install, capture_output=True, timeout=180, cwd=root)
        if result.returncode == 0:
            break
        shutil.rmtree(data, ignore_errors=True)
    else:
        raise RuntimeError(f"mariadb-install-db failed ({result.returncode}): "
                           f"{(result.stdout + result.stderr).decode(errors='replace')[-2000:]}")
    port = free_port()
    argv = [mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={root / 'mariadb.sock'}",
            "--bind-address=127.0.0.1", f"--port={port}", "--skip-name-resolve",
            f"--pid-file={root / 'mariadb.pid'}", "--innodb-flush-log-at-trx-commit=0",
            "--innodb-buffer-pool-size=64M", "--max-connections=200",
            # Debian's packaged my.cnf sets utf8mb4; --no-defaults would leave latin1.
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci", *user_args]
    process = ServerProcess(argv, name="mariadb", log_path=root / "mariadb.log", cwd=root)
    with running(MariaDBServer(port=port, dir=root, process=process), setup=MariaDBServer.bootstrap) as server:
        yield server
