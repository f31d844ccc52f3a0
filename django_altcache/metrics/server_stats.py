"""The server's own numbers, for ``cachestats``: one function per kind of backend.

Each backend's ``server_stats()`` calls one of these. They read what the server
already keeps (Redis ``INFO``, memcached ``stats``) or count what is cheap to count
(table rows, files); they bypass fail-soft, so an unreachable server raises the
library's own error, which ``cachestats`` shows next to the alias.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

REDIS_FIELDS = (
    "redis_version", "uptime_in_seconds", "connected_clients", "keyspace_hits", "keyspace_misses",
    "evicted_keys", "expired_keys", "used_memory", "used_memory_human", "maxmemory", "maxmemory_policy",
)
MEMCACHED_FIELDS = (
    "version", "uptime", "curr_connections", "get_hits", "get_misses", "evictions", "expired_unfetched",
    "curr_items", "bytes", "limit_maxbytes",
)
_NOT_SUMMED = {"redis_version", "used_memory_human", "maxmemory_policy", "version", "uptime",
               "uptime_in_seconds"}


def _hit_rate(hits: Any, misses: Any) -> float | None:
    if isinstance(hits, (int, float)) and isinstance(misses, (int, float)) and hits + misses:
        return hits / (hits + misses)
    return None


def _combine(per_server: Iterable[Mapping[str, Any]], fields: tuple[str, ...]) -> dict[str, Any]:
    """Numbers summed over the servers (a cluster, a memcached pool); texts from the first."""
    total: dict[str, Any] = {}
    count = 0
    for stats in per_server:
        count += 1
        for name in fields:
            if name not in stats:
                continue
            value = stats[name]
            if name in total and name not in _NOT_SUMMED and isinstance(value, (int, float)):
                total[name] += value
            else:
                total.setdefault(name, value)
    total["servers"] = count
    return total


def redis(client: Any) -> dict[str, Any]:
    """``INFO`` of the leader (every node of a cluster), plus the keys of each database."""
    info = client.info()
    nodes = list(info.values()) if info and all(isinstance(v, dict) and "redis_version" in v
                                                for v in info.values()) else [info]
    stats = _combine(nodes, REDIS_FIELDS)
    for node in nodes:
        for name, value in node.items():
            if name.startswith("db") and name[2:].isdigit() and isinstance(value, dict):
                stats[f"{name}_keys"] = stats.get(f"{name}_keys", 0) + int(value.get("keys", 0))
                stats[f"{name}_expires"] = stats.get(f"{name}_expires", 0) + int(value.get("expires", 0))
    stats["hit_rate"] = _hit_rate(stats.get("keyspace_hits"), stats.get("keyspace_misses"))
    return stats


def _number(raw: Any) -> Any:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def memcached(client: Any) -> dict[str, Any]:
    """``stats`` of every server: pymemcache (a Client or a HashClient) or pylibmc."""
    per_server: list[dict[str, Any]] = []
    if hasattr(client, "get_stats"):  # pylibmc: [(server, {name: value})]
        for _server, raw in client.get_stats():
            per_server.append({_number(k): _number(v) for k, v in raw.items()})
    else:
        clients = list(client.clients.values()) if hasattr(client, "clients") else [client]
        for one in clients:
            per_server.append({(k.decode() if isinstance(k, bytes) else k): _number(v)
                               for k, v in one.stats().items()})
    stats = _combine(per_server, MEMCACHED_FIELDS)
    stats["hit_rate"] = _hit_rate(stats.get("get_hits"), stats.get("get_misses"))
    return stats


def files(directory: str, suffix: str) -> dict[str, Any]:
    """Entries and bytes on disk (one ``scandir``: no file is opened)."""
    entries = size = 0
    try:
        with os.scandir(directory) as found:
            for entry in found:
                if entry.name.endswith(suffix):
                    try:
                        size += entry.stat().st_size
                    except FileNotFoundError:  # removed since the listing
                        continue
                    entries += 1
    except FileNotFoundError:
        pass
    return {"directory": directory, "entries": entries, "bytes": size}


def database(cache: Any) -> dict[str, Any]:
    """Rows and expired rows of a DatabaseCache's table, on its read database.

    One full-table ``COUNT``: cheap on a cache table of ordinary size, and never run
    by a request (only by ``cachestats``)."""
    from django.utils import timezone

    alias = cache._read_alias()

    def work(dialect: Any, cursor: Any) -> tuple[int, int]:
        ops = dialect.connection.ops
        table, expires = ops.quote_name(cache._table), ops.quote_name("expires")
        now = ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN {expires} <= %s THEN 1 ELSE 0 END), 0) "
                       f"FROM {table}", [now])
        rows, expired = cursor.fetchone()
        return int(rows), int(expired)

    rows, expired = cache._run(alias, work, bulk=True)
    return {"database": alias, "table": cache._table, "rows": rows, "expired_rows": expired,
            "max_entries": cache._max_entries}


def locmem(cache: Any) -> dict[str, Any]:
    """Entries in this process's store (LocMemCache is per process)."""
    with cache._lock:
        entries = len(cache._cache)
    return {"entries": entries, "max_entries": cache._max_entries}
