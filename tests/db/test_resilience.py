"""Database-cache outages that are not the contract's (tests/contract/test_outage.py runs the
kill, freeze, restart, breaker, log and fail-soft-off scenarios on PostgreSQL and MariaDB):
connections opened during a freeze, the caller's transactions, QueryTimeout/ServerUnreachable,
set-up queries, ping(), configuration errors, and the watchdog. Everything runs outside a
request cycle: no close_old_connections()."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, OperationalError, ProgrammingError, connections, transaction
from django.test.utils import override_settings

from django_altcache.backends.db import DatabaseCache
from django_altcache.backends.db.connect import QueryTimeout, ServerUnreachable
from django_altcache.backends.db.watchdog import Watchdog, identify
from django_altcache.conf import CacheConfigError
from tests.contract.fixtures import target_fixture
from tests.contract.helpers import EXPECTED, HEAL, SLACK, every_operation, in_thread, stores, timed, until
from tests.contract.targets import TABLE, TIMEOUT, DatabaseTarget

from .conftest import OneDatabaseRouter

CONNECT_TIMEOUT = DatabaseTarget.connect_timeout
SOFT = {"IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": 0, "QUERY_TIMEOUT": TIMEOUT,
        "CONNECT_TIMEOUT": CONNECT_TIMEOUT}  # log every ignored error
PASSWORD = "never-shown-3141"  # in the PostgreSQL settings (trust auth: only there to be hidden)
_prefixes = itertools.count()

# PostgreSQL and MariaDB servers of the session (tests/contract/targets.py), running and thawed,
# the cache table routed to, breakers fresh.
outage = target_fixture(["postgresql", "mysql"])


def make(**options: Any) -> DatabaseCache:
    return DatabaseCache(TABLE, {"KEY_PREFIX": f"t{next(_prefixes)}", "OPTIONS": options})


def ignored_records(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django_altcache" and "answered as a miss" in r.getMessage()]


# -- fail-soft on ------------------------------------------------------------------------------
def test_connections_opened_during_a_freeze_are_bounded_too(outage: DatabaseTarget, caplog: Any) -> None:
    """A thread with no connection yet connects anew on every call while the server is frozen
    (the kernel accepts, nothing answers): each call is cut at CONNECT_TIMEOUT; a thread with a
    connection is cut at QUERY_TIMEOUT. The log says which timeout fired."""
    caplog.set_level(logging.WARNING, logger="django_altcache")
    cache = make(**SOFT)
    fresh = make(**SOFT, CIRCUIT_BREAKER=False)  # tries the server on every call
    until(stores(cache, "warm"), 30, "a first round trip")

    def new_connection_calls() -> list[float]:
        times = []
        for _ in range(3):
            value, took = timed(lambda: fresh.get("k", "dflt"))
            assert value == "dflt"
            times.append(took)
        return times

    def scenario() -> float:
        until(stores(cache, "thread"), 30, "a first round trip in this thread")
        outage.server.freeze()
        try:
            assert every_operation(cache) == EXPECTED
            return max(in_thread(new_connection_calls))
        finally:
            outage.server.thaw()

    connecting = in_thread(scenario)
    assert connecting <= CONNECT_TIMEOUT + TIMEOUT + SLACK
    messages = " ".join(r.getMessage() for r in ignored_records(caplog))
    assert "QUERY_TIMEOUT" in messages and "CONNECT_TIMEOUT" in messages
    assert in_thread(lambda: until(stores(fresh), HEAL, "a hit after the thaw")) <= HEAL


def test_inside_a_transaction_the_connection_is_left_to_django(outage: DatabaseTarget) -> None:
    """Fail-soft answers the cache call, but the user's transaction must fail, not vanish."""
    cache = make(**SOFT)
    alias = outage.alias
    until(stores(cache, "warm"), 30, "a first round trip")
    with pytest.raises(DatabaseError), transaction.atomic(using=alias):
        cache.set("in-tx", 1)
        outage.server.kill()
        assert cache.get("k", "dflt") == "dflt"
        assert connections[alias].connection is not None  # not closed behind atomic()'s back
        assert not connections[alias].closed_in_transaction
    # atomic()'s failed COMMIT raised and Django dropped the connection; the cache heals.
    accepting = outage.restart()
    until(stores(cache), HEAL, "a hit after the restart")
    assert time.monotonic() - accepting <= HEAL


