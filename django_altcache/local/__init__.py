"""Local tiers: values read kept in process memory (``OPTIONS["LOCAL_CACHE"]``, docs/local-cache.md).

- ``store``: the bounded in-process store, copy-out, and the fill tokens that keep a slow read
  from storing a value a write has already replaced.
- ``tracking``: one server's invalidation channel (RESP3 ``CLIENT TRACKING ON BCAST``, a
  heartbeat lease), Redis 6+ and Valkey.
- ``redis_tier``: one Redis configuration's store and channels in the process.
- ``fetch``: a value and its remaining TTL in one round trip, on a connection whose server is known.
- ``redis``: ``RedisCache``'s coherent tier, a wrapper around its client (hits, fills, writes).
- ``timed``: the time-bounded tier of the other backends, a variant of the backend class.

The options are declared in ``django_altcache/conf/local.py``.
"""
