"""The network configurations the outage contract runs against.

Each ``Target`` owns real servers (started for the test session, on loopback free ports) and
can ``kill()`` (SIGKILL), ``freeze()`` (SIGSTOP) / ``thaw()`` and ``restart()`` them; an
outage takes down every server the cache needs (leader and replica, every cluster node),
so every call must fail. ``restart()`` returns once the servers accept connections again
(the cluster: once it reports ``cluster_state:ok``): heal times are measured from there,
the servers' own start-up outside them.

``cache(**options)`` builds our backend, ``django_cache(**options)`` Django's own for the
same configuration (None where Django has none: Sentinel, Cluster), both with the short
timeouts of ``fast`` under the given options.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from django.db import connections
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from django_altcache.backends._shared.breaker import reset_breakers
from tests._servers.base import ManagedServer, wait_until
from tests.conftest import dedicated

TIMEOUT = 0.1  # seconds: every connect and read timeout of the network caches under test
_prefixes = itertools.count()


def forget_clients() -> None:
    """Drop our process-wide pools and clients, so the next cache starts with none (tests only)."""
    from django_altcache.backends.memcached import clients
    from django_altcache.backends.redis import pools

    pools.SYNC.clear()
    clients._registry.clear()


class Target:
    name: ClassVar[str]
    backend: ClassVar[str]  # our class
    django: ClassVar[str | None]  # Django's class for the same configuration, if any
    # How many timeouts one call may chain at most (the cluster: its node, then a
    # topology refresh that asks every node): a frozen server costs at most this many.
    waits: ClassVar[int] = 1
    # Without a breaker, how long the client library itself may still skip a server that is
    # back (its retry window, as with Django's backend).
    retry_window: ClassVar[float] = 0.0

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    # -- servers ---------------------------------------------------------------------------
    @property
    def servers(self) -> list[ManagedServer]:
        raise NotImplementedError

    def start(self) -> None:
        """Start the servers for the session (``close()`` stops them)."""
        raise NotImplementedError

    def close(self) -> None:
        self._stack.close()

    def own(self, factory: Callable[..., Any], *args: Any) -> Any:
        return self._stack.enter_context(contextlib.contextmanager(dedicated)(factory, *args))

    def kill(self) -> None:
        for server in self.servers:
            server.kill()

    def freeze(self) -> None:
        for server in self.servers:
            server.freeze()

    def thaw(self) -> None:
        for server in self.servers:
            server.thaw()

    def restart(self) -> float:
        """Start the killed servers again; returns the monotonic time they accept connections."""
        for server in self.servers:
            if not server.process.running:
                server.start()
        self.wait_ready()
        return time.monotonic()

    def wait_ready(self) -> None:
        """Until the configuration serves again (beyond each process accepting connections)."""

    def replicated(self) -> None:
        """Until the writes made so far can be read from wherever reads go (replicas lag)."""

    def running(self) -> bool:
        return all(server.process.running for server in self.servers)

    # -- caches ----------------------------------------------------------------------------
    @property
    def location(self) -> Any:
        raise NotImplementedError

    def fast(self) -> dict[str, Any]:
        """OPTIONS with every connect and read timeout at ``TIMEOUT``."""
        raise NotImplementedError

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a call that failed raises, fail-soft off."""
        raise NotImplementedError

    @property
    def bound(self) -> float:
        """The most one call may wait on servers that do not answer: ``waits`` timeouts."""
        return self.waits * TIMEOUT

    def params(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"KEY_PREFIX": f"{self.name}-{next(_prefixes)}", "OPTIONS": {**self.fast(), **options}}

    def cache(self, **options: Any) -> Any:
        return import_string(self.backend)(self.location, self.params(options))

    def django_cache(self, **options: Any) -> Any:
        assert self.django is not None
        return import_string(self.django)(self.location, self.params(options))

    @contextlib.contextmanager
    def session(self) -> Iterator[Target]:
        """One test: servers running and thawed, no breaker or client state left from another."""
        self.thaw()
        if not self.running():
            self.restart()
        else:
            self.wait_ready()
        reset_breakers()
        forget_clients()
        try:
            yield self
        finally:
            # Left as found: running and thawed (tests that only borrow a target's server, as
            # the corrupt-value matrix does, do not go through this).
            self.thaw()
            if not self.running():
                self.restart()
            reset_breakers()


# -- Redis ---------------------------------------------------------------------------------------
class RedisTarget(Target):
    name = "redis"
    backend = "django_altcache.backends.redis.RedisCache"
    django = "django.core.cache.backends.redis.RedisCache"

    def start(self) -> None:
        from tests._servers.redis import redis_server

        self.server = self.own(redis_server)

    @property
    def servers(self) -> list[ManagedServer]:
        return [self.server]

    @property
    def location(self) -> Any:
        return self.server.url

    def fast(self) -> dict[str, Any]:
        return {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.ConnectionError, redis.TimeoutError)