# -- fail-soft off: the database's own exception, within the timeout ---------------------------

def test_no_fail_soft_freeze_raises_within_the_timeouts(outage: DatabaseTarget) -> None:
    """The classes: QueryTimeout for a statement cut at QUERY_TIMEOUT, then ServerUnreachable for
    the new connection cut at CONNECT_TIMEOUT; both OperationalError, as Django raises for a
    lost connection."""
    query, connect = 0.2, CONNECT_TIMEOUT
    cache = make(QUERY_TIMEOUT=query, CONNECT_TIMEOUT=connect)

    def scenario() -> None:  # in a thread: a regression that hangs fails the test instead
        until(lambda: (cache.set("k", "v"), cache.get("k") == "v")[1], 30, "a first round trip")
        outage.server.freeze()
        try:
            started = time.monotonic()
            with pytest.raises(QueryTimeout) as raised:
                cache.get("k")
            took = time.monotonic() - started
            assert isinstance(raised.value, OperationalError) and query * 0.95 <= took <= query + SLACK, took
            for _ in range(2):  # the cut connection was discarded: a new one must connect
                started = time.monotonic()
                with pytest.raises(ServerUnreachable) as unreachable:
                    cache.get("k")
                took = time.monotonic() - started
                assert isinstance(unreachable.value, OperationalError) and took <= connect + SLACK, took
        finally:
            outage.server.thaw()
        # The connect left over from the freeze completes, then ours.
        thawed = time.monotonic()
        until(lambda: cache.get("k") == "v", HEAL, "a hit after the thaw")
        assert time.monotonic() - thawed <= HEAL

    in_thread(scenario)


def test_connect_set_up_queries_are_bounded_too(outage: DatabaseTarget, monkeypatch: Any) -> None:
    """Django's connect() queries the new connection (time zone, server version...): a server
    that hangs there is cut at CONNECT_TIMEOUT, and the half-made connection dropped."""
    cache = make(CONNECT_TIMEOUT=0.2)
    connection = connections[outage.alias]
    connection.close()
    sleep = "SELECT pg_sleep(2)" if outage.vendor == "postgresql" else "SELECT SLEEP(2)"

    def slow_set_up() -> None:
        with connection.connection.cursor() as cursor:
            cursor.execute(sleep)

    monkeypatch.setattr(connection, "init_connection_state", slow_set_up)
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match="set-up"):
        cache.get("k")
    assert time.monotonic() - started <= 0.2 + SLACK
    assert connection.connection is None
    monkeypatch.undo()
    until(lambda: (cache.set("k", "v"), cache.get("k") == "v")[1], 30, "a round trip")


def test_ping_bypasses_fail_soft_and_reaches_the_write_alias(outage: DatabaseTarget) -> None:
    cache = make(QUERY_TIMEOUT=5, CONNECT_TIMEOUT=5, IGNORE_EXCEPTIONS=True)
    result = cache.ping()
    assert result.latency < 5
    where = f"{outage.vendor} 127.0.0.1:{outage.server.port}/{outage.settings()['NAME']}"
    assert result.servers == [f"{outage.alias} (write): {where}"]
    description = cache.servers_description()
    assert description == [f"{outage.alias} (reads and writes): {where}"]
    assert PASSWORD not in repr(description) + repr(result.servers)
    outage.server.kill()
    with pytest.raises(OperationalError):
        cache.ping()
    with pytest.raises(OperationalError):
        cache.ping()  # a new connection this time


class SplitRouter(OneDatabaseRouter):
    def __init__(self, read: str, write: str) -> None:
        super().__init__(write)
        self.read = read

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self.read if model._meta.app_label == "django_cache" else None


