"""The private parts of libraries django-altcache relies on are still there, with the shape we use.

docs/compat.md, section "Private parts of libraries we rely on", lists every underscore name,
undocumented attribute or helper and undocumented behaviour of a library that our code uses.
Each (library, name) of that table has a check here, run without any server: the name exists
on the class or on an instance built without connecting, takes the arguments we pass, or
behaves as we rely on. A failure names the library, its installed version and the row of the
table (where we use it, what happens without it), so an upgrade that breaks one says so.
``test_table_and_checks_agree`` keeps the table and this module's checks in step.

Libraries that are optional extras (redis-py, hiredis, pymemcache, pylibmc, psycopg,
prometheus-client) are skipped when not installed; Django, asgiref and the standard library
never are.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import inspect
import os
import platform
import re
import socket
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

COMPAT = Path(__file__).resolve().parents[2] / "docs" / "compat.md"
SECTION = "## Private parts of libraries we rely on"

# The table's library column -> the distribution whose version a failure reports.
DISTRIBUTIONS = {
    "redis-py": "redis",
    "pymemcache": "pymemcache",
    "pylibmc": "pylibmc",
    "psycopg": "psycopg",
    "Django": "Django",
    "asgiref": "asgiref",
    "prometheus-client": "prometheus-client",
}


def installed(library: str) -> str:
    """``library`` and its installed version, as a failure names it."""
    if library == "Python (sqlite3)":
        return f"Python {platform.python_version()} (SQLite {sqlite3.sqlite_version})"
    if library.startswith("Python"):
        return f"{library} {platform.python_version()}"
    try:
        version = importlib.metadata.version(DISTRIBUTIONS[library])
    except importlib.metadata.PackageNotFoundError:
        version = "(version unknown)"
    extra = ""
    if library == "redis-py":
        try:
            extra = f", hiredis {importlib.metadata.version('hiredis')}"
        except importlib.metadata.PackageNotFoundError:
            pass
    return f"{library} {version}{extra}"


# -- the table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    library: str
    names: tuple[str, ...]
    where: str
    what_for: str
    if_it_goes: str


def table_rows(text: str | None = None) -> list[Row]:
    """The rows of the section's table; a row's names are the backticked items of its second cell."""
    text = COMPAT.read_text(encoding="utf-8") if text is None else text
    start = text.find("\n" + SECTION + "\n")
    assert start >= 0, f"docs/compat.md has no section {SECTION!r}"
    body = text[start + len(SECTION) + 2:]
    following = re.search(r"^## ", body, re.MULTILINE)
    if following:
        body = body[:following.start()]
    rows: list[Row] = []
    lines = [line.strip() for line in body.splitlines() if line.strip().startswith("|")]
    for line in lines[2:]:  # the header and the |---| line
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 5, f"docs/compat.md, {SECTION!r}: a row without 5 cells: {line}"
        names = tuple(re.findall(r"`([^`]+)`", cells[1]))
        assert names, f"docs/compat.md, {SECTION!r}: a row without a backticked name: {line}"
        rows.append(Row(cells[0], names, cells[2], cells[3], cells[4]))
    return rows


def documented() -> dict[tuple[str, str], Row]:
    return {(row.library, name): row for row in table_rows() for name in row.names}


# -- the checks --------------------------------------------------------------------------------
CHECKS: dict[tuple[str, str], Callable[[str], None]] = {}


def private(library: str, *names: str) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    """Register ``check(name)`` for each (library, name); it raises (an assert) when the name changed."""

    def register(check: Callable[[str], None]) -> Callable[[str], None]:
        for name in names:
            assert (library, name) not in CHECKS, f"two checks for {library} {name}"
            CHECKS[(library, name)] = check
        return check

    return register


def attr_of(obj: Any, dotted: str) -> Any:
    """``Class.attr`` or ``module.attr``: the part after the last dot, looked up on ``obj``."""
    attribute = dotted.rsplit(".", 1)[-1]
    owner = obj.__name__ if isinstance(obj, type) or inspect.ismodule(obj) else f"a {type(obj).__name__}"
    assert hasattr(obj, attribute), f"{owner} has no attribute {attribute!r}"
    return getattr(obj, attribute)


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def source(func: Any) -> str:
    return inspect.getsource(func)


def run(coro_func: Callable[[], Any]) -> Any:
    """Run a coroutine on a fresh event loop (these tests are sync: no loop is running)."""
    return asyncio.run(coro_func())


# redis-py ---------------------------------------------------------------------------------------
def _redis() -> Any:
    return pytest.importorskip("redis")


@private("redis-py", "ConnectionPool._available_connections", "ConnectionPool._in_use_connections")
def _pool_connections(name: str) -> None:
    _redis()
    import redis
    import redis.asyncio

    for cls in (redis.ConnectionPool, redis.asyncio.ConnectionPool, redis.asyncio.BlockingConnectionPool):
        found = attr_of(cls(), name)
        assert isinstance(found, Iterable), f"{cls.__module__}.{cls.__qualname__}().{name} is {found!r}"


@private("redis-py", "BlockingConnectionPool._connections")
def _blocking_connections(name: str) -> None:
    redis = _redis()
    pool = redis.BlockingConnectionPool()
    assert isinstance(attr_of(pool, name), Iterable)


@private("redis-py", "ClusterNode._free", "ClusterNode._connections", "ClusterNode.connection_class")
def _async_cluster_node(name: str) -> None:
    _redis()
    import redis.asyncio.cluster

    node = redis.asyncio.cluster.ClusterNode("127.0.0.1", 1)
    found = attr_of(node, name)
    if name.endswith("connection_class"):
        assert isinstance(found, type), f"redis.asyncio ClusterNode.connection_class is {found!r}"
        assert "connection_class" in params(redis.asyncio.cluster.ClusterNode.__init__)
    else:
        assert isinstance(found, Iterable), f"redis.asyncio ClusterNode.{name} is {found!r}"


@private("redis-py", "Connection._writer", "Connection._reader")
def _async_connection_streams(name: str) -> None:
    _redis()
    import redis.asyncio

    attr_of(redis.asyncio.Connection(), name)


def _async_cluster() -> Any:
    _redis()
    import redis.asyncio.cluster

    # Built without connecting: redis.asyncio reads the topology at the first command.
    return redis.asyncio.cluster.RedisCluster(startup_nodes=[redis.asyncio.cluster.ClusterNode("127.0.0.1", 1)])


@private("redis-py", "NodesManager.nodes_cache", "NodesManager.startup_nodes")
def _nodes_manager_maps(name: str) -> None:
    _redis()
    import redis.cluster

    attribute = name.rsplit(".", 1)[-1]
    # The sync NodesManager connects in __init__: its assignments are read from the source.
    assert re.search(rf"self\.{attribute}\s*[:=]", source(redis.cluster.NodesManager.__init__)), \
        f"redis.cluster.NodesManager.__init__ no longer sets self.{attribute}"
    assert isinstance(attr_of(_async_cluster().nodes_manager, name), dict)


@private("redis-py", "NodesManager.create_redis_node")
def _create_redis_node(name: str) -> None:
    _redis()
    import redis.cluster

    manager = redis.cluster.NodesManager
    assert params(attr_of(manager, name))[:3] == ["self", "host", "port"], \
        f"signature {inspect.signature(manager.create_redis_node)}"
    assert "self.create_redis_node(" in source(manager), \
        "redis.cluster.NodesManager no longer calls self.create_redis_node (our instance attribute)"


@private("redis-py", "ClusterNode.redis_connection")
def _sync_cluster_node(name: str) -> None:
    _redis()
    import redis.cluster

    attr_of(redis.cluster.ClusterNode("127.0.0.1", 1), name)


@private("redis-py", "RedisCluster.connection_kwargs", "NodesManager.connection_kwargs")
def _async_connection_kwargs(name: str) -> None:
    _redis()
    import redis.asyncio.cluster

    cluster = _async_cluster()
    holder = cluster if name.startswith("RedisCluster") else cluster.nodes_manager
    assert isinstance(attr_of(holder, name), dict)
    assert "**self.connection_kwargs" in source(redis.asyncio.cluster.NodesManager), \
        "redis.asyncio's NodesManager no longer makes its nodes from self.connection_kwargs"


@private("redis-py", "ConnectionPool.connection_class", "ConnectionPool.connection_kwargs")
def _pool_connection_settings(name: str) -> None:
    redis = _redis()

    for cls in (redis.ConnectionPool, redis.BlockingConnectionPool):
        pool = cls(socket_timeout=3)
        found = attr_of(pool, name)
        if name.endswith("connection_kwargs"):
            assert isinstance(found, dict) and found.get("socket_timeout") == 3, f"{cls.__name__}: {found!r}"
        else:
            # clusters._bind_pool assigns it: the pool's next connections must be of that class.
            sub = type("Sub", (found,), {})
            pool.connection_class = sub
            made = pool.make_connection()
            assert type(made) is sub, f"{cls.__name__}.make_connection() ignores connection_class"


@private("redis-py", "RedisCluster._execute_command")
def _cluster_down_pause(name: str) -> None:
    _redis()
    import redis.asyncio.cluster
    import redis.cluster

    for cls in (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster):
        assert "ClusterDownError" in source(attr_of(cls, name)), \
            f"{cls.__module__}.RedisCluster._execute_command no longer handles ClusterDownError itself"


@private("redis-py", "Connection.__class__", "ClusterPipeline.__class__")
def _class_swap(name: str) -> None:
    _redis()
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster
    import redis.connection

    from django_altcache.backends.redis import clusters

    if name.startswith("Connection"):
        sync, asynchronous = redis.connection.Connection(), redis.asyncio.Connection()
        sync.__class__ = clusters._fast_connection(type(sync))
        asynchronous.__class__ = clusters._fast_async_connection(type(asynchronous))
        return
    pipe = _async_cluster().pipeline()
    pipe.__class__ = clusters._restoring_pipeline(type(pipe))
    bare = object.__new__(redis.cluster.ClusterPipeline)  # the sync one needs a live cluster to build
    bare.__class__ = clusters._restoring_pipeline(redis.cluster.ClusterPipeline)


@private("redis-py", "REDIS_ALLOWED_KEYS")
def _allowed_keys(name: str) -> None:
    _redis()
    import redis.cluster

    found = attr_of(redis.cluster, name)
    assert isinstance(found, (tuple, list, set, frozenset)) and "socket_timeout" in found, repr(found)


@private("redis-py", "SentinelConnectionPool(ssl=)", "SentinelConnectionPool(is_master=)",
         "SentinelConnectionPool(check_connection=)")
def _sentinel_popped(name: str) -> None:
    _redis()
    import redis.asyncio.sentinel
    import redis.sentinel

    keyword = name[name.index("(") + 1:-2]
    for module in (redis.sentinel, redis.asyncio.sentinel):
        assert f'kwargs.pop("{keyword}"' in source(module.SentinelConnectionPool.__init__), \
            f"{module.__name__}.SentinelConnectionPool no longer pops {keyword!r} from **kwargs"


@private("redis-py", "SentinelConnectionPool.__init__")
def _sentinel_blocking_mix(name: str) -> None:
    _redis()
    from redis.asyncio import BlockingConnectionPool

    from django_altcache.backends.redis.build import _blocking_sentinel_pool

    mixed = _blocking_sentinel_pool()
    for method in ("get_connection", "release"):
        owner = next(cls for cls in mixed.__mro__ if method in cls.__dict__)
        assert owner is BlockingConnectionPool, f"{method} comes from {owner.__qualname__}, not BlockingConnectionPool"
    pool = mixed("mymaster", None, max_connections=2, timeout=1)
    assert (pool.max_connections, pool.timeout) == (2, 1), "BlockingConnectionPool.__init__ did not run"


def _resp3_connection() -> Any:
    _redis()
    import redis.connection

    return redis.connection.Connection(protocol=3)


@private("redis-py", "Connection._sock")
def _sync_sock(name: str) -> None:
    attr_of(_resp3_connection(), name)


@private("redis-py", "Connection._parser")
def _sync_parser(name: str) -> None:
    parser = attr_of(_resp3_connection(), name)
    assert callable(getattr(parser, "set_invalidation_push_handler", None)), \
        f"{type(parser).__name__} has no set_invalidation_push_handler"


@private("redis-py", "_HiredisParser._reader", "_HiredisParser._hiredis_PushNotificationType",
         "_HiredisParser.read_from_socket", "NOT_ENOUGH_DATA")
def _hiredis_reader(name: str) -> None:
    _redis()
    hiredis = pytest.importorskip("hiredis")
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser

    conn = _resp3_connection()
    parser = conn._parser
    assert isinstance(parser, _HiredisParser), f"with hiredis installed the RESP3 parser is {type(parser)}"
    ours, theirs = socket.socketpair()
    try:
        conn._sock = ours  # what connect() sets before the parser's on_connect
        parser.on_connect(conn)
        assert parser._reader is not None, "on_connect() left no _reader"
        push_type = parser._hiredis_PushNotificationType
        assert push_type is getattr(hiredis, "PushNotification", None), f"push type {push_type!r}"
        theirs.sendall(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n")
        assert parser.read_from_socket() is not False
        message = parser._reader.gets()
        assert type(message) is push_type and message[0] == b"invalidate" and message[1] == [b"key"], repr(message)
        assert parser._reader.gets() is NOT_ENOUGH_DATA, "an empty reader does not answer NOT_ENOUGH_DATA"
    finally:
        parser.on_disconnect()
        ours.close()
        theirs.close()


@private("redis-py", "Connection.read_response(push_request=)", "Connection.send_command(check_health=)")
def _undocumented_keywords(name: str) -> None:
    _redis()
    import redis.connection

    cls = redis.connection.Connection
    if name.startswith("Connection.read_response"):
        assert "push_request" in params(cls.read_response), f"read_response{inspect.signature(cls.read_response)}"
        return
    assert "check_health" in params(cls.send_packed_command), \
        f"send_packed_command{inspect.signature(cls.send_packed_command)}"
    assert "check_health" in source(cls.send_command), "send_command no longer passes check_health on"


@private("redis-py", "to_bool")
def _to_bool(name: str) -> None:
    _redis()
    from redis.connection import to_bool

    assert (to_bool("0"), to_bool("1"), to_bool("False")) == (False, True, False)


@private("redis-py", "key_slot")
def _key_slot(name: str) -> None:
    _redis()
    from redis.cluster import key_slot

    assert key_slot(b"{user}a") == key_slot(b"{user}b") and 0 <= key_slot(b"x") < 16384


# pymemcache ---------------------------------------------------------------------------------------
def _pooled() -> Any:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import PooledClient

    return PooledClient(("127.0.0.1", 1))  # connects at its first command


@private("pymemcache", "PooledClient._create_client")
def _create_client(name: str) -> None:
    pooled = _pooled()
    from pymemcache.client.base import Client

    client = attr_of(pooled, name)()
    assert isinstance(client, Client), repr(client)
    client.close()


@private("pymemcache", "PooledClient.client_pool", "ObjectPool._lock", "ObjectPool._free_objs")
def _object_pool(name: str) -> None:
    pool = attr_of(_pooled(), "client_pool")
    if name == "PooledClient.client_pool":
        return
    found = attr_of(pool, name)
    if name.endswith("_lock"):
        with found:
            pass
    else:
        list(found)
        found.clear()


def _hash_client(**kwargs: Any) -> Any:
    pytest.importorskip("pymemcache")
    from pymemcache.client.hash import HashClient

    return HashClient([("127.0.0.1", 1), ("127.0.0.1", 2)], use_pooling=True, **kwargs)


_HASH_SIGNATURES = {
    "_get_client": ["self", "key"],
    "_safely_run_func": ["self", "client", "func", "default_val", "args", "kwargs"],
    "_safely_run_set_many": ["self", "client", "values", "args", "kwargs"],
}
_HASH_CALLERS = {"_get_client": "_run_cmd", "_safely_run_func": "_run_cmd", "_safely_run_set_many": "set_many"}


@private("pymemcache", "HashClient._get_client", "HashClient._safely_run_func", "HashClient._safely_run_set_many")
def _hash_overrides(name: str) -> None:
    pytest.importorskip("pymemcache")
    from pymemcache.client.hash import HashClient

    method = name.rsplit(".", 1)[-1]
    assert params(attr_of(HashClient, name)) == _HASH_SIGNATURES[method], \
        f"HashClient.{method}{inspect.signature(getattr(HashClient, method))}"
    caller = _HASH_CALLERS[method]
    assert f"self.{method}(" in source(getattr(HashClient, caller)), \
        f"HashClient.{caller} no longer calls self.{method} (our override)"


@private("pymemcache", "HashClient._make_client_key", "HashClient.add_server", "HashClient.default_kwargs",
         "HashClient.client_class", "HashClient.hasher", "HashClient.clients")
def _hash_building(name: str) -> None:
    client = _hash_client()
    from pymemcache.client.hash import HashClient

    found = attr_of(client, name)
    if name.endswith("_make_client_key"):
        assert params(HashClient._make_client_key) == ["self", "server"]
        assert found(("127.0.0.1", 1)) in client.clients
    elif name.endswith("add_server"):
        assert params(HashClient.add_server)[:3] == ["self", "server", "port"]
        assert "self.add_server(" in source(HashClient.__init__), "HashClient.__init__ no longer calls add_server"
    elif name.endswith("default_kwargs"):
        assert isinstance(found, dict) and "connect_timeout" in found, repr(found)
    elif name.endswith("client_class"):
        assert isinstance(found, type), repr(found)
    elif name.endswith("hasher"):
        assert callable(getattr(found, "add_node", None)) and callable(getattr(found, "get_node", None))
        assert found.get_node("some-key") in client.clients
    else:
        assert isinstance(found, dict) and len(found) == 2, repr(found)


@private("pymemcache", "HashClient.retry_attempts", "HashClient.retry_timeout", "HashClient.dead_timeout",
         "HashClient.ignore_exc", "HashClient.allow_unicode_keys", "HashClient.key_prefix")
def _hash_settings(name: str) -> None:
    given = {"retry_attempts": 5, "retry_timeout": 3, "dead_timeout": 30, "ignore_exc": True,
             "allow_unicode_keys": True, "key_prefix": b"pre"}
    attribute = name.rsplit(".", 1)[-1]
    found = attr_of(_hash_client(**given), name)
    assert found == given[attribute], f"HashClient({attribute}={given[attribute]!r}).{attribute} is {found!r}"


@private("pymemcache", "check_key_helper")
def _check_key_helper(name: str) -> None:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import check_key_helper

    assert params(check_key_helper)[:3] == ["key", "allow_unicode_keys", "key_prefix"], \
        f"check_key_helper{inspect.signature(check_key_helper)}"
    assert check_key_helper("k", False, b"") == b"k"


# pylibmc ----------------------------------------------------------------------------------------
@private("pylibmc", "_behaviors_numeric")
def _behaviors_numeric(name: str) -> None:
    pytest.importorskip("pylibmc")
    import pylibmc.client

    convert = attr_of(pylibmc.client, name)
    assert convert({"tcp_nodelay": True}) == {"tcp_nodelay": True}
    try:
        convert({"no_such_behavior": 1})
    except ValueError:
        return
    raise AssertionError("an unknown behavior name no longer raises ValueError (drivers.py reports it so)")


@private("pylibmc", "_poll_timeout", "_retry_timeout")
def _hidden_behaviors(name: str) -> None:
    pytest.importorskip("pylibmc")
    import pylibmc
    import pylibmc.client

    converted = pylibmc.client._behaviors_numeric({name: 7})
    if name == "_poll_timeout":
        assert name in pylibmc.all_behaviors and converted == {name: 7}, repr(converted)
        client = pylibmc.Client(["127.0.0.1:1"])  # no connection before the first command
        client.behaviors = {name: 7}
        assert client.behaviors[name] == 7
    else:
        assert converted == {"retry_timeout": 7}, repr(converted)


@private("pylibmc", "Client.hash")
def _server_index(name: str) -> None:
    pylibmc = pytest.importorskip("pylibmc")

    client = pylibmc.Client(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"])
    found = {attr_of(client, name)(f"key-{n}") for n in range(300)}
    assert found == {0, 1, 2}, f"hash() over 3 servers answered {sorted(found)[:10]}..., not server indexes"


# psycopg ----------------------------------------------------------------------------------------
@private("psycopg", "Connection.lock")
def _psycopg_lock(name: str) -> None:
    psycopg = pytest.importorskip("psycopg")

    assert "self.lock = " in source(psycopg.Connection.__init__), "psycopg.Connection no longer sets self.lock"


@private("psycopg", "error_from_result")
def _error_from_result(name: str) -> None:
    pytest.importorskip("psycopg")
    import psycopg.errors

    found = attr_of(psycopg.errors, name)
    assert params(found)[:2] == ["result", "encoding"], f"error_from_result{inspect.signature(found)}"


@private("psycopg", "PGresult.get_error_message")
def _get_error_message(name: str) -> None:
    pytest.importorskip("psycopg")
    from psycopg import pq

    assert callable(attr_of(pq.PGresult, name))


# Django -------------------------------------------------------------------------------------------
def _connection() -> Any:
    from django.db import connections

    return connections["default"]  # this thread's wrapper; nothing here connects


@private("Django", "BaseDatabaseWrapper._thread_ident")
def _thread_ident(name: str) -> None:
    assert attr_of(_connection(), name) == threading.get_ident()


@private("Django", "ConnectionHandler._connections")
def _connection_storage(name: str) -> None:
    from django.db import connections

    connection = _connection()
    storage = attr_of(connections, name).__dict__.get("_storage")
    assert type(storage) is threading.local, f"connections._connections stores in {type(storage)}"
    assert getattr(storage, "default", None) is connection, "the thread's connection is not an attribute there"


@private("Django", "BaseDatabaseWrapper.get_new_connection")
def _get_new_connection(name: str) -> None:
    from django.db.backends.base.base import BaseDatabaseWrapper

    attr_of(BaseDatabaseWrapper, name)
    assert "self.get_new_connection(conn_params)" in source(BaseDatabaseWrapper.connect), \
        "BaseDatabaseWrapper.connect() no longer calls self.get_new_connection(conn_params)"


@private("Django", "BaseDatabaseWrapper.__dict__")
def _wrapper_dict(name: str) -> None:
    connection = _connection()
    state = attr_of(connection, name)
    assert isinstance(state, dict)
    for method in ("cursor", "get_new_connection"):
        assert method not in state, f"Django sets {method} on the instance"
        assert inspect.isfunction(getattr(type(connection), method)), f"{method} is no plain method"


@private("Django", "BaseDatabaseWrapper.queries_logged", "BaseDatabaseWrapper.execute_wrappers",
         "BaseDatabaseWrapper.health_check_enabled", "BaseDatabaseWrapper.health_check_done",
         "BaseDatabaseWrapper.close_if_health_check_failed", "BaseDatabaseWrapper.validate_thread_sharing",
         "BaseDatabaseWrapper.validate_no_broken_transaction", "BaseDatabaseWrapper.wrap_database_errors")
def _cursor_preamble(name: str) -> None:
    found = attr_of(_connection(), name)
    attribute = name.rsplit(".", 1)[-1]
    if attribute in ("queries_logged", "health_check_enabled", "health_check_done"):
        assert isinstance(found, bool), f"{attribute} is {found!r}"
    elif attribute == "execute_wrappers":
        assert isinstance(found, list), repr(found)
    elif attribute == "wrap_database_errors":
        assert hasattr(found, "__enter__") and hasattr(found, "__exit__"), repr(found)
    else:
        assert params(found) == [], f"{attribute}{inspect.signature(found)}"


@private("Django", "ConnectionHandler.create_connection", "ConnectionHandler.settings")
def _connection_handler(name: str) -> None:
    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    found = attr_of(connections, name)
    if name.endswith("settings"):
        assert found["default"]["ENGINE"] == "django.db.backends.sqlite3"
    else:
        assert isinstance(found("default"), BaseDatabaseWrapper)


@private("Django", "DatabaseWrapper.get_connection_params", "DatabaseWrapper.init_commands",
         "BaseDatabaseWrapper.timezone", "DatabaseWrapper.timezone_name", "DatabaseWrapper._configure_connection")
def _own_connections(name: str) -> None:
    from django.db import connections
    from django.db.utils import ConnectionHandler

    attribute = name.rsplit(".", 1)[-1]
    if attribute in ("get_connection_params", "init_commands"):
        wrapper = connections.create_connection("default")  # SQLite (tests/settings.py)
        kwargs = wrapper.get_connection_params()
        if attribute == "init_commands":
            assert isinstance(attr_of(wrapper, name), list)
            return
        # asqlite._open: sqlite3.connect with these (another database here: nothing is created).
        sqlite3.connect(**{**kwargs, "database": "file::memory:", "timeout": 0}).close()
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return
    if attribute == "timezone":
        assert attr_of(_connection(), name) is not None  # USE_TZ = True in tests/settings.py
        return
    pytest.importorskip("psycopg")
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}})
    wrapper = handler["default"]  # not connected
    if attribute == "get_connection_params":
        assert "cursor_factory" in wrapper.get_connection_params(), "apg pops Django's cursor_factory"
    elif attribute == "timezone_name":
        assert isinstance(attr_of(wrapper, name), str)
        assert "%s" in wrapper.ops.set_time_zone_sql()
    else:
        steps = set(re.findall(r"self\.(_\w+)\(", source(attr_of(type(wrapper), name))))
        assert steps == {"_configure_timezone", "_configure_role"}, \
            f"_configure_connection now runs {sorted(steps)}: apg.Pool._connect mirrors only the time zone and role"


@private("Django", "BaseCache._missing_key")
def _missing_key(name: str) -> None:
    from django.core.cache.backends.base import BaseCache

    marker = attr_of(BaseCache({}), name)
    assert marker is BaseCache._missing_key and marker is not None


@private("Django", "BaseCache._max_entries", "BaseCache._cull_frequency")
def _culling(name: str) -> None:
    from django.core.cache.backends.base import BaseCache

    cache = BaseCache({"OPTIONS": {"MAX_ENTRIES": 7, "CULL_FREQUENCY": 2}})
    expected = {"_max_entries": 7, "_cull_frequency": 2}[name.rsplit(".", 1)[-1]]
    assert attr_of(cache, name) == expected


@private("Django", "BaseCache.aget_or_set")
def _aget_or_set_routing(name: str) -> None:
    from django.core.cache.backends.locmem import LocMemCache

    from django_altcache.stampede.mixin import _DJANGO_ROUTES_OVERRIDES

    class Overriding(LocMemCache):
        def get_or_set(self, *args: Any, **kwargs: Any) -> Any:
            return "the override"

    cache = Overriding("altcache-private-parts", {})
    routed = run(lambda: cache.aget_or_set("key", "the default")) == "the override"
    assert routed == _DJANGO_ROUTES_OVERRIDES, \
        f"Django's aget_or_set {'does' if routed else 'does not'} call an overridden get_or_set; " \
        f"stampede/mixin.py reads it from its code as {_DJANGO_ROUTES_OVERRIDES}"


@private("Django", "BaseDatabaseCache._table", "BaseDatabaseCache.cache_model_class")
def _database_cache(name: str) -> None:
    from django.core.cache.backends.db import BaseDatabaseCache

    cache = BaseDatabaseCache("altcache_private_parts", {})
    found = attr_of(cache, name)
    table = found if name.endswith("_table") else found._meta.db_table
    assert table == "altcache_private_parts", repr(table)


@private("Django", "FileBasedCache._dir", "FileBasedCache._createdir", "FileBasedCache.cache_suffix")
def _file_based(name: str) -> None:
    import tempfile

    from django.core.cache.backends.filebased import FileBasedCache

    with tempfile.TemporaryDirectory() as parent:
        directory = os.path.join(parent, "cache")
        cache = FileBasedCache(os.path.relpath(directory), {})
        found = attr_of(cache, name)
        if name.endswith("_dir"):
            assert found == directory, f"_dir is {found!r}"
            assert stat.S_IMODE(os.stat(found).st_mode) == 0o700
        elif name.endswith("_createdir"):
            os.rmdir(directory)
            found()
            assert os.path.isdir(directory)
        else:
            assert isinstance(found, str) and found.startswith("."), repr(found)


@private("Django", "memcache_key_warnings", "MEMCACHE_MAX_KEY_LENGTH", "default_key_func")
def _key_helpers(name: str) -> None:
    from django.core.cache.backends import base

    found = attr_of(base, name)
    if name == "memcache_key_warnings":
        assert list(found("clean-key")) == [] and list(found("bad key")), "no warning for a space"
    elif name == "MEMCACHE_MAX_KEY_LENGTH":
        assert found == 250
    else:
        assert found("key", "prefix", 3) == "prefix:3:key", "Django's key format changed (_shared/keys.py)"


@private("Django", "django.core.files.locks")
def _file_locks(name: str) -> None:
    import tempfile

    from django.core.files import locks

    attr_of(locks, "lock")
    with tempfile.TemporaryFile() as handle:  # _files.py passes a descriptor
        assert locks.lock(handle.fileno(), locks.LOCK_EX | locks.LOCK_NB) is True
        assert locks.unlock(handle.fileno()) is True


class _Captured:
    """A cache backend class that keeps what Django's CacheHandler hands it."""

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        self.params = params


