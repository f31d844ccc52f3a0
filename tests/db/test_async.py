"""The database cache's async twins: native on PostgreSQL, one batched thread hop elsewhere.

Each twin is held to its sync method (same results, same rows), and the cases where the
native path must not be taken are checked: inside ``async_to_sync`` (the caller's
transaction), and under DEBUG (``connection.queries``).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import OperationalError, connections, transaction
from django.test.utils import override_settings

from django_altcache.backends._shared import hop as hop_module
from django_altcache.backends.db import apg

from .conftest import rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def close_thread_connections() -> None:
    # sync_to_async's thread (asgiref's single thread, outside async_to_sync) opened its own
    # connections; test databases cannot be dropped otherwise.
    async def close():
        await sync_to_async(connections.close_all)()

    asyncio.run(close())


def scenario_sync(cache):
    out = [cache.set("a", 1), cache.get("a"), cache.has_key("a"), cache.add("a", 2), cache.add("b", {"x": 1}),
           cache.get_many(["a", "b", "c"]), cache.touch("a", 100), cache.touch("zz"), cache.incr("a", 5),
           cache.decr("a"), cache.set_many({"c": 3, "d": 4}), cache.incr_version("c"), cache.get("c", version=2),
           cache.delete("d"), cache.delete("d"), cache.delete_many(["a", "b"]), cache.get_many(["a", "b"]),
           cache.has_key("c", version=2)]
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.clear()
    out.append(cache.get_many(["c"]))
    return out


async def scenario_async(cache):
    out = [await cache.aset("a", 1), await cache.aget("a"), await cache.ahas_key("a"), await cache.aadd("a", 2),
           await cache.aadd("b", {"x": 1}), await cache.aget_many(["a", "b", "c"]), await cache.atouch("a", 100),
           await cache.atouch("zz"), await cache.aincr("a", 5), await cache.adecr("a"),
           await cache.aset_many({"c": 3, "d": 4}), await cache.aincr_version("c"), await cache.aget("c", version=2),
           await cache.adelete("d"), await cache.adelete("d"), await cache.adelete_many(["a", "b"]),
           await cache.aget_many(["a", "b"]), await cache.ahas_key("c", version=2)]
    with pytest.raises(ValueError):
        await cache.aincr("missing")
    await cache.aclear()
    out.append(await cache.aget_many(["c"]))
    return out


def test_async_twins_answer_as_the_sync_methods(vendor_alias, make_cache):
    cache = make_cache()
    expected = scenario_sync(cache)
    assert asyncio.run(scenario_async(cache)) == expected
    close_thread_connections()


def test_an_async_call_is_a_new_caches_first_use(vendor_alias, make_cache):
    """Nothing sync-only on the way: a fresh cache builds its SQL from an event loop, with no
    connection of this thread open (Django 6.0's SQLite features ask the connection)."""
    cache = make_cache()
    connections.close_all()

    async def main():
        first = await cache.aget("k", "absent"), await cache.ahas_key("k")  # the reads are native
        await cache.aset("k", "v")
        return first, await cache.aget("k"), await cache.aget_many(["k", "x"])

    assert asyncio.run(main()) == (("absent", False), "v", {"k": "v"})
    close_thread_connections()


def test_postgres_async_runs_on_the_loops_own_connections(postgres_port, make_cache, vendor_alias):
    if vendor_alias != "postgres":
        pytest.skip("PostgreSQL only")
    cache = make_cache()
    seen = []

    async def main():
        await cache.aset("k", "v")
        assert await cache.aget("k") == "v"
        pools = apg._loops[asyncio.get_running_loop()].pools
        seen.extend(conn for pool in pools.values() for conn in pool.idle)
        assert seen and all(not conn.closed for conn in seen)

    hops = []
    original = hop_module._run_calls
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
        asyncio.run(main())
    assert hops == []  # no thread hop at all
    assert all(conn.closed for conn in seen)  # closed with their loop
    close_thread_connections()


def test_gathered_calls_share_one_hop(vendor_alias, make_cache):
    cache = make_cache()
    cache.set_many({f"k{i}": i for i in range(50)})
    hops = []
    original = hop_module._run_calls

    async def main():
        # incr always hops (all vendors): 50 gathered calls, one hop.
        return await asyncio.gather(*[cache.aincr(f"k{i}") for i in range(50)])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
        assert asyncio.run(main()) == [i + 1 for i in range(50)]
    assert hops == [50]
    close_thread_connections()


@pytest.mark.parametrize("op", ["aset", "aadd", "adelete", "aset_many", "aincr"])
def test_async_to_sync_inside_a_transaction_joins_it(vendor_alias, make_cache, op):
    cache = make_cache(OPTIONS={"CULL_PROBABILITY": 0})
    cache.set("k", 1, 1000)
    before = rows(vendor_alias, cache._table)
    calls = {"aset": lambda: cache.aset("k", 2), "aadd": lambda: cache.aadd("new", 1),
             "adelete": lambda: cache.adelete("k"), "aset_many": lambda: cache.aset_many({"k": 3}),
             "aincr": lambda: cache.aincr("k")}

    async def call():
        return await calls[op]()

    with transaction.atomic(using=vendor_alias):
        async_to_sync(call)()
        assert rows(vendor_alias, cache._table) != before  # visible inside the transaction
        transaction.set_rollback(True, using=vendor_alias)
    assert rows(vendor_alias, cache._table) == before


def test_async_statements_show_in_connection_queries_under_debug(vendor_alias, make_cache):
    cache = make_cache(OPTIONS={"CULL_PROBABILITY": 0})
    table = connections[vendor_alias].ops.quote_name(cache._table)

    async def main():
        def clear():
            connections[vendor_alias].queries_log.clear()

        await sync_to_async(clear)()
        await cache.aset("k", 1)
        assert await cache.aget("k") == 1
        return await sync_to_async(lambda: [q["sql"] for q in connections[vendor_alias].queries])()

    with override_settings(DEBUG=True):
        logged = asyncio.run(main())
    assert len([sql for sql in logged if table in sql]) == 2, logged  # (a new connection logs its set-up too)
    close_thread_connections()


def test_postgres_async_statement_bounded_by_query_timeout(postgres_port, make_cache, vendor_alias):
    if vendor_alias != "postgres":
        pytest.skip("PostgreSQL only")
    cache = make_cache(OPTIONS={"QUERY_TIMEOUT": 0.3})
    cache.set("k", 1)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        # Another session holds the table: the cache's statement waits on it.
        with connections["postgres"].cursor() as cursor, transaction.atomic(using="postgres"):
            cursor.execute(f"LOCK TABLE {connections['postgres'].ops.quote_name(cache._table)} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(10)
        connections["postgres"].close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)

        async def main():
            started = time.monotonic()
            with pytest.raises(OperationalError):
                await cache.aget("k")
            return time.monotonic() - started

        assert asyncio.run(main()) < 3  # the bound (0.3 s) plus generous slack; unbounded: forever
    finally:
        release.set()
        holder.join(10)
    assert asyncio.run(cache.aget("k")) == 1  # a fresh connection after the cut one
    close_thread_connections()


def test_sqlite_async_reads_run_on_the_loop_and_writes_hop(make_cache, vendor_alias):
    if vendor_alias != "default":
        pytest.skip("SQLite only")
    cache = make_cache()
    cache.set_many({"a": 1, "b": 2})
    hops = []
    original = hop_module._run_calls

    async def main():
        assert await cache.aget("a") == 1
        assert await cache.ahas_key("b")
        assert await cache.aget_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        assert hops == []  # reads: no hop
        await cache.aset("c", 3)
        assert hops == [1]
        assert await cache.aget("c") == 3

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
        asyncio.run(main())
    close_thread_connections()


def test_sqlite_async_read_that_would_wait_for_a_lock_takes_the_hop(make_cache, vendor_alias):
    if vendor_alias != "default":
        pytest.skip("SQLite only")
    import sqlite3

    cache = make_cache()
    cache.set("a", 1)
    writer = sqlite3.connect(connections["default"].settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")  # readers must wait (rollback journal)
    hops = []
    original = hop_module._run_calls

    def release_soon():
        time.sleep(0.3)
        writer.execute("ROLLBACK")

    async def main():
        threading.Thread(target=release_soon).start()
        return await cache.aget("a")

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(hop_module, "_run_calls", lambda calls: hops.append(len(calls)) or original(calls))
            assert asyncio.run(main()) == 1  # waited in the hop (the site's timeout), not on the loop
        assert hops == [1]
    finally:
        writer.close()
    close_thread_connections()


def test_sqlite_gathered_reads_are_one_statement(make_cache, vendor_alias):
    if vendor_alias != "default":
        pytest.skip("SQLite only")
    from django_altcache.backends.db import asqlite

    cache = make_cache()
    cache.set_many({f"k{i}": i for i in range(30)})
    cache.set("gone", 1, -1)
    statements = []
    original = asqlite.execute

    async def main():
        return await asyncio.gather(*[cache.aget(f"k{i}") for i in range(40)], cache.ahas_key("k3"),
                                    cache.ahas_key("gone"), cache.aget("gone", "dflt"))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asqlite, "execute", lambda *args: statements.append(args[1]) or original(*args))
        answers = asyncio.run(main())
    assert answers == [*range(30), *[None] * 10, True, False, "dflt"]
    assert len(statements) == 1 and " IN (" in statements[0]