def test_ping_and_description_with_read_and_write_aliases(outage: DatabaseTarget) -> None:
    # Reads go to SQLite, where the table does not exist: ping must not touch it.
    with override_settings(DATABASE_ROUTERS=[SplitRouter("default", outage.alias)]):
        cache = make(QUERY_TIMEOUT=5, CONNECT_TIMEOUT=5)
        result = cache.ping()
        assert result.servers[0].startswith(f"{outage.alias} (write): {outage.vendor} ")
        described = cache.servers_description()
        assert described[0].startswith(f"{outage.alias} (writes): ")
        assert described[1].startswith("default (reads): sqlite ")


# -- configuration errors are not outages -------------------------------------------------------

# Not "__all__": that would include this module's dedicated aliases, which have no Django tables.
@pytest.mark.django_db(databases=[a for a in ("default", "postgres", "mysql") if a in settings.DATABASES],
                       transaction=True)
def test_missing_table_raises_even_with_fail_soft(vendor_alias: str) -> None:
    expected = OperationalError if vendor_alias == "default" else ProgrammingError  # SQLite: "no such table"
    with override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(vendor_alias)]):
        cache = DatabaseCache("altcache no such table", {"OPTIONS": {"IGNORE_EXCEPTIONS": True}})
        for _ in range(5):
            with pytest.raises(expected):
                cache.get("k")
            with pytest.raises(expected):
                cache.set("k", 1)
        assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}


@pytest.mark.parametrize("value", ["soon", -1, 0, True, float("inf"), float("nan")])
@pytest.mark.parametrize("name", ["QUERY_TIMEOUT", "CONNECT_TIMEOUT"])
def test_timeout_options_are_validated(name: str, value: Any) -> None:
    with pytest.raises(CacheConfigError, match=name):
        DatabaseCache("t", {"OPTIONS": {name: value}})


def test_timeout_options_accept_seconds_and_none() -> None:
    cache = DatabaseCache("t", {"OPTIONS": {"QUERY_TIMEOUT": 1, "CONNECT_TIMEOUT": None}})
    assert (cache._timeouts.query, cache._timeouts.connect) == (1.0, None)
    default = DatabaseCache("t", {})
    assert (default._timeouts.query, default._timeouts.connect) == (5.0, 2.0)


# -- the watchdog on its own -----------------------------------------------------------------------

def test_watchdog_cuts_a_blocked_read_and_spares_disarmed_ones() -> None:
    dog = Watchdog()
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(2)  # without the watchdog: a timeout error, not a hung test
        started = time.monotonic()  # before arming: the deadline counts from the arming
        ticket = dog.arm(identify(left.fileno()), 0.05)
        assert ticket is not None
        assert left.recv(1) == b""  # shut down: the blocked read returns
        assert 0.04 <= time.monotonic() - started < 1.5  # cut, not the 2 s socket timeout
        assert dog.disarm(ticket) is True
    a, b = socket.socketpair()
    with a, b:
        ticket = dog.arm(identify(a.fileno()), 0.05)
        assert ticket is not None and dog.disarm(ticket) is False
        time.sleep(0.1)
        b.sendall(b"x")
        a.settimeout(2)
        assert a.recv(1) == b"x"  # not cut


def test_watchdog_never_cuts_a_reused_descriptor() -> None:
    dog = Watchdog()
    first, peer = socket.socketpair()
    fd = first.fileno()
    ticket = dog.arm(identify(fd), 0.1)
    first.close()  # the driver closed its socket before the owner disarmed
    x, y = socket.socketpair()
    if y.fileno() == fd:
        x, y = y, x
    holder = None
    if x.fileno() != fd:  # make the number name x's socket (a duplicate: same socket)
        os.dup2(x.fileno(), fd)
        holder = socket.socket(fileno=fd)
    with peer, x, y:
        time.sleep(0.25)
        y.sendall(b"y")
        x.settimeout(2)
        assert x.recv(1) == b"y"  # the socket now behind the number was not shut down
        if holder is not None:
            holder.close()
    assert ticket is not None and dog.disarm(ticket) is True  # it fired, on nothing


def test_watchdog_happy_path() -> None:
    """Arming and disarming many times never cuts the socket (its cost is in benchmarks/)."""
    dog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        sock = identify(a.fileno())
        assert sock is not None
        for _ in range(20_000):
            dog.disarm(dog.arm(sock, 5.0))
        b.sendall(b"x")
        a.settimeout(2)
        assert a.recv(1) == b"x"