@private("Django", "CacheHandler.create_connection")
def _cache_params(name: str) -> None:
    from django.core.cache import CacheHandler

    options = {"MAX_ENTRIES": 10}
    handler = CacheHandler({"x": {"BACKEND": f"{__name__}._Captured", "OPTIONS": options}})
    made = attr_of(handler, name)("x")
    assert made.params["OPTIONS"] is options, "the backend no longer gets the settings' own OPTIONS dict"


# asgiref ----------------------------------------------------------------------------------------
@private("asgiref", "Local._storage")
def _local_storage(name: str) -> None:
    from asgiref.local import Local

    assert type(Local(thread_critical=True).__dict__.get("_storage")) is threading.local
    assert Local().__dict__.get("_storage") is not None, "a Local keeps no _storage"


@private("asgiref", "_CVar._data", "_Storage.thread_id", "_Storage.data")
def _executors_storage(name: str) -> None:
    from asgiref.sync import AsyncToSync

    from django_altcache.backends._shared import hop

    var = AsyncToSync.executors.__dict__["_storage"].__dict__.get("_data")
    assert isinstance(var, contextvars.ContextVar), f"_CVar._data is {var!r}"
    assert hop._EXECUTORS_VAR is var
    marker = object()

    def inside() -> None:
        AsyncToSync.executors.current = marker
        storage = var.get()
        assert storage.thread_id == threading.get_ident(), "_Storage.thread_id is not the thread"
        assert storage.data.get("current") is marker, "_Storage.data does not hold the attribute"

    contextvars.copy_context().run(inside)  # nothing set here leaks into this thread's context