class ReplicasTarget(RedisTarget):
    """A leader and one read replica, as Django's list LOCATION."""

    name = "redis-replicas"
    waits = 2  # a read tries the replica, then the leader

    def start(self) -> None:
        from tests._servers.redis import redis_server
        from tests._servers.redis_ha import LEADER_ARGS

        self.leader = self.own(redis_server, LEADER_ARGS)
        self.replica = self.own(redis_server, ["--replicaof", "127.0.0.1", str(self.leader.port)])

    @property
    def servers(self) -> list[ManagedServer]:
        return [self.leader, self.replica]

    @property
    def location(self) -> Any:
        return [self.leader.url, self.replica.url]

    def wait_ready(self) -> None:
        from tests._servers.redis_ha import _info

        wait_until(lambda: "master_link_status:up" in _info("127.0.0.1", self.replica.port, b"INFO replication\r\n"),
                   timeout=60, what="replica sync")

    def replicated(self) -> None:
        # Replication is asynchronous (and Django's backend reads from the replica too): a
        # read right after a write may beat it on a busy machine, most of all just after a
        # restart's full resync. Wait until the replica has applied the leader's offset.
        from tests._servers.redis_ha import _info

        def offset(port: int, field: str) -> int:
            text = _info("127.0.0.1", port, b"INFO replication\r\n")
            return int(re.search(rf"^{field}:(\d+)", text, re.M).group(1))  # type: ignore[union-attr]

        wanted = offset(self.leader.port, "master_repl_offset")
        wait_until(lambda: offset(self.replica.port, "slave_repl_offset") >= wanted, timeout=30,
                   what="the replica applying the leader's writes")


class SentinelTarget(RedisTarget):
    """A leader and a replica watched by one sentinel; the outage takes down both Redis servers."""

    name = "redis-sentinel"
    django = None
    waits = 3  # the sentinel's answer, then the leader (connect, read)

    def start(self) -> None:
        from tests._servers.redis_ha import redis_sentinel

        from tests._servers.redis import REDIS

        self.topology = self._stack.enter_context(  # failover off: the leader stays the leader
            contextlib.contextmanager(dedicated)(redis_sentinel, 1, REDIS, False))

    @property
    def servers(self) -> list[ManagedServer]:
        return [self.topology.leader, self.topology.replica]

    @property
    def location(self) -> Any:
        return self.topology.location

    def wait_ready(self) -> None:
        from tests._servers.redis_ha import _info

        port = self.topology.replica.port
        try:
            wait_until(lambda: "master_link_status:up" in _info("127.0.0.1", port, b"INFO replication\r\n"),
                       timeout=60, what="replica sync")
            wait_until(lambda: self.topology.master_port() == self.topology.leader.port, timeout=60,
                       what="sentinel naming the leader")
        except TimeoutError as exc:
            states = [_info("127.0.0.1", s.port, b"INFO replication\r\n") for s in self.servers]
            raise TimeoutError(f"{exc}\nleader/replica: {states}\nsentinel: "
                               f"{self.topology.sentinels[0].process.log_tail(30)}") from None


class ClusterTarget(RedisTarget):
    """Three cluster masters; the outage takes down all three."""

    name = "redis-cluster"
    django = None
    waits = 4  # its node, then (once per second) a topology refresh asking the three nodes

    def start(self) -> None:
        from tests._servers.redis_ha import redis_cluster

        self.topology = self._stack.enter_context(contextlib.contextmanager(dedicated)(redis_cluster))

    @property
    def servers(self) -> list[ManagedServer]:
        return list(self.topology.nodes)

    @property
    def location(self) -> Any:
        return self.topology.location

    def params(self, options: dict[str, Any]) -> dict[str, Any]:
        params = super().params(options)
        params["OPTIONS"]["cluster"] = True
        return params

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import redis.exceptions

        # ClusterDownError: a node answering that the cluster is down; RedisClusterUnreachableError:
        # no node answering redis-py's topology refresh.
        unreachable = getattr(redis.exceptions, "RedisClusterUnreachableError",  # redis-py < 8.2: its base
                              redis.exceptions.RedisClusterException)
        return (*super().errors, redis.exceptions.ClusterDownError, unreachable)

    def wait_ready(self) -> None:
        from tests._servers.redis_ha import _cluster_ok

        for node in self.topology.nodes:
            wait_until(lambda n=node: _cluster_ok(n, len(self.topology.nodes)), timeout=60,
                       what=f"cluster state on {node.port}")


