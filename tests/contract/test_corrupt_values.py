"""A stored value that cannot be read is a miss, on every backend (the README's promise).

One matrix: each store (Redis, pymemcache, pylibmc, the database cache on SQLite, PostgreSQL
and MariaDB, the file cache, locmem) with each kind of unreadable value planted directly in
the server, table, file or memory, next to a good one: truncated, garbage, empty, a pickle of
a class that no longer exists (its module gone, or the class gone from its module: a deploy
renamed it), and a value of the wrong type where the store has types (a Redis list; a
memcached integer flag on non-digits; a file whose expiry header is not a time).

Every read answers a miss without raising (``get``, ``aget``, ``get_many`` keeps the good key,
``has_key``, ``get_or_set``), the value is logged, and ``incr`` raises "not found" or the
store's own "not an integer" error, never a decoding error. Where the backend removes what it
cannot read (all but pylibmc, which decodes inside its own callback), ``add`` then wins over it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import pickle
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test.utils import override_settings

from .fixtures import started
from .targets import TABLE

GOOD = {"a": [1, 2]}
PICKLED = pickle.dumps(GOOD, pickle.HIGHEST_PROTOCOL)
# A pickle naming a class that cannot be found: GLOBAL module\nname, then NEWOBJ.
GONE_MODULE = b"\x80\x02caltcache_renamed_module\nGone\n)\x81."
GONE_CLASS = b"\x80\x02cos\nNoSuchClassAnyMore\n)\x81."
CASES = {
    "truncated": PICKLED[:-4],
    "garbage": b"\x00\xffnot a pickle at all",
    "empty": b"",
    "gone-module": GONE_MODULE,
    "gone-class": GONE_CLASS,
    "wrong-type": None,  # per store
}
FAR = datetime(2100, 1, 1, tzinfo=timezone.utc)  # the planted rows' expiry
_keys = itertools.count()


@dataclass
class Store:
    name: str
    cache: Any
    plant: Callable[[str, str, str], None]  # (key, made key, case)
    removes: bool = True  # the unreadable value is deleted, so add() wins afterwards
    incr_errors: tuple[type[BaseException], ...] = ()  # besides "not found"
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def redis_store(targets: Any) -> Store:
    import redis

    server = started("redis", targets).server
    raw = redis.Redis.from_url(server.url)

    def plant(_: str, key: str, case: str) -> None:
        raw.delete(key)
        if case == "wrong-type":
            raw.rpush(key, b"a", b"b")
        else:
            raw.set(key, CASES[case])

    from django_altcache.backends.redis import RedisCache

    cache = RedisCache(server.url, {"KEY_PREFIX": f"corrupt{next(_keys)}"})
    return Store("redis", cache, plant, incr_errors=(redis.ResponseError,), cleanup=[raw.close])


def memcached_store(library: str, targets: Any) -> Store:
    from pymemcache.client.base import Client

    server = started(library, targets).server
    # Each write acknowledged: pymemcache's default noreply would let a planted value land
    # after the backend's next call (memcached serves each connection on its own thread).
    raw = Client((server.host, server.port), default_noreply=False)

    def plant(_: str, key: str, case: str) -> None:
        if case == "wrong-type":
            raw.set(key, b"not digits", flags=2)  # both libraries' integer flag
        else:
            raw.set(key, CASES[case], flags=1)  # both libraries' pickle flag

    from django.utils.module_loading import import_string

    backend = {"pymemcache": "PyMemcacheCache", "pylibmc": "PyLibMCCache"}[library]
    cache = import_string(f"django_altcache.backends.memcached.{backend}")(
        server.location, {"KEY_PREFIX": f"corrupt{next(_keys)}"})
    if library == "pylibmc":
        import pylibmc

        errors: tuple[type[BaseException], ...] = (pylibmc.Error,)
    else:
        import pymemcache.exceptions

        errors = (pymemcache.exceptions.MemcacheError,)
    # pylibmc decodes inside its own callback, where the value cannot be deleted.
    return Store(library, cache, plant, removes=library == "pymemcache", incr_errors=errors, cleanup=[raw.close])


def database_store(alias: str) -> Store:
    from django_altcache.backends.db import DatabaseCache

    from tests.db.conftest import OneDatabaseRouter

    router = override_settings(DATABASE_ROUTERS=[OneDatabaseRouter(alias)])
    router.enable()
    connection = connections[alias]
    qn = connection.ops.quote_name

    def plant(_: str, key: str, case: str) -> None:
        text = base64.b64encode(CASES[case] or b"").decode() if case != "garbage" else "not base64 !!!"
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {qn(TABLE)} WHERE {qn('cache_key')} = %s", [key])
            cursor.execute(f"INSERT INTO {qn(TABLE)} ({qn('cache_key')}, {qn('value')}, {qn('expires')}) "
                           "VALUES (%s, %s, %s)", [key, text, connection.ops.adapt_datetimefield_value(FAR)])

    cache = DatabaseCache(TABLE, {"KEY_PREFIX": f"corrupt{next(_keys)}"})
    return Store(alias, cache, plant, cleanup=[router.disable, connection.close])


def file_store(directory: Path) -> Store:
    from django_altcache.backends.filebased import FileBasedCache

    cache = FileBasedCache(str(directory), {"KEY_PREFIX": f"corrupt{next(_keys)}"})

    def plant(key: str, _: str, case: str) -> None:
        path = cache._key_to_file(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        header = pickle.dumps(None if case != "wrong-type" else "not a time", pickle.HIGHEST_PROTOCOL)
        body = PICKLED if case == "wrong-type" else CASES[case] or b""
        with open(path, "wb") as out:  # Django's format: pickled expiry, then zlib(pickle(value))
            out.write(header + zlib.compress(body))

    return Store("filebased", cache, plant)


def locmem_store() -> Store:
    from django_altcache.backends.locmem import LocMemCache

    cache = LocMemCache(f"corrupt{next(_keys)}", {})

    def plant(_: str, key: str, case: str) -> None:
        with cache._lock:
            cache._cache[key] = CASES[case] or b""
            cache._expire_info[key] = None

    return Store("locmem", cache, plant)


STORES = ["redis", "pymemcache", "pylibmc", "sqlite", "postgresql", "mysql", "filebased", "locmem"]
UNTYPED = {"sqlite", "postgresql", "mysql", "locmem"}  # where a value of the wrong type is just garbage


def matrix() -> list[Any]:
    return [pytest.param(name, case, id=f"{name}-{case}",
                         marks=[pytest.mark.django_db(transaction=True)] if name == "sqlite" else [])
            for name in STORES for case in CASES if not (case == "wrong-type" and name in UNTYPED)]


@pytest.fixture
def store(request: pytest.FixtureRequest, targets_session: Any, django_db_blocker: Any,
          tmp_path: Path) -> Iterator[Store]:
    name = request.param
    with django_db_blocker.unblock():
        if name == "redis":
            found = redis_store(targets_session)
        elif name in ("pymemcache", "pylibmc"):
            found = memcached_store(name, targets_session)
        elif name in ("postgresql", "mysql"):
            found = database_store(started(name, targets_session).alias)
        elif name == "sqlite":
            from tests.db.conftest import create_table, drop_table

            create_table("default", TABLE)
            found = database_store("default")
            found.cleanup.append(lambda: drop_table("default", TABLE))
        elif name == "filebased":
            found = file_store(tmp_path / "files")
        else:
            found = locmem_store()
        try:
            yield found
        finally:
            for step in reversed(found.cleanup):
                step()


@pytest.mark.parametrize("store, case", matrix(), indirect=["store"])
def test_an_unreadable_value_is_a_logged_miss(store: Store, case: str, django_db_blocker: Any, caplog: Any) -> None:
    cache = store.cache
    caplog.set_level(logging.WARNING, logger="django_altcache")
    with django_db_blocker.unblock():
        cache.set("good", GOOD)
        made = cache.make_key("bad")
        answers: dict[str, Any] = {}

        def check(name: str, call: Callable[[], Any]) -> None:
            store.plant("bad", made, case)
            answers[name] = call()

        check("get", lambda: cache.get("bad", "dflt"))
        check("get_many", lambda: cache.get_many(["bad", "good"]))
        check("has_key", lambda: cache.has_key("bad"))
        check("get_or_set", lambda: cache.get_or_set("bad", "computed"))
        store.plant("bad", made, case)
        with pytest.raises(Exception) as raised:
            cache.incr("bad")
        if store.removes:
            store.plant("bad", made, case)
            cache.get("bad")
            answers["add after"] = cache.add("bad", 1)
        store.plant("bad", made, case)
        answers["aget"] = asyncio.run(cache.aget("bad", "dflt"))

    assert answers["get"] == "dflt"
    assert answers["get_many"] == {"good": GOOD}
    assert answers["has_key"] in (True, False)  # some stores answer from the key alone
    assert answers["get_or_set"] == "computed"
    assert answers["aget"] == "dflt"
    error = raised.value
    assert (isinstance(error, ValueError) and "not found" in str(error)) or isinstance(error, store.incr_errors), \
        repr(error)
    if store.removes and not (store.name == "redis" and case == "wrong-type"):  # a list is left alone
        assert answers["add after"] is True
    assert [r for r in caplog.records if r.name == "django_altcache"], "nothing was logged"


@pytest.mark.parametrize("store", [pytest.param(name, marks=[pytest.mark.django_db(transaction=True)]
                                                if name == "sqlite" else []) for name in STORES], indirect=True)
def test_empty_values_are_values_not_misses(store: Store, django_db_blocker: Any) -> None:
    """The reading of unreadable values as misses leaves empty ones alone (pylibmc hands a
    Python deserialize hook None for them)."""
    with django_db_blocker.unblock():
        for value in ("", b"", 0, None, [], {}):
            store.cache.set("empty", value)
            assert store.cache.get("empty", "miss") == value, repr(value)
            assert store.cache.get_many(["empty"]) == {"empty": value}
