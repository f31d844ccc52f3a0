"""Issue 6 on the database cache: fail-soft, the breaker, bounded time and self-healing,
against killed (SIGKILL) and frozen (SIGSTOP) PostgreSQL and MariaDB servers started for
this module. Everything runs outside a request cycle: no close_old_connections()."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import (
    DatabaseError,
    OperationalError,
    ProgrammingError,
    connections,
    transaction,
)
from django.test.utils import override_settings

from django_altcache.backends.db import DatabaseCache
from django_altcache.backends.db.connect import QueryTimeout, ServerUnreachable
from django_altcache.backends.db.watchdog import Watchdog, identify
from django_altcache.backends._shared.breaker import reset_breakers
from django_altcache.exceptions import CacheUnavailable
from django_altcache.conf import CacheConfigError
from tests._servers.base import ManagedServer
from tests._servers.mariadb import mariadb_server
from tests._servers.postgres import postgres_server
from tests.conftest import dedicated
from tests.outage import EXPECTED, every_operation, p99, timed, until_hit

from .conftest import OneDatabaseRouter, create_table

TABLE = "altcache outage"
FAST = {"QUERY_TIMEOUT": 0.05, "CONNECT_TIMEOUT": 0.05}
SOFT = {"IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": 0, **FAST}  # log every ignored error
PASSWORD = "never-shown-3141"
_prefixes = itertools.count()


@dataclass
class Target:
    vendor: str
    server: ManagedServer
    alias: str

    def settings(self) -> dict[str, Any]:
        common = {"HOST": "127.0.0.1", "PORT": str(self.server.port), "PASSWORD": PASSWORD}
        if self.vendor == "postgresql":  # trust auth: the password is only there to be hidden
            return {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres", **common}
        return {"ENGINE": "django.db.backends.mysql", "NAME": "altcache", "USER": "root", **common,
                "PASSWORD": "", "OPTIONS": {"charset": "utf8mb4"}}


def register_alias(alias: str, settings_dict: dict[str, Any]) -> None:
    # Django fills the defaults only through configure_settings, which wants a "default".
    configured = connections.configure_settings({"default": connections.settings["default"], alias: settings_dict})
    connections.settings[alias] = configured[alias]


def unregister_alias(alias: str) -> None:
    connections[alias].close()
    del connections.settings[alias]
    if hasattr(connections._connections, alias):
        delattr(connections._connections, alias)


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def target(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[Target]:
    factory = {"postgresql": postgres_server, "mysql": mariadb_server}[request.param]
    for server in dedicated(factory):
        found = Target(request.param, server, f"outage_{request.param}")
        with django_db_blocker.unblock():
            register_alias(found.alias, found.settings())
            create_table(found.alias, TABLE)
            try:
                yield found
            finally:
                unregister_alias(found.alias)


@pytest.fixture
def outage(target: Target, django_db_blocker: Any) -> Iterator[Target]:
    """The target, running and thawed, its table routed to, breakers fresh; restored after."""
    with django_db_blocker.unblock(), override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(target.alias)]):
        reset_breakers()
        connections[target.alias].close()
        try:
            yield target
        finally:
            target.server.thaw()
            if not target.server.process.running:
                target.server.start()
            connections[target.alias].close()
            reset_breakers()


def make(**options: Any) -> DatabaseCache:
    return DatabaseCache(TABLE, {"KEY_PREFIX": f"t{next(_prefixes)}", "OPTIONS": options})


def ignored_records(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django_altcache" and "answered as a miss" in r.getMessage()]


def in_thread(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a new thread (a new Django connection); close that connection after."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        finally:
            for conn in connections.all(initialized_only=True):
                conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "worker thread hung"
    if "error" in box:
        raise box["error"]
    return box["result"]


# -- fail-soft on ------------------------------------------------------------------------------

def test_fail_soft_through_a_kill_and_a_restart(outage: Target, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="django_altcache")
    cache = make(**SOFT)
    cache.set("k", "v")
    assert cache.get("k") == "v"

    outage.server.kill()
    assert every_operation(cache) == EXPECTED
    assert cache.breaker_states() == {"reads": "open", "writes": "open"}
    samples = []
    for _ in range(400):  # about 1 s: the breaker's probes (every 0.5 s) are among the samples
        value, took = timed(lambda: cache.get("k", "dflt"))
        assert value == "dflt"
        samples.append(took)
        time.sleep(0.0025)
    assert p99(samples) <= 0.005, f"open-breaker p99 {p99(samples) * 1000:.2f} ms"

    outage.server.start()
    back = until_hit(cache, 1.0)
    print(f"[{outage.vendor}] killed: open-breaker p99 {p99(samples) * 1e3:.3f} ms; hit {back * 1e3:.0f} ms after restart")
    assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}
    caplog.clear()
    for i in range(100):  # no errors afterwards: every answer real, nothing ignored
        cache.set(f"after{i}", i)
        assert cache.get(f"after{i}") == i
    assert cache.get_many(["after1", "after2"]) == {"after1": 1, "after2": 2}
    cache.set("n", 1)
    assert cache.incr("n") == 2
    assert ignored_records(caplog) == []


def test_fail_soft_through_a_freeze_no_call_over_100ms(outage: Target, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="django_altcache")
    cache = make(**SOFT)
    fresh = make(**SOFT, CIRCUIT_BREAKER=False)  # tries the server on every call

    def new_connection_calls() -> list[float]:
        # A thread with no connection yet: every call must connect anew, during the freeze.
        times = []
        for _ in range(5):
            value, took = timed(lambda: fresh.get("k", "dflt"))
            assert value == "dflt"
            times.append(took)
        return times

    def scenario() -> None:  # in a thread: a regression that hangs fails the test instead
        cache.set("k", "v")
        assert cache.get("k") == "v"
        outage.server.freeze()
        try:
            worst, calls = 0.0, 0
            began = time.monotonic()
            # Long enough for several cooldowns, so the breaker's probes are timed too.
            while time.monotonic() - began < 1.6 and calls < 10_000:
                value, took = timed(lambda: cache.get("k", "dflt"))
                assert value == "dflt"
                worst, calls = max(worst, took), calls + 1
                time.sleep(0.001)  # a request rate, so the loop spans its 1.6 s
            assert worst <= 0.1, f"a call took {worst * 1000:.1f} ms while frozen"
            assert every_operation(cache) == EXPECTED
            connecting = max(in_thread(new_connection_calls))
            assert connecting <= 0.1
        finally:
            outage.server.thaw()
        back = until_hit(cache, 1.0)
        print(f"[{outage.vendor}] frozen: worst of {calls} calls {worst * 1e3:.1f} ms, worst new-connection "
              f"call {connecting * 1e3:.1f} ms; hit {back * 1e3:.0f} ms after thaw")

    in_thread(scenario)
    messages = " ".join(r.getMessage() for r in ignored_records(caplog))
    assert "QUERY_TIMEOUT" in messages and "CONNECT_TIMEOUT" in messages
    assert in_thread(lambda: (fresh.set("x", 1), fresh.get("x"))[1]) == 1


def test_fail_soft_async_twins(outage: Target) -> None:
    cache = make(**{**SOFT, "CIRCUIT_BREAKER": {"failures": 3, "cooldown": 30}})

    async def scenario() -> None:
        try:
            await steps()
        finally:  # the connection of asgiref's executor thread, opened by the twins
            await sync_to_async(lambda: connections[outage.alias].close(), thread_sensitive=True)()

    async def steps() -> None:
        await cache.aset("k", "v")
        assert await cache.aget("k") == "v"
        assert await cache.aget_many(["k", "x"]) == {"k": "v"}
        outage.server.kill()
        # One wrapper per call: two failures leave the breaker closed, the third opens it.
        assert await cache.aget("k", "dflt") == "dflt"
        assert await cache.aget_many(["k"]) == {}
        assert cache.breaker_states() == {"reads": "closed", "writes": "closed"}
        assert await cache.ahas_key("k") is False
        assert cache.breaker_states() == {"reads": "open", "writes": "closed"}
        assert await cache.aset_many({"a": 1}) == ["a"]
        assert await cache.aadd("a", 1) is False
        assert await cache.adelete("a") is False
        assert cache.breaker_states() == {"reads": "open", "writes": "open"}
        with pytest.raises(CacheUnavailable):
            await cache.aincr("k")
        with pytest.raises(CacheUnavailable):
            await cache.adecr("k")
        assert await cache.aget_or_set("g", "computed") == "computed"

    asyncio.run(scenario())


def test_ignored_errors_are_logged_rate_limited(outage: Target, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="django_altcache")
    cache = make(IGNORE_EXCEPTIONS=True, CIRCUIT_BREAKER={"failures": 1, "cooldown": 0}, **FAST)
    assert cache.get("k") is None
    outage.server.kill()
    began = time.monotonic()
    for _ in range(1000):  # every call reaches the (dead) server: cooldown 0
        assert cache.get("k", "dflt") == "dflt"
    assert time.monotonic() - began < 10  # well inside one log interval
    records = [r for r in caplog.records if r.name == "django_altcache"]
    assert 1 <= len(ignored_records(caplog)) <= 2, [r.getMessage() for r in records]
    assert len(records) <= 4


def test_inside_a_transaction_the_connection_is_left_to_django(outage: Target) -> None:
    """Fail-soft answers the cache call, but the user's transaction must fail, not vanish."""
    cache = make(**SOFT)
    alias = outage.alias
    cache.set("k", "v")
    with pytest.raises(DatabaseError), transaction.atomic(using=alias):
        cache.set("in-tx", 1)
        outage.server.kill()
        assert cache.get("k", "dflt") == "dflt"
        assert connections[alias].connection is not None  # not closed behind atomic()'s back
        assert not connections[alias].closed_in_transaction
    # atomic()'s failed COMMIT raised and Django dropped the connection; the cache heals.
    outage.server.start()
    assert until_hit(cache, 1.0) <= 1.0