# -- Memcached -----------------------------------------------------------------------------------
class MemcachedTarget(Target):
    library: ClassVar[str]

    def start(self) -> None:
        from tests._servers.memcached import memcached_server

        self.server = self.own(memcached_server)

    @property
    def servers(self) -> list[ManagedServer]:
        return [self.server]

    @property
    def location(self) -> Any:
        return self.server.location


class PyMemcacheTarget(MemcachedTarget):
    name = "pymemcache"
    retry_window = 1.0  # HashClient's retry_timeout
    backend = "django_altcache.backends.memcached.PyMemcacheCache"
    django = "django.core.cache.backends.memcached.PyMemcacheCache"

    def fast(self) -> dict[str, Any]:
        return {"connect_timeout": TIMEOUT, "timeout": TIMEOUT}

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import pymemcache.exceptions

        return (OSError, pymemcache.exceptions.MemcacheError)


class PyLibMCTarget(MemcachedTarget):
    name = "pylibmc"
    retry_window = 3.0  # libmemcached's retry_timeout, 2 s, compared in whole seconds
    backend = "django_altcache.backends.memcached.PyLibMCCache"
    django = "django.core.cache.backends.memcached.PyLibMCCache"

    def fast(self) -> dict[str, Any]:
        ms = int(TIMEOUT * 1000)
        return {"behaviors": {"connect_timeout": ms, "_poll_timeout": ms, "send_timeout": ms * 1000,
                              "receive_timeout": ms * 1000}}

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import pylibmc

        return (pylibmc.Error,)


# -- the database cache --------------------------------------------------------------------------
TABLE = "altcache contract"


class DatabaseTarget(Target):
    vendor: ClassVar[str]
    backend = "django_altcache.backends.db.DatabaseCache"
    django = "django.core.cache.backends.db.DatabaseCache"
    waits = 2  # connect, then the query
    # A new connection does more than a round trip (a backend process, authentication,
    # Django's set-up queries): CONNECT_TIMEOUT is longer so a busy machine still connects.
    connect_timeout = 0.5

    @property
    def alias(self) -> str:
        return f"contract_{self.vendor}"

    @property
    def servers(self) -> list[ManagedServer]:
        return [self.server]

    @property
    def location(self) -> Any:
        return TABLE

    @property
    def bound(self) -> float:
        return self.connect_timeout + TIMEOUT

    def fast(self) -> dict[str, Any]:
        return {"QUERY_TIMEOUT": TIMEOUT, "CONNECT_TIMEOUT": self.connect_timeout}

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        from django.db import OperationalError

        return (OperationalError,)

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> None:
        from tests.db.conftest import create_table

        self.server = self.own(self.factory())
        configured = connections.configure_settings({"default": connections.settings["default"],
                                                     self.alias: self.settings()})
        connections.settings[self.alias] = configured[self.alias]
        self._stack.callback(self._unregister)
        create_table(self.alias, TABLE)
        connections[self.alias].close()

    def factory(self) -> Callable[..., Any]:
        raise NotImplementedError

    def _unregister(self) -> None:
        connections[self.alias].close()
        del connections.settings[self.alias]
        if hasattr(connections._connections, self.alias):
            delattr(connections._connections, self.alias)

    @contextlib.contextmanager
    def session(self) -> Iterator[Target]:
        from tests.db.conftest import OneDatabaseRouter

        with override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(self.alias)]):
            connections[self.alias].close()
            try:
                with super().session():
                    yield self
            finally:
                self.thaw()
                connections[self.alias].close()


class PostgresTarget(DatabaseTarget):
    name = "postgresql"
    vendor = "postgresql"

    def factory(self) -> Callable[..., Any]:
        from tests._servers.postgres import postgres_server

        return postgres_server

    def settings(self) -> dict[str, Any]:
        # Trust authentication: the password is there only to be hidden (ping, cachecheck).
        return {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
                "PASSWORD": "never-shown-3141", "HOST": "127.0.0.1", "PORT": str(self.server.port)}


class MariaDBTarget(DatabaseTarget):
    name = "mysql"
    vendor = "mysql"

    def factory(self) -> Callable[..., Any]:
        from tests._servers.mariadb import mariadb_server

        return mariadb_server

    def settings(self) -> dict[str, Any]:
        return {"ENGINE": "django.db.backends.mysql", "NAME": "altcache", "USER": "root", "HOST": "127.0.0.1",
                "PORT": str(self.server.port), "OPTIONS": {"charset": "utf8mb4"}}


TARGETS: dict[str, type[Target]] = {cls.name: cls for cls in (
    RedisTarget, ReplicasTarget, SentinelTarget, ClusterTarget, PyMemcacheTarget, PyLibMCTarget,
    PostgresTarget, MariaDBTarget)}