@private("asgiref", "AsyncToSync.executors", "SyncToAsync.thread_sensitive_context")
def _thread_choice(name: str) -> None:
    from asgiref.sync import AsyncToSync, SyncToAsync

    if name.startswith("AsyncToSync"):
        assert getattr(attr_of(AsyncToSync, name), "current", None) is None  # a sync thread
    else:
        assert isinstance(attr_of(SyncToAsync, name), contextvars.ContextVar)


# Python -----------------------------------------------------------------------------------------
@private("Python (asyncio)", "asyncio._get_running_loop")
def _get_running_loop(name: str) -> None:
    found = attr_of(asyncio, name)
    assert found() is None

    async def inside() -> Any:
        return found() is asyncio.get_running_loop()

    assert run(inside), "_get_running_loop() is not the running loop"


@private("Python (asyncio)", "_SelectorTransport._sock", "_SelectorTransport._closing")
def _transport(name: str) -> None:
    async def check() -> None:
        ours, theirs = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=ours)
        transport = writer.transport
        try:
            found = attr_of(transport, name)
            if name.endswith("_sock"):
                assert found is ours, f"transport._sock is {found!r}"
            else:
                assert found is False
                transport._closing = True  # what pools._close_orphan sets
                assert transport.is_closing(), "is_closing() does not read _closing"
                transport._closing = False
        finally:
            writer.close()
            await writer.wait_closed()
            theirs.close()

    run(check)