# -- fail-soft off: the database's own exception, within the timeout ---------------------------

def test_no_fail_soft_kill_raises_at_once_and_heals(outage: Target) -> None:
    cache = make()
    cache.set("k", "v")
    outage.server.kill()
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(OperationalError):
            cache.get("k")
        assert time.monotonic() - started < 1.0
    with pytest.raises(OperationalError):
        cache.set("k", "w")
    outage.server.start()
    # The broken connection was discarded: the very next call reconnects, no request signal needed.
    cache.set("k", "back")
    assert cache.get("k") == "back"


def test_no_fail_soft_freeze_raises_within_the_timeouts(outage: Target) -> None:
    cache = make(QUERY_TIMEOUT=0.2, CONNECT_TIMEOUT=0.2)

    def scenario() -> None:  # in a thread: a regression that hangs fails the test instead
        cache.set("k", "v")
        outage.server.freeze()
        try:
            started = time.monotonic()
            with pytest.raises(QueryTimeout) as raised:
                cache.get("k")
            took = time.monotonic() - started
            # The upper bound leaves room for a loaded machine's scheduling, not for a second timeout.
            assert isinstance(raised.value, OperationalError) and 0.19 <= took < 0.4, took
            for _ in range(2):  # the cut connection was discarded: a new one must connect
                started = time.monotonic()
                with pytest.raises(ServerUnreachable) as unreachable:
                    cache.get("k")
                took = time.monotonic() - started
                assert isinstance(unreachable.value, OperationalError) and 0.19 <= took < 0.4, took
        finally:
            outage.server.thaw()
        # The connect left over from the freeze completes, then ours: back within 1 s.
        started = time.monotonic()
        while True:
            try:
                assert cache.get("k") == "v"
                break
            except ServerUnreachable:
                assert time.monotonic() - started < 1.0, "not back within 1 s of the thaw"
                time.sleep(0.01)

    in_thread(scenario)


