"""Database cache: Django's table and value format, one statement per operation.

Differences from ``django.core.cache.backends.db.DatabaseCache`` (see docs/compat.md):
expiry keeps microseconds; reads never write (expired rows are filtered in SQL and
left for culling or ``cachepurge``); ``incr``/``decr`` are atomic compare-and-swap
updates that keep the entry's expiry; culling is amortized (``CULL_PROBABILITY``)
and evicts expired rows, then the soonest-expiring ones.

Resilience (``guard.py``): bounded connects and statements on network databases
(CONNECT_TIMEOUT, QUERY_TIMEOUT), broken connections discarded so the cache heals
outside request cycles, and the shared fail-soft/circuit-breaker layer on top.
"""

from __future__ import annotations

import base64
import pickle
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, InvalidCacheKey
from django.core.cache.backends.db import BaseDatabaseCache
from django.db import (
    DatabaseError,
    Error,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)

from ...codecs import UnreadableValue, report_unreadable
from ...stampede.mixin import StampedeMixin
from .._shared.hop import batched, hop
from .._shared.keys import FastKeysMixin
from .._shared.twins import twins
from ..base import AltCache, PingResult, logger
from . import apg, asqlite, options
from . import codec as db_codec
from . import raw as raw_path
from .dialects import SLOW, Dialect, dialect_for
from .guard import is_outage, run_guarded
from .raw import thread_connection

T = TypeVar("T")

KEY_MAX_LENGTH = 255  # cache_key varchar(255)
# Django writes datetime.max without microseconds for timeout=None; so do we, byte for byte.
FOREVER = datetime.max.replace(microsecond=0)
# With no CULL_PROBABILITY, a write checks the row count with probability
# min(1, CULL_CHECK_BUDGET / MAX_ENTRIES): every write for small caches (Django's
# behaviour), and for big ones about CULL_CHECK_BUDGET rows scanned per write on
# average, while the table overshoots MAX_ENTRIES by about MAX_ENTRIES / budget rows.
CULL_CHECK_BUDGET = 100
CAS_ATTEMPTS = 200
MEMO_SIZE = 1024
LOCKED_RETRIES = 6


class _Unreadable(Exception):
    """A stored value ``incr`` could not decode (raised out of its unit of work)."""

    def __init__(self, raw: Any, error: Exception) -> None:
        super().__init__(raw, error)
        self.raw, self.error = raw, error