@private("Python (sqlite3)", "database is locked")
def _locked_message(name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "db.sqlite3")
        writer = sqlite3.connect(path, isolation_level=None)
        reader = sqlite3.connect(path, timeout=0)
        try:
            writer.execute("CREATE TABLE t (x)")
            writer.execute("BEGIN EXCLUSIVE")
            try:
                reader.execute("SELECT * FROM t").fetchall()
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc), f"SQLite says {exc}"
            else:
                raise AssertionError("a read under another connection's exclusive lock did not fail")
        finally:
            writer.close()
            reader.close()


# prometheus-client ------------------------------------------------------------------------------
_VALUE_ARGS = ("gauge", "metric", "metric", ("backend",), ("default",), "help")


@private("prometheus-client", "ValueClass._multiprocess")
def _multiprocess_flag(name: str) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import values

    assert attr_of(values.ValueClass, name) in (True, False)
    assert values.MutexValue._multiprocess is False
    assert values.MultiProcessValue()._multiprocess is True  # a class: no file is opened before an instance


@private("prometheus-client", "values.ValueClass")
def _value_class(name: str) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import values

    attr_of(values, name)
    for cls in (values.MutexValue, values.MultiProcessValue()):
        inspect.signature(cls).bind(*_VALUE_ARGS, multiprocess_mode="livemax")
        assert callable(getattr(cls, "set", None)), f"{cls.__name__} has no set()"


