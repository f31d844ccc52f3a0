"""DatabaseCache against the bare driver, Django's backend and diskcache, in one run.

    python -m benchmarks.db [--rows 1000] [--quick] [--out PATH]

The floor is the bare driver doing the same work: the one statement the operation needs
on a raw driver connection, with the key made in advance, the current time (and expiry) taken
with the standard library per call (``datetime.now(timezone.utc)``, as text in Django's
format on SQLite), and the value pickled and base64-encoded (or decoded) as the cache must. SQLite: the ``sqlite3`` connection Django
holds for the thread. PostgreSQL: a plain ``psycopg.connect()`` with psycopg's defaults (it
prepares a statement after its fifth run); for the gathered ``aget`` row, a plain
``psycopg.AsyncConnection``. Each implementation has its own table with ``--rows`` live
rows; the rounds alternate the implementations (medians shown). The client is pinned to
one core and the database server to the other when the machine has two.

Writes benchmarks/results/db-py3XX.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import pickle
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_ENTRIES = 10_000_000
VALUE = {"user": 42, "name": "benchmark", "tags": ["a", "b", "c"], "score": 3.5}
ENCODED = base64.b64encode(pickle.dumps(VALUE, pickle.HIGHEST_PROTOCOL)).decode("latin1")
GATHERED = 200
MANY = 100
# Writes keep entries for a day: a full run lasts longer than Django's default 300 s.
LIFE = 86400
IN_LIFE = timedelta(seconds=LIFE)


def encode(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)).decode("latin1")


def decode(text: str) -> Any:
    return pickle.loads(base64.b64decode(text.encode("latin1")))


class Route:
    """Router sending the cache pseudo-model to ``alias`` (changed per section)."""

    alias = "default"

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self.alias if model._meta.app_label == "django_cache" else None

    db_for_write = db_for_read


ROUTE = Route()


def configure(sqlite_path: str, pg_port: int | None) -> None:
    import django
    from django.conf import settings

    databases: dict[str, Any] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path},
        # The usual production settings for SQLite (Django >= 5.1 runs init_command).
        "sqlite_wal": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path.replace(".sqlite3", "-wal.sqlite3"),
                       "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}},
    }
    if pg_port:
        databases["postgres"] = {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
                                 "HOST": "127.0.0.1", "PORT": pg_port}
    settings.configure(DATABASES=databases, USE_TZ=True, DATABASE_ROUTERS=[ROUTE],
                       INSTALLED_APPS=["django_altcache"], CACHES={})
    django.setup()


def make_table(alias: str, table: str, rows: int) -> None:
    from django.db import connections

    from django_altcache.backends.db import DatabaseCache
    from django_altcache.backends.db.schema import table_ddl

    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")
        create, indexes = table_ddl(connection, table)
        cursor.execute(create)
        for statement in indexes:
            cursor.execute(statement)
    filler = DatabaseCache(table, {"OPTIONS": {"CULL_PROBABILITY": 0}})
    for start in range(0, rows, 5000):
        filler.set_many({f"fill{i}": VALUE for i in range(start, min(rows, start + 5000))}, 86400)


class Section:
    """Everything one database's rows need: the caches, the floor's statements and parameters."""

    def __init__(self, alias: str, rows: int) -> None:
        from django.core.cache.backends.db import DatabaseCache as DjangoCache
        from django.db import connections

        from django_altcache.backends.db import DatabaseCache

        ROUTE.alias = alias
        self.alias = alias
        self.tables = {"ours": "bench ours", "django": "bench django", "floor": "bench floor"}
        for table in self.tables.values():
            make_table(alias, table, rows)
        params = {"OPTIONS": {"MAX_ENTRIES": MAX_ENTRIES}}
        self.ours = DatabaseCache(self.tables["ours"], params)
        self.django = DjangoCache(self.tables["django"], params)
        self.connection = connections[alias]
        # The floor's SQL: our dialect's statements on the floor's table (the same text).
        self.sql = DatabaseCache(self.tables["floor"], params)._dialect(alias)
        for cache in (self.ours, self.django):
            cache.set("counter", 0, None)
        # A fixed cycle of existing keys: the same for every column, and cheap to draw.
        self.keys = itertools.cycle([f"fill{i}" for i in range(0, rows, max(1, rows // 997))])
        self.made = itertools.cycle([f":1:fill{i}" for i in range(0, rows, max(1, rows // 997))])
        self.batch = [f"fill{i}" for i in range(MANY)]
        self.made_batch = [f":1:{k}" for k in self.batch]
        self.counter = itertools.count()


def cache_ops(section: Section, name: str, cache: Any) -> dict[str, Any]:
    keys, counter = section.keys, section.counter
    batch = section.batch
    data = {k: VALUE for k in batch}
    return {
        "get (hit)": lambda: cache.get(next(keys)),
        "get (miss)": lambda: cache.get("absent"),
        "has_key": lambda: cache.has_key(next(keys)),
        "set (existing key)": lambda: cache.set(next(keys), VALUE, LIFE),
        "add (existing key)": lambda: cache.add(next(keys), VALUE, LIFE),
        "incr": lambda: cache.incr("counter"),
        "touch": lambda: cache.touch(next(keys), LIFE),
        "delete (miss)": lambda: cache.delete(f"absent{next(counter)}"),
        f"get_many({MANY})": lambda: cache.get_many(batch),
        f"set_many({MANY})": lambda: cache.set_many(data, LIFE),
    }


def sqlite_floor(section: Section) -> dict[str, Any]:
    from django_altcache.backends.db.raw import qmarks_for

    section.connection.ensure_connection()
    raw = section.connection.connection
    sql = section.sql
    q = qmarks_for([sql.sql_get, sql.sql_has_key, sql.sql_set, sql.sql_add, sql.sql_touch, sql.sql_delete])
    get, has, put, add, touch, delete = (q[s] for s in (sql.sql_get, sql.sql_has_key, sql.sql_set, sql.sql_add,
                                                        sql.sql_touch, sql.sql_delete))
    made, counter = section.made, section.counter
    update = f"UPDATE {sql.t} SET {sql.v} = ? WHERE {sql.k} = ?"

    def now() -> str:  # the table's text for "now" (Django's adaptation: naive UTC)
        return str(datetime.now(timezone.utc).replace(tzinfo=None))

    def expires() -> str:
        return str(datetime.now(timezone.utc).replace(tzinfo=None) + IN_LIFE)

    raw.execute(put, (":1:counter", encode(0), expires()))
    in_list = f"SELECT {sql.k}, {sql.v}, {sql.e} > ? FROM {sql.t} WHERE {sql.k} IN ({', '.join('?' * MANY)})"
    many_insert = (f"INSERT INTO {sql.t} ({sql.k}, {sql.v}, {sql.e}) VALUES "
                   + ", ".join(["(?, ?, ?)"] * MANY) + f" ON CONFLICT ({sql.k}) DO UPDATE SET {sql.v} = "
                   f"EXCLUDED.{sql.v}, {sql.e} = EXCLUDED.{sql.e}")

    def get_hit() -> Any:
        return decode(raw.execute(get, (next(made), now())).fetchone()[0])

    def get_many() -> Any:
        rows = raw.execute(in_list, (now(), *section.made_batch)).fetchall()
        return {k: decode(v) for k, v, live in rows if live}

    def set_many() -> None:
        params: list[Any] = []
        when = expires()
        for k in section.made_batch:
            params += (k, encode(VALUE), when)
        raw.execute(many_insert, params)

    return {
        "get (hit)": get_hit,
        "get (miss)": lambda: raw.execute(get, (":1:absent", now())).fetchone(),
        "has_key": lambda: raw.execute(has, (next(made), now())).fetchone() is not None,
        "set (existing key)": lambda: raw.execute(put, (next(made), encode(VALUE), expires())),
        "add (existing key)": lambda: raw.execute(add, (next(made), encode(VALUE), expires(), now())),
        "incr": lambda: raw.execute(update, (encode(next(counter)), ":1:counter")),
        "touch": lambda: raw.execute(touch, (expires(), next(made), now())),
        "delete (miss)": lambda: raw.execute(delete, (f":1:absent{next(counter)}",)),
        f"get_many({MANY})": get_many,
        f"set_many({MANY})": set_many,
        f"{GATHERED} × aget gathered": lambda: [get_hit() for _ in range(GATHERED)],
    }


def diskcache_ops(directory: str, rows: int, section: Section) -> dict[str, Any]:
    import diskcache

    cache = diskcache.Cache(directory)
    cache.clear()
    with cache.transact():
        for i in range(rows):
            cache.set(f"fill{i}", VALUE, expire=86400)
    cache.set("counter", 0)
    keys, counter, batch = section.keys, section.counter, section.batch

    def set_many() -> None:
        with cache.transact():
            for k in batch:
                cache.set(k, VALUE, expire=LIFE)

    return {
        "get (hit)": lambda: cache.get(next(keys)),
        "get (miss)": lambda: cache.get("absent"),
        "has_key": lambda: next(keys) in cache,
        "set (existing key)": lambda: cache.set(next(keys), VALUE, expire=LIFE),
        "add (existing key)": lambda: cache.add(next(keys), VALUE, expire=LIFE),
        "incr": lambda: cache.incr("counter"),
        "touch": lambda: cache.touch(next(keys), LIFE),
        "delete (miss)": lambda: cache.delete(f"absent{next(counter)}"),
        f"get_many({MANY})": lambda: {k: v for k in batch if (v := cache.get(k)) is not None},
        f"set_many({MANY})": set_many,
    }


def postgres_floor(section: Section, port: int) -> tuple[dict[str, Any], Any]:
    import psycopg

    conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
    cur = conn.cursor()
    sql = section.sql
    made, counter = section.made, section.counter
    update = f"UPDATE {sql.t} SET {sql.v} = %s WHERE {sql.k} = %s"

    def now() -> datetime:
        return datetime.now(timezone.utc)

    def expires() -> datetime:
        return datetime.now(timezone.utc) + IN_LIFE

    cur.execute(sql.sql_set, (":1:counter", encode(0), expires()))


    def one(statement: str, params: tuple[Any, ...]) -> Any:
        cur.execute(statement, params)
        return cur.fetchone()

    def get_many() -> Any:
        cur.execute(*sql.get_many_query(section.made_batch, now()))
        return {k: decode(v) for k, v, live in cur.fetchall() if live}

    def set_many() -> None:
        when = expires()
        sql.set_rows(cur, [(k, encode(VALUE), when) for k in section.made_batch])

    ops = {
        "get (hit)": lambda: decode(one(sql.sql_get, (next(made), now()))[0]),
        "get (miss)": lambda: one(sql.sql_get, (":1:absent", now())),
        "has_key": lambda: one(sql.sql_has_key, (next(made), now())) is not None,
        "set (existing key)": lambda: cur.execute(sql.sql_set, (next(made), encode(VALUE), expires())),
        "add (existing key)": lambda: cur.execute(sql.sql_add, (next(made), encode(VALUE), expires(), now())),
        "incr": lambda: cur.execute(update, (encode(next(counter)), ":1:counter")),
        "touch": lambda: cur.execute(sql.sql_touch, (expires(), next(made), now())),
        "delete (miss)": lambda: cur.execute(sql.sql_delete, (f":1:absent{next(counter)}",)),
        f"get_many({MANY})": get_many,
        f"set_many({MANY})": set_many,
    }
    return ops, conn


def gathered(loop: asyncio.AbstractEventLoop, make: Any) -> Any:
    async def all_of() -> Any:
        return await asyncio.gather(*[make() for _ in range(GATHERED)])

    return lambda: loop.run_until_complete(all_of())


def results(section: Section, floor: dict[str, Any], others: dict[str, dict[str, Any]], number: int, rounds: int,
            loop: asyncio.AbstractEventLoop, async_floor: Any) -> list[Any]:
    from benchmarks.harness import compare

    out = []
    for op, floor_op in floor.items():
        if op.endswith("aget gathered"):
            keys = section.keys
            impls = {"floor": async_floor or floor_op,
                     "ours": gathered(loop, lambda: section.ours.aget(next(keys))),
                     "django": gathered(loop, lambda: section.django.aget(next(keys)))}
            out.append(compare(op, impls, number=max(2, number // 40), rounds=rounds))
            continue
        impls = {"floor": floor_op, **{name: ops[op] for name, ops in others.items() if op in ops}}
        calls = number if "many" not in op else max(5, number // 10)
        if section.alias == "default" and op.startswith(("set", "add", "incr", "touch")):
            calls = max(10, number // 10)  # each commit waits for the disk (synchronous=FULL)
        out.append(compare(op, impls, number=calls, rounds=rounds))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000, help="live rows in each table (default 1000)")
    parser.add_argument("--quick", action="store_true", help="few rounds, nothing written")
    default_out = ROOT / "benchmarks" / "results" / f"db-py{sys.version_info[0]}{sys.version_info[1]}.md"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args(argv)
    number, rounds = (40, 3) if args.quick else (200, 21)

    from benchmarks.harness import emit, floor_table, load_note, pin, pin_server
    from tests._servers import ServerUnavailable
    from tests._servers.base import descendants
    from tests._servers.postgres import postgres_server

    started = os.getloadavg()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="altcache-bench-") as tmp:
        pinning = pin(1)
        try:
            pg = stack.enter_context(postgres_server())
            pg_port: int | None = pg.port
            if pg.process.pid is not None:
                for pid in [pg.process.pid, *descendants(pg.process.pid)]:
                    pinning_server = pin_server(pid, 0)
                pinning += ", " + pinning_server
        except ServerUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
            pg_port = None
        configure(os.path.join(tmp, "bench.sqlite3"), pg_port)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        intro = (f"## DatabaseCache: ours and Django's against the bare driver\n\n"
                 f"Median µs per call over {rounds} interleaved rounds; each cache has its own table of "
                 f"{args.rows:,} live rows (MAX_ENTRIES={MAX_ENTRIES:,}); the value is a small dict. "
                 f"`floor` is the bare driver doing the same work (module docstring); `X ÷ floor` below "
                 f"1.5 means X costs less than 1.5 times the driver alone. `noise` is the widest "
                 f"interquartile spread of the row's rounds (± half of it, relative to the median). "
                 f"Generated by `python -m benchmarks.db`; {pinning}.\n\n")
        parts = [intro]
        for alias, title in (
            ("default", "SQLite (file database, Django's defaults: rollback journal, synchronous=FULL)"),
            ("sqlite_wal", "SQLite (journal_mode=WAL, synchronous=NORMAL: diskcache's own settings)"),
            ("postgres", "PostgreSQL (psycopg 3, TCP 127.0.0.1, Django's default OPTIONS)"),
        ):
            if alias == "postgres" and pg_port is None:
                continue
            section = Section(alias, args.rows)
            if alias == "postgres":
                assert pg_port is not None
                floor, conn = postgres_floor(section, pg_port)
                stack.callback(conn.close)
                async_floor = postgres_async_floor(section, pg_port, loop)
                others = {"ours": cache_ops(section, "ours", section.ours),
                          "django": cache_ops(section, "django", section.django)}
                floor[f"{GATHERED} × aget gathered"] = async_floor
                note = ("`floor`: `psycopg.connect()` with psycopg's defaults; gathered row: one "
                        "`psycopg.AsyncConnection`, the 200 statements gathered on it.")
            else:
                floor = sqlite_floor(section)
                async_floor = None
                others = {"ours": cache_ops(section, "ours", section.ours),
                          "django": cache_ops(section, "django", section.django),
                          "diskcache": diskcache_ops(os.path.join(tmp, f"diskcache-{alias}"), args.rows, section)}
                note = ("`floor`: the `sqlite3` connection Django holds; gathered row: the 200 statements one "
                        "after the other (SQLite has no async driver). diskcache 5.6 (`Cache.get`/`set`/..., "
                        "WAL and synchronous=NORMAL whatever the section) has no async API.")
            parts.append(floor_table(title, results(section, floor, others, number, rounds, loop, async_floor),
                                     note=note) + "\n")
        parts.append(load_note(started) + "\n")
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        emit("".join(parts), None if args.quick else args.out)
    return 0


def postgres_async_floor(section: Section, port: int, loop: asyncio.AbstractEventLoop) -> Any:
    import psycopg

    conn = loop.run_until_complete(psycopg.AsyncConnection.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True))
    sql, made = section.sql, section.made

    async def one() -> Any:
        async with conn.cursor() as cur:
            await cur.execute(sql.sql_get, (next(made), datetime.now(timezone.utc)))
            row = await cur.fetchone()
        return decode(row[0])

    return gathered(loop, one)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
