"""A value and its remaining TTL in one round trip, on a connection whose server is known.

A fill needs both (the local copy must not outlive the key) and must know which server answered
(it is kept only if that is the server its channel listens to), so it takes a connection from the
pool itself, as ``Redis.execute_command`` does (same retry policy), and reads every reply even when
one is an error, so the connection stays in step. On Cluster, ``GET_PTTL`` does it in one
command routed by key.
"""

from __future__ import annotations

from typing import Any

from django_altcache.backends.redis.protocol import Script

from .tracking import address_of

ABSENT = -2  # PTTL of a key that does not exist
NO_EXPIRY = -1
GET_PTTL = Script("return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}")


def fetch(pool: Any, args: tuple[tuple[Any, ...], ...]) -> tuple[list[Any], Any]:
    """Send ``args`` (commands) in one write, read every reply; (replies, server reached)."""
    import redis

    conn = pool.get_connection()
    try:
        def attempt() -> list[Any]:
            conn.send_packed_command(conn.pack_commands(args))
            return _read_all(conn, len(args), redis.ResponseError)

        replies = conn.retry.call_with_retry(attempt, lambda error: conn.disconnect())
        return replies, address_of(conn)
    finally:
        pool.release(conn)


def _read_all(conn: Any, count: int, response_error: type[BaseException]) -> list[Any]:
    replies: list[Any] = []
    error: BaseException | None = None
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except response_error as exc:  # keep reading: the connection must stay in step
            error = error or exc
            replies.append(None)
    if error is not None:
        raise error
    return replies


async def afetch(pool: Any, args: tuple[tuple[Any, ...], ...]) -> tuple[list[Any], Any]:
    import redis

    conn = await pool.get_connection()
    try:
        async def attempt() -> list[Any]:
            await conn.send_packed_command(conn.pack_commands(args))
            replies: list[Any] = []
            error: BaseException | None = None
            for _ in range(len(args)):
                try:
                    replies.append(await conn.read_response())
                except redis.ResponseError as exc:
                    error = error or exc
                    replies.append(None)
            if error is not None:
                raise error
            return replies

        async def fail(error: BaseException) -> None:
            await conn.disconnect()

        replies = await conn.retry.call_with_retry(attempt, fail)
        return replies, address_of(conn)
    finally:
        await pool.release(conn)


def deadline(started: float, pttl: Any, cap: float) -> float:
    if pttl is None or pttl == NO_EXPIRY or pttl == ABSENT:
        return started + cap
    return started + min(pttl / 1000.0, cap)