@private("prometheus-client", "floatToGoString")
def _float_to_go(name: str) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import utils

    found = attr_of(utils, name)
    assert (found(0.5), found(float("inf"))) == ("0.5", "+Inf")


# -- the tests ---------------------------------------------------------------------------------
def failure(library: str, name: str, detail: str) -> str:
    row = documented().get((library, name))
    where = (f" Used in {row.where} (under django_altcache/) for: {row.what_for}. If it goes: {row.if_it_goes}."
             if row else "")
    return (f"{installed(library)}: the private `{name}` django-altcache relies on has changed: {detail}\n"
            f"See docs/compat.md, section {SECTION[3:]!r}, the row of `{name}`.{where}")


@pytest.mark.parametrize("key", sorted(CHECKS), ids=[f"{library}:{name}" for library, name in sorted(CHECKS)])
def test_private_part_still_there(key: tuple[str, str]) -> None:
    library, name = key
    try:
        CHECKS[key](name)
    except Exception as exc:  # noqa: BLE001 - any error means the shape we rely on changed
        pytest.fail(failure(library, name, f"{type(exc).__name__}: {exc}"), pytrace=False)


def test_table_and_checks_agree() -> None:
    pairs = [(row.library, name) for row in table_rows() for name in row.names]
    twice = sorted({pair for pair in pairs if pairs.count(pair) > 1})
    assert not twice, f"docs/compat.md lists these private parts in more than one row: {twice}"
    listed, checked = set(pairs), set(CHECKS)
    assert not listed - checked, f"docs/compat.md lists private parts this module does not check: {sorted(listed - checked)}"
    assert not checked - listed, f"this module checks private parts docs/compat.md does not list: {sorted(checked - listed)}"
    assert set(DISTRIBUTIONS) | {"Python (asyncio)", "Python (sqlite3)"} >= {library for library, _ in listed}


def test_table_parsing() -> None:
    text = (f"# x\n\n{SECTION}\n\nintro\n\n| library | private name | where | what for | if it goes |\n"
            "|---|---|---|---|---|\n| lib | `A._b`, `c` (asyncio) | m.py | w | f |\n\n## Next\n\n| x | `y` | | | |\n")
    rows = table_rows(text)
    assert rows == [Row("lib", ("A._b", "c"), "m.py", "w", "f")]