def test_connect_set_up_queries_are_bounded_too(outage: Target, monkeypatch: Any) -> None:
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
    assert time.monotonic() - started < 1.0
    assert connection.connection is None
    monkeypatch.undo()
    cache.set("k", "v")
    assert cache.get("k") == "v"


def test_ping_bypasses_fail_soft_and_reaches_the_write_alias(outage: Target) -> None:
    cache = make(**SOFT)
    result = cache.ping()
    assert result.latency < 1
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


def test_ping_and_description_with_read_and_write_aliases(outage: Target) -> None:
    # Reads go to SQLite, where the table does not exist: ping must not touch it.
    with override_settings(DATABASE_ROUTERS=[SplitRouter("default", outage.alias)]):
        cache = make()
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
        ticket = dog.arm(identify(left.fileno()), 0.05)
        assert ticket is not None
        started = time.monotonic()
        assert left.recv(1) == b""  # shut down: the blocked read returns
        assert 0.04 <= time.monotonic() - started < 0.5
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


def test_watchdog_happy_path_cost() -> None:
    dog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        sock = identify(a.fileno())
        assert sock is not None
        for _ in range(1000):  # warm up, start the thread
            dog.disarm(dog.arm(sock, 5.0))
        rounds = 20_000
        started = time.perf_counter()
        for _ in range(rounds):
            dog.disarm(dog.arm(sock, 5.0))
        per_call = (time.perf_counter() - started) / rounds
    print(f"watchdog arm+disarm: {per_call * 1e6:.2f} µs")
    assert per_call < 50e-6  # loose: a regression guard, not a benchmark
