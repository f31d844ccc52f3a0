"""DatabaseCache: ours vs Django's vs a raw-SQL floor, on PostgreSQL and SQLite, one run.

    python -m benchmarks.db [--rows 50000] [--out benchmarks/results/db-py312.md]

Each implementation gets its own table pre-filled with ``--rows`` live entries, on the
same database. ``MAX_ENTRIES`` is set above the table size for both caches (Django's
default of 300 would cull the table down at once); Django still counts the table on
every write, which is the cost at issue. The raw floor is the single statement a
cache operation cannot do without, run through the same Django cursor with
pre-encoded parameters.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_ENTRIES = 10_000_000


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
        "sqlite_wal": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path + "-wal",
                       "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}},
    }
    if pg_port:
        pg = {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres",
              "HOST": "127.0.0.1", "PORT": pg_port}
        databases["postgres"] = pg
        # Prepared statements on: fine without a transaction-pooling proxy in between.
        databases["postgres_prepared"] = {**pg, "OPTIONS": {"prepare_threshold": 5}}
    settings.configure(DATABASES=databases, USE_TZ=True, DATABASE_ROUTERS=[ROUTE],
                       INSTALLED_APPS=["django_altcache"], CACHES={})
    django.setup()


def fill(alias: str, table: str, rows: int) -> None:
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
        filler.set_many({f"fill{i}": f"value {i}" for i in range(start, min(rows, start + 5000))}, 86400)


def section(alias: str, rows: int, number: int, rounds: int) -> list[Any]:
    from django.core.cache.backends.db import DatabaseCache as DjangoCache
    from django.db import connections

    from benchmarks.harness import compare
    from django_altcache.backends.db import DatabaseCache

    ROUTE.alias = alias
    params = {"OPTIONS": {"MAX_ENTRIES": MAX_ENTRIES}}
    tables = {"ours": "bench ours", "django": "bench django", "raw": "bench raw"}
    for table in tables.values():
        fill(alias, table, rows)
    ours, django = DatabaseCache(tables["ours"], params), DjangoCache(tables["django"], params)
    connection = connections[alias]
    dialect = ours._dialect(alias)
    raw_dialect = type(dialect)(connection, tables["raw"])
    encoded = ours._encode("a value of some length " * 4)
    counter = itertools.count()

    def key() -> str:
        return f"fill{random.randrange(rows)}"

    def raw(sql: str, make_params: Any) -> Any:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, make_params())
                if sql.lstrip().startswith("SELECT"):
                    cursor.fetchall()
        return run

    def expires() -> Any:
        return ours._expires(raw_dialect, 300)

    def now() -> Any:
        return ours._now(raw_dialect)

    for cache in (ours, django):
        cache.set("counter", 0, None)
    with connection.cursor() as cursor:
        raw_dialect.set_rows(cursor, [(":1:counter", ours._encode(0), expires())])
    batch = [f"fill{i}" for i in range(100)]
    qn = connection.ops.quote_name
    # The floor of incr: one unconditional write of a new value (SQLite skips no-op writes).
    raw_update = f"UPDATE {qn(tables['raw'])} SET {qn('value')} = %s WHERE {qn('cache_key')} = %s"

    def raw_select(sql: str, params: list[Any]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    def raw_set_many(rows: list[Any]) -> None:
        with connection.cursor() as cursor:
            raw_dialect.set_rows(cursor, rows)

    def add_params(made_key: str) -> list[Any]:
        # The floor of add is its own conditional statement (MySQL's is two: clear + INSERT IGNORE).
        if raw_dialect.vendor == "mysql":
            return [made_key, encoded, expires()]
        return [made_key, encoded, expires(), now()]
    value = "a value of some length " * 4
    results = [
        compare("set (existing key)", {
            "ours": lambda: ours.set(key(), value),
            "django": lambda: django.set(key(), value),
            "raw": raw(raw_dialect.sql_set, lambda: [":1:" + key(), encoded, expires()]),
        }, number=number, rounds=rounds),
        compare("set (new key)", {
            "ours": lambda: ours.set(f"new{next(counter)}", value),
            "django": lambda: django.set(f"new{next(counter)}", value),
            "raw": raw(raw_dialect.sql_set, lambda: [f":1:new{next(counter)}", encoded, expires()]),
        }, number=number, rounds=rounds),
        compare("get (hit)", {
            "ours": lambda: ours.get(key()),
            "django": lambda: django.get(key()),
            "raw": raw(raw_dialect.sql_get, lambda: [":1:" + key(), now()]),
        }, number=number, rounds=rounds),
        compare("get (miss)", {
            "ours": lambda: ours.get("absent"),
            "django": lambda: django.get("absent"),
            "raw": raw(raw_dialect.sql_get, lambda: [":1:absent", now()]),
        }, number=number, rounds=rounds),
        compare("incr", {
            "ours": lambda: ours.incr("counter"),
            "django": lambda: django.incr("counter"),
            "raw": raw(raw_update, lambda: [ours._encode(next(counter)), ":1:counter"]),
        }, number=number, rounds=rounds),
        compare("add (existing key)", {
            "ours": lambda: ours.add(key(), value),
            "django": lambda: django.add(key(), value),
            "raw": raw(raw_dialect.sql_add, lambda: add_params(":1:" + key())),
        }, number=number, rounds=rounds),
        compare("touch", {
            "ours": lambda: ours.touch(key(), 300),
            "django": lambda: django.touch(key(), 300),
            "raw": raw(raw_dialect.sql_touch, lambda: [expires(), ":1:" + key(), now()]),
        }, number=number, rounds=rounds),
        compare("set_many(100)", {
            "ours": lambda: ours.set_many({k: value for k in batch}),
            "django": lambda: django.set_many({k: value for k in batch}),
            "raw": lambda: raw_set_many([(":1:" + k, encoded, expires()) for k in batch]),
        }, number=max(2, number // 20), rounds=rounds),
        compare("get_many(100)", {
            "ours": lambda: ours.get_many(batch),
            "django": lambda: django.get_many(batch),
            "raw": lambda: raw_select(*raw_dialect.get_many_query([":1:" + k for k in batch], now())),
        }, number=max(5, number // 5), rounds=rounds),
    ]
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="live rows in each table (default 50000)")
    parser.add_argument("--number", type=int, default=100, help="calls per timed round (default 100)")
    parser.add_argument("--rounds", type=int, default=5)
    default_out = ROOT / "benchmarks" / "results" / f"db-py{sys.version_info[0]}{sys.version_info[1]}.md"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args(argv)

    from tests._servers import ServerUnavailable
    from tests._servers.postgres import postgres_server

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="altcache-bench-") as tmp:
        try:
            pg = stack.enter_context(postgres_server())
            pg_port: int | None = pg.port
        except ServerUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
            pg_port = None
        configure(os.path.join(tmp, "bench.sqlite3"), pg_port)
        from benchmarks.harness import table

        intro = (f"## DatabaseCache: ours vs Django's vs raw SQL\n\nEach cache has its own table holding "
                 f"{args.rows:,} live rows; MAX_ENTRIES={MAX_ENTRIES:,} for both; median µs per call. "
                 f"`raw` is the one statement the operation needs, through the same Django cursor. "
                 f"Generated by `python -m benchmarks.db`.\n\n")
        parts = [intro]
        for alias, title in (
            ("postgres", "PostgreSQL 15 (psycopg 3, TCP 127.0.0.1, Django's default OPTIONS)"),
            ("postgres_prepared", "PostgreSQL 15, OPTIONS {'prepare_threshold': 5}"),
            ("default", "SQLite (file database, Django's defaults: rollback journal, synchronous=FULL)"),
            ("sqlite_wal", "SQLite (file database, journal_mode=WAL, synchronous=NORMAL)"),
        ):
            if alias.startswith("postgres") and pg_port is None:
                continue
            parts.append(table(title, section(alias, args.rows, args.number, args.rounds),
                               versus=["django", "raw"]) + "\n")
        from benchmarks.harness import emit

        emit("".join(parts), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
