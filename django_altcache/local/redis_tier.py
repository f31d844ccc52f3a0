"""The local tier of one Redis configuration in a process: its store and its channels.

``RedisTier`` holds the ``LocalStore`` shared by every instance, thread and event loop of a
configuration, and one ``tracking.Channel`` per server reads go to (an index in LOCATION, or a
cluster primary's address), each on its own RESP3 connection made from the pool that server's
reads use (same address, credentials, TLS, Sentinel discovery). ``tier_for`` finds it again in
the process-wide registry; a forked child forgets the parent's and builds its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import BaseCache, default_key_func

from django_altcache.backends._shared.registry import ProcessRegistry
from django_altcache.backends.redis.build import pool_key
from django_altcache.conf.local import RedisLocalSettings

from .store import LocalStore
from .tracking import Channel

_monotonic = time.monotonic
CLIENT_NAME = "django-altcache:local-cache"


def server_prefixes(cache: Any, app_prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The made-key prefixes the tier keeps (and asks the server to report writes under).

    Django's key function without ``prefixes``: ``"<KEY_PREFIX>:"``, every version. Otherwise the
    made keys of the prefixes at the cache's version; a key function that does not preserve
    prefixes (a hash) simply makes nothing local: a key is kept only if it starts with one.
    """
    if not app_prefixes and cache.key_func is default_key_func and type(cache).make_key is BaseCache.make_key:
        return (f"{cache.key_prefix}:",)
    return tuple(cache.make_key(prefix) for prefix in (app_prefixes or ("",)))


def _connection_kwargs(pool: Any) -> dict[str, Any]:
    kwargs = {**pool.connection_kwargs, "protocol": 3, "client_name": CLIENT_NAME, "health_check_interval": 0}
    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:  # redis-py < 7
        pass
    else:
        kwargs["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return kwargs


class RedisTier:
    """The store and the invalidation channels of one configuration in this process."""

    def __init__(self, client: Any, settings: RedisLocalSettings, prefixes: tuple[str, ...]) -> None:
        self.settings = settings
        self.prefixes = prefixes
        self.cap = settings.ttl if settings.ttl is not None else math.inf
        self.store = LocalStore(settings.max_entries, settings.max_bytes)
        self.defunct = False  # set in a forked child: instances made before the fork look again
        self._client = client  # reaches the process-wide pools the channels connect through
        self._channels: dict[Any, Channel] = {}
        self._lock = threading.Lock()

    def channel(self, where: Any) -> Channel:
        """The channel of server ``where`` (an index in LOCATION, or (host, port) of a cluster node)."""
        channel = self._channels.get(where)
        if channel is None:
            with self._lock:
                channel = self._channels.get(where)
                if channel is None:
                    channel = Channel(self._name(where), self._connector(where), self.prefixes, self.store,
                                      self.settings.lease)
                    self._channels[where] = channel
            channel.start()
        return channel

    def start(self) -> None:
        """Open the channel of every server reads may go to, so the first reads can be kept."""
        client = self._client
        if client._cluster:
            for node in client._leader.get_primaries():
                self.channel((node.host, node.port))
        else:
            for index in range(len(client._servers) if client._replicated else 1):
                self.channel(index)

    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def _name(self, where: Any) -> str:
        if isinstance(where, tuple):
            return f"{where[0]}:{where[1]}"
        return self._client._topology.service_name or _public(self._client._servers[where])

    def _connector(self, where: Any) -> Callable[[], Any]:
        client = self._client

        def connect() -> Any:
            if isinstance(where, tuple):
                node = client._leader.get_node(host=where[0], port=where[1])
                if node is None or node.redis_connection is None:
                    raise ConnectionError(f"no cluster node {where[0]}:{where[1]}")
                pool = node.redis_connection.connection_pool
            else:
                pool = client._pool_at(where)
            return pool.connection_class(**_connection_kwargs(pool))

        return connect

    def wait_live(self, timeout: float = 10.0) -> bool:
        """Every channel opened so far serves hits (bounded wait): for tests and warm-up."""
        deadline = _monotonic() + timeout
        return all(channel.wait_live(max(0.0, deadline - _monotonic())) for channel in self.channels())

    def synced(self, timeout: float = 10.0) -> bool:
        """Every write the servers made before this call has been applied (see Channel.synced)."""
        deadline = _monotonic() + timeout
        return all(channel.synced(max(0.0, deadline - _monotonic())) for channel in self.channels())

    def close(self) -> None:
        self.defunct = True
        for channel in self.channels():
            channel.close()
        self.store.flush()

    def forget(self) -> None:
        """In a forked child: nothing here may touch the parent's threads or sockets."""
        self.defunct = True
        for channel in self.channels():
            channel.forget()
        self.store.flush()


def _public(url: str) -> str:
    from django_altcache.backends.redis.pools import public_url

    return public_url(url)


TIERS: ProcessRegistry[RedisTier] = ProcessRegistry(on_fork=lambda tier: tier.forget())


def tier_for(client: Any, settings: RedisLocalSettings, prefixes: tuple[str, ...]) -> RedisTier:
    topology = client._topology
    count = len(topology.servers) if topology.kind == "servers" else 1
    key = ("redis-local", tuple(pool_key(topology, index, False) for index in range(count)), settings, prefixes,
           type(client._serializer))
    return TIERS.get(key, lambda: RedisTier(client, settings, prefixes), stale=lambda tier: tier.defunct)