class DatabaseCache(StampedeMixin, AltCache, FastKeysMixin, BaseDatabaseCache):
    spec = options.SPEC
    pickle_protocol = pickle.HIGHEST_PROTOCOL
    # leaf_operations: see AltCache.
    leaf_operations = frozenset({"get", "get_many", "has_key", "set", "add", "touch", "delete", "set_many",
                                 "delete_many", "clear", "incr", "incr_version"})

    def __init__(self, table: str, params: dict[str, Any]) -> None:
        options.check_table_name(table)
        super().__init__(table, params)
        self._init_stampede(table, params)  # single-flight get_or_set (docs/stampede.md)
        self._init_fast_keys()
        parsed = self._parsed
        self._prepare = parsed[options.PREPARE_STATEMENTS]
        self._cull_probability = parsed[options.CULL_PROBABILITY]
        self.unlogged = parsed[options.UNLOGGED]
        # Network databases only; SQLite's lock wait is its DATABASES OPTIONS['timeout'].
        self._timeouts = parsed.derive(options.timeouts_of)
        self._codec = self._init_codec(table, params)
        db_codec.install(self, self._codec)
        self._dialects: dict[tuple[str, str], Dialect] = {}
        # incr's first guess per (alias, key): the (text, value) this process last wrote.
        self._last_written: dict[tuple[str, str], tuple[str, Any]] = {}
        self._init_guard(lambda: f"DatabaseCache {table!r}", errors=(OperationalError, InterfaceError),
                         make_error=OperationalError, is_outage=is_outage)

    # Plumbing: routing, dialects, keys, times, values.

    def _dialect(self, alias: str, connection: Any = None) -> Dialect:
        if connection is None:
            connection = connections[alias]
        cache_key = (alias, connection.vendor)
        dialect = self._dialects.get(cache_key)
        if dialect is None:
            dialect = self._dialects[cache_key] = dialect_for(connection, self._table, self._prepare)
        return dialect

    def _read_alias(self) -> str:
        return router.db_for_read(self.cache_model_class)

    def _write_alias(self) -> str:
        return router.db_for_write(self.cache_model_class)

    def _key(self, key: Any, version: int | None) -> str:
        key = self.make_and_validate_key(key, version=version)
        # The column cannot hold these; refusing them here means nothing is sent.
        if len(key) > KEY_MAX_LENGTH:
            raise InvalidCacheKey(
                f"Cache key is {len(key)} characters long; the database cache's cache_key "
                f"column holds at most {KEY_MAX_LENGTH}: {key[:60]!r}...")
        if "\x00" in key:
            raise InvalidCacheKey(f"Cache key contains a NUL character, which the database "
                                  f"cache cannot store: {key!r}")
        return key

    def _now(self, dialect: Dialect) -> Any:
        return dialect.now()

    def _expires(self, dialect: Dialect, timeout: Any) -> Any:
        when = self.get_backend_timeout(timeout)
        if when is None:
            expires = FOREVER
        else:
            try:
                expires = datetime.fromtimestamp(when, tz=dt_timezone.utc if settings.USE_TZ else None)
            except (OverflowError, OSError, ValueError):
                expires = FOREVER
        return dialect.adapt_datetime(expires)

    def _encode(self, value: Any) -> str:
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    def _decode(self, ops: Any, raw: Any) -> Any:
        raw = ops.process_clob(raw)
        return pickle.loads(base64.b64decode(raw.encode("latin1"), validate=True))

    def _run(self, alias: str, work: Callable[[Dialect, Any], T], *, bulk: bool = False) -> T:
        """Run ``work(dialect, cursor)`` on ``alias``, guarded; retry SQLite's "database is locked".

        Guarded (``guard.run_guarded``): bounded connect and statement time on network
        databases, outage errors marked and their connection discarded. ``bulk`` work
        (clear, purge) may take longer than QUERY_TIMEOUT (``Timeouts.bulk``).

        SQLite's busy timeout covers most waits, but a lock it cannot wait for
        (another connection's write upgrading a read) fails at once. Each unit of
        work here is idempotent, so it is retried a bounded number of times, and
        never inside the caller's transaction, where the caller owns the retry.
        """
        connection = thread_connection(alias)
        dialect = self._dialects.get((alias, connection.vendor)) or self._dialect(alias, connection)
        query_timeout = self._timeouts.bulk if bulk else self._timeouts.query
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                return run_guarded(dialect, connection, work, self._timeouts, query_timeout)
            except OperationalError as exc:
                if (attempt == LOCKED_RETRIES or connection.vendor != "sqlite"
                        or connection.in_atomic_block or "locked" not in str(exc)):
                    raise
                time.sleep(min(0.5, 0.01 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    # Reads: filtered on expiry in SQL, never a write.

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self._key(key, version)
        alias = self._read_alias()
        connection = thread_connection(alias)
        dialect = self._dialects.get((alias, connection.vendor)) or self._dialect(alias, connection)
        row = dialect.read_one(connection, dialect.sql_get, key)  # SQLite's direct read
        if row is SLOW:
            def work(dialect: Dialect, cursor: Any) -> Any:
                cursor.execute(dialect.sql_get, [key, self._now(dialect)])
                return cursor.fetchone()

            row = self._run(alias, work)
        if row is None:
            return default
        value, ok = self._load(dialect.ops, key, row[0])
        return value if ok else default

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        key_map = {self._key(key, version): key for key in keys}
        if not key_map:
            return {}

        def work(dialect: Dialect, cursor: Any) -> tuple[Dialect, list[tuple[str, Any]]]:
            rows: list[tuple[str, Any]] = []
            now = self._now(dialect)
            for chunk in _chunks(list(key_map), dialect.keys_per_chunk):
                cursor.execute(*dialect.get_many_query(chunk, now))
                rows.extend((key, value) for key, value, live in cursor.fetchall() if live)
            return dialect, rows

        result = {}
        dialect, rows = self._run(self._read_alias(), work)
        ops = dialect.ops
        for made_key, raw in rows:
            value, ok = self._load(ops, made_key, raw)
            if ok:
                result[key_map[made_key]] = value
        return result

    def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self._key(key, version)
        alias = self._read_alias()
        connection = thread_connection(alias)
        dialect = self._dialects.get((alias, connection.vendor)) or self._dialect(alias, connection)
        row = dialect.read_one(connection, dialect.sql_has_key, key)
        if row is not SLOW:
            return row is not None

        def work(dialect: Dialect, cursor: Any) -> bool:
            cursor.execute(dialect.sql_has_key, [key, self._now(dialect)])
            return cursor.fetchone() is not None

        return self._run(alias, work)

    def _load(self, ops: Any, key: str, raw: Any) -> tuple[Any, bool]:
        try:
            return self._decode(ops, raw), True
        except Exception as exc:  # noqa: BLE001 - bad base64, truncated pickle, a class gone since: a miss
            self._unreadable(key, raw, exc)
            return None, False

    def _unreadable(self, key: str, raw: Any, exc: Exception) -> None:
        if isinstance(exc, UnreadableValue):  # the codec's: rate-limited (floods after a key change)
            report_unreadable(f"DatabaseCache {self._table!r}", key, exc)
        else:
            logger.warning("Database cache table %r: unreadable value for key %r (%s: %s); "
                           "treating it as a miss and removing it", self._table, key,
                           type(exc).__name__, exc)
        self._drop_corrupt(key, raw)

    def _drop_corrupt(self, key: str, raw: Any) -> None:
        """Remove a corrupt row on the write database, only if it still holds that value.

        This is the one write a read can cause: rare, routed with db_for_write, and
        conditional, so a good value written meanwhile is never lost. A failure is
        logged, not raised: the caller asked for a read.
        """
        alias = self._write_alias()

        def work(dialect: Dialect, cursor: Any) -> None:
            cursor.execute(dialect.sql_drop_value, [key, raw])

        try:
            if connections[alias].in_atomic_block:
                with transaction.atomic(using=alias):  # a savepoint: a failure spares the caller's transaction
                    self._run(alias, work)
            else:
                self._run(alias, work)  # one autocommitted statement, under the timeouts
        except Error:
            logger.exception("Database cache table %r: could not remove corrupt key %r", self._table, key)

    # Writes.

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self._key(key, version)
        encoded = self._encode(value)

        def work(dialect: Dialect, cursor: Any) -> None:
            self._maybe_cull(dialect, cursor)
            dialect.set_rows(cursor, [(key, encoded, self._expires(dialect, timeout))])

        self._run(self._write_alias(), work)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: int | None = None) -> list[Any]:
        # A dict cannot repeat a key, but two keys may make the same cache key: last wins,
        # as with repeated set(); PostgreSQL refuses one upsert touching a row twice.
        encoded = {self._key(key, version): self._encode(value) for key, value in data.items()}
        if not encoded:
            return []

        def work(dialect: Dialect, cursor: Any) -> None:
            self._maybe_cull(dialect, cursor)
            expires = self._expires(dialect, timeout)
            rows = [(key, value, expires) for key, value in encoded.items()]
            for chunk in _chunks(rows, dialect.rows_per_chunk):
                dialect.set_rows(cursor, chunk)

        self._run(self._write_alias(), work)
        return []

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self._key(key, version)
        encoded = self._encode(value)

        def work(dialect: Dialect, cursor: Any) -> bool:
            self._maybe_cull(dialect, cursor)
            return dialect.add(cursor, (key, encoded, self._expires(dialect, timeout)), self._now(dialect))

        return self._run(self._write_alias(), work)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self._key(key, version)

        def work(dialect: Dialect, cursor: Any) -> bool:
            cursor.execute(dialect.sql_touch, [self._expires(dialect, timeout), key, self._now(dialect)])
            return cursor.rowcount > 0

        return self._run(self._write_alias(), work)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        """Compare-and-swap on the stored text: atomic without locks, expiry untouched.

        Python must unpickle the value, so the database cannot add by itself; the
        UPDATE only applies if the row still holds what we read (and is live). The
        value this process last wrote is tried first, which makes the common case
        (a counter this process keeps bumping) one statement; a wrong guess costs
        one statement more and is never wrong, because the swap compares.
        """
        made_key = self._key(key, version)
        alias = self._write_alias()
        memo_key = (alias, made_key)

        def swap(dialect: Dialect, cursor: Any, raw: Any, current: Any, now: Any) -> tuple[bool, Any]:
            new_value = current + delta
            encoded = self._encode(new_value)
            cursor.execute(dialect.sql_cas, [encoded, made_key, raw, now])
            if cursor.rowcount > 0:
                if len(self._last_written) >= MEMO_SIZE:
                    self._last_written.clear()
                self._last_written[memo_key] = (encoded, new_value)
                return True, new_value
            return False, None

        def work(dialect: Dialect, cursor: Any) -> Any:
            guess = self._last_written.pop(memo_key, None)
            if guess is not None:
                done, new_value = swap(dialect, cursor, guess[0], guess[1], self._now(dialect))
                if done:
                    return new_value
            for attempt in range(CAS_ATTEMPTS):
                now = self._now(dialect)
                cursor.execute(dialect.sql_get, [made_key, now])
                row = cursor.fetchone()
                if row is None:
                    raise ValueError(f"Key '{made_key}' not found")
                raw = dialect.ops.process_clob(row[0])
                try:
                    current = self._decode(dialect.ops, raw)
                except Exception as exc:  # noqa: BLE001 - handled as a miss, outside this unit of work
                    raise _Unreadable(raw, exc) from exc
                done, new_value = swap(dialect, cursor, raw, current, now)
                if done:
                    return new_value
                time.sleep(random.random() * 0.001 * min(attempt, 20))
            raise DatabaseError(
                f"Database cache table {self._table!r}: incr({made_key!r}) lost the race "
                f"{CAS_ATTEMPTS} times in a row")

        try:
            return self._run(alias, work)
        except _Unreadable as unreadable:
            self._unreadable(made_key, unreadable.raw, unreadable.error)
            raise ValueError(f"Key '{made_key}' not found") from None

    def incr_version(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Move the entry to its new version keeping its expiry (Django's resets the timeout)."""
        if version is None:
            version = self.version
        old_key, new_key = self._key(key, version), self._key(key, version + delta)
        alias = self._write_alias()
        if self._dialect(alias).sql_copy_key is None:
            return super().incr_version(key, delta, version)

        def work(dialect: Dialect, cursor: Any) -> bool:
            cursor.execute(dialect.sql_copy_key, [new_key, old_key, self._now(dialect)])
            if cursor.rowcount <= 0:
                return False
            if new_key != old_key:
                cursor.execute(dialect.sql_delete, [old_key])
            return True

        if not self._run(alias, work):
            raise ValueError(f"Key '{key}' not found")
        return version + delta

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self._key(key, version)

        def work(dialect: Dialect, cursor: Any) -> bool:
            cursor.execute(dialect.sql_delete, [key])
            return cursor.rowcount > 0

        return self._run(self._write_alias(), work)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        made = list(dict.fromkeys(self._key(key, version) for key in keys))
        if not made:
            return

        def work(dialect: Dialect, cursor: Any) -> None:
            for chunk in _chunks(made, dialect.keys_per_chunk):
                cursor.execute(dialect.sql_delete_many(len(chunk)), chunk)

        self._run(self._write_alias(), work)

    def clear(self) -> None:
        def work(dialect: Dialect, cursor: Any) -> None:
            cursor.execute(dialect.sql_clear)

        self._run(self._write_alias(), work, bulk=True)

    def server_stats(self) -> dict[str, Any]:
        """Rows and expired rows in the table, for ``cachestats``."""
        from django_altcache.metrics import server_stats

        return server_stats.database(self)

    # Async twins. PostgreSQL (psycopg 3): the hot operations natively on the loop's own
    # async connections (apg.py), routed by the same router; everything else, and every
    # call apg.native_ok() turns away (inside async_to_sync, DEBUG, other vendors), runs
    # the sync method in the caller's thread-sensitive thread, one hop per event-loop tick
    # for all the calls of that tick (_shared/hop.py). Either way one statement per
    # operation, as in sync code (Django's twins turn get_many into a get per key and
    # incr into get + set).

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        made = self._key(key, version)
        alias = self._read_alias()
        if asqlite.inline_ok(alias):
            dialect = self._vendor_dialect(alias, "sqlite")
            try:
                text = await asqlite.read(alias, dialect, made)
            except asqlite.Busy:
                return await hop(self.get, key, default, version)
            if text is None:
                return default
            try:
                return self._decode(dialect.ops, text)
            except Exception:  # noqa: BLE001 - unreadable: _aload logs it and answers a miss
                value, ok = await self._aload(dialect.ops, made, text)
                return value if ok else default
        elif apg.native_ok(alias):
            async def work(dialect: Any, cursor: Any) -> Any:
                await cursor.execute(dialect.sql_get, [made, dialect.now()])
                return await cursor.fetchone()

            dialect = self._vendor_dialect(alias, "postgresql")
            row = await apg.run(dialect, work, self._timeouts)
        else:
            return await hop(self.get, key, default, version)
        if row is None:
            return default
        value, ok = await self._aload(dialect.ops, made, row[0])
        return value if ok else default

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        made = self._key(key, version)
        alias = self._read_alias()
        if asqlite.inline_ok(alias):
            try:
                return await asqlite.read(alias, self._vendor_dialect(alias, "sqlite"), made) is not None
            except asqlite.Busy:
                pass
        elif apg.native_ok(alias):
            async def work(dialect: Any, cursor: Any) -> bool:
                await cursor.execute(dialect.sql_has_key, [made, dialect.now()])
                return await cursor.fetchone() is not None

            return await apg.run(self._vendor_dialect(alias, "postgresql"), work, self._timeouts)
        return await hop(self.has_key, key, version)  # type: ignore[no-any-return]

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        key_map = {self._key(key, version): key for key in keys}
        if not key_map:
            return {}
        alias = self._read_alias()
        rows: list[tuple[str, Any]] = []
        if asqlite.inline_ok(alias):
            dialect = self._vendor_dialect(alias, "sqlite")
            reader = await self._reader(alias)
            now = dialect.now()
            try:
                for chunk in _chunks(list(key_map), dialect.keys_per_chunk):
                    sql, params = dialect.get_many_query(chunk, now)
                    found = asqlite.execute(reader, raw_path.qmark(sql), params).fetchall()
                    rows.extend((key, value) for key, value, live in found if live)
            except asqlite.Busy:
                return await hop(self.get_many, list(key_map.values()), version)  # type: ignore[no-any-return]
        elif apg.native_ok(alias):
            async def work(dialect: Any, cursor: Any) -> list[tuple[str, Any]]:
                found: list[tuple[str, Any]] = []
                now = dialect.now()
                for chunk in _chunks(list(key_map), dialect.keys_per_chunk):
                    await cursor.execute(*dialect.get_many_query(chunk, now))
                    found.extend((key, value) for key, value, live in await cursor.fetchall() if live)
                return found

            dialect = self._vendor_dialect(alias, "postgresql")
            rows = await apg.run(dialect, work, self._timeouts)
        else:
            return await hop(self.get_many, list(key_map.values()), version)  # type: ignore[no-any-return]
        result = {}
        for made_key, raw_value in rows:
            value, ok = await self._aload(dialect.ops, made_key, raw_value)
            if ok:
                result[key_map[made_key]] = value
        return result

    def _vendor_dialect(self, alias: str, vendor: str) -> Any:
        """The dialect of ``alias`` on the event loop, without building a Django connection
        object per task (``connections[alias]`` does, in a loop): only the first time."""
        dialect = self._dialects.get((alias, vendor))
        return dialect if dialect is not None else self._dialect(alias)

    @staticmethod
    async def _reader(alias: str) -> Any:
        return (await asqlite.readers()).connection(alias)

    async def _aload(self, ops: Any, key: str, raw_value: Any) -> tuple[Any, bool]:
        try:
            return self._decode(ops, raw_value), True
        except Exception:  # noqa: BLE001 - any undecodable value: _load logs, removes, answers a miss
            return await hop(self._load, ops, key, raw_value)  # type: ignore[no-any-return]

    async def _awrite(self, alias: str, statement: Callable[[Any, Any], Awaitable[T]],
                      fallback: Callable[[], T]) -> T:
        """A write natively, after the cull check the sync path makes; a cull itself (rare,
        several statements) runs the sync write through the hop."""
        dialect = self._vendor_dialect(alias, "postgresql")
        chance = self._cull_chance()
        limit = self._max_entries

        async def work(dialect: Any, cursor: Any) -> tuple[bool, Any]:
            if chance > 0 and (chance >= 1 or random.random() < chance):
                await cursor.execute(dialect.sql_count, [max(0, limit + 1)])
                if int((await cursor.fetchone())[0]) > limit:
                    return False, None
            return True, await statement(dialect, cursor)

        done, result = await apg.run(dialect, work, self._timeouts)
        if done:
            return result  # type: ignore[no-any-return]
        return await hop(fallback)  # type: ignore[no-any-return]

    async def aset(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        made = self._key(key, version)
        alias = self._write_alias()
        if not apg.native_ok(alias):
            return await hop(self.set, key, value, timeout, version)  # type: ignore[no-any-return]
        encoded = self._encode(value)

        async def statement(dialect: Any, cursor: Any) -> None:
            await cursor.execute(dialect.sql_set, [made, encoded, self._expires(dialect, timeout)])

        await self._awrite(alias, statement, lambda: self.set(key, value, timeout, version))

    async def aadd(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        made = self._key(key, version)
        alias = self._write_alias()
        if not apg.native_ok(alias):
            return await hop(self.add, key, value, timeout, version)  # type: ignore[no-any-return]
        encoded = self._encode(value)

        async def statement(dialect: Any, cursor: Any) -> bool:
            await cursor.execute(dialect.sql_add, [made, encoded, self._expires(dialect, timeout), dialect.now()])
            return cursor.rowcount > 0

        return await self._awrite(alias, statement, lambda: self.add(key, value, timeout, version))

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        made = self._key(key, version)
        alias = self._write_alias()
        if not apg.native_ok(alias):
            return await hop(self.touch, key, timeout, version)  # type: ignore[no-any-return]

        async def work(dialect: Any, cursor: Any) -> bool:
            await cursor.execute(dialect.sql_touch, [self._expires(dialect, timeout), made, dialect.now()])
            return cursor.rowcount > 0

        return await apg.run(self._vendor_dialect(alias, "postgresql"), work, self._timeouts)

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        made = self._key(key, version)
        alias = self._write_alias()
        if not apg.native_ok(alias):
            return await hop(self.delete, key, version)  # type: ignore[no-any-return]

        async def work(dialect: Any, cursor: Any) -> bool:
            await cursor.execute(dialect.sql_delete, [made])
            return cursor.rowcount > 0

        return await apg.run(self._vendor_dialect(alias, "postgresql"), work, self._timeouts)

    locals().update(twins(batched, "set_many", "delete_many", "clear", "incr", "decr", "incr_version",
                          "decr_version"))

    # Health.

    def servers_description(self) -> list[str]:
        """The read and write databases, as ``alias (role): vendor host:port/name`` (no secrets)."""
        read, write = self._read_alias(), self._write_alias()
        if read == write:
            return [f"{write} (reads and writes): {describe_database(write)}"]
        return [f"{write} (writes): {describe_database(write)}", f"{read} (reads): {describe_database(read)}"]

    def ping(self) -> PingResult:
        """set/get/delete of a probe key on the *write* database in one unit of work.

        Bypasses fail-soft (raises the database's own exception) but keeps the
        connect and query timeouts. ``servers`` names the alias it reached.
        """
        alias = self._write_alias()
        key = self._key(f"altcache-ping:{uuid.uuid4().hex}", None)
        value = uuid.uuid4().hex
        encoded = self._encode(value)

        def work(dialect: Dialect, cursor: Any) -> Any:
            dialect.set_rows(cursor, [(key, encoded, self._expires(dialect, 30))])
            cursor.execute(dialect.sql_get, [key, self._now(dialect)])
            row = cursor.fetchone()
            cursor.execute(dialect.sql_delete, [key])
            return None if row is None else dialect.ops.process_clob(row[0])

        started = time.perf_counter()
        raw = self._run(alias, work)
        latency = time.perf_counter() - started
        if raw != encoded:
            raise RuntimeError(f"probe key written to database {alias!r} but read back as {raw!r}")
        return PingResult(latency, [f"{alias} (write): {describe_database(alias)}"])

    # Culling and purging.

    def _cull_chance(self) -> float:
        if self._cull_probability is not None:
            return self._cull_probability
        # Read at call time: Django's tests (and users) change _max_entries on a live cache.
        return min(1.0, CULL_CHECK_BUDGET / max(1, self._max_entries))

    def _maybe_cull(self, dialect: Dialect, cursor: Any) -> None:
        chance = self._cull_chance()
        if chance <= 0 or (chance < 1 and random.random() >= chance):
            return
        count = dialect.count_rows(cursor, max(0, self._max_entries + 1))
        if count <= self._max_entries:
            return
        if self._cull_frequency == 0:
            cursor.execute(dialect.sql_clear)
            return
        # Bounded like the count: a write never pays for a whole table's backlog at once
        # (a table far above MAX_ENTRIES shrinks over several culls; cachepurge clears backlogs).
        deleted = dialect.purge_batch(cursor, self._now(dialect), max(1, self._max_entries + 1))
        remaining = count - max(0, deleted)
        if remaining > self._max_entries:
            surplus = remaining // self._cull_frequency
            if surplus > 0:
                dialect.evict(cursor, surplus)

    def purge_expired(self, using: str | None = None, batch: int = 10_000) -> int:
        """Delete expired rows in batches; returns how many. For cron (``cachepurge``)."""
        alias = using or self._write_alias()
        total = 0
        while True:
            deleted = self._run(alias, lambda d, c: d.purge_batch(c, self._now(d), batch), bulk=True)
            total += max(0, deleted)
            if deleted < batch:
                return total


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def describe_database(alias: str) -> str:
    """``vendor host:port/name`` of a DATABASES entry, as configured; never its password."""
    connection = connections[alias]
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite {settings_dict.get('NAME')}"
    host = settings_dict.get("HOST") or "(default host)"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"{connection.vendor} {host}{port}/{settings_dict.get('NAME') or ''}"
