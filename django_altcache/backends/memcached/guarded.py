"""A thread's pylibmc client for a pool, with one circuit breaker per server.

libmemcached's own per-server retry window counts in whole seconds (a failed server is
skipped 1-2 s) and, in libmemcached 1.1, never opens for a server that accepts
connections but does not answer (a frozen process): every call for its keys would wait
the I/O timeout. Here each server has a ``CircuitBreaker``, shared by every thread's
client: while open, single-key calls for its keys raise ``ServerDown`` at once and
multi-key calls leave its keys out; after the cooldown one single-key call probes it on
a fresh clone (no libmemcached window in the way).

``pylibmc.Client.hash(key)`` is libmemcached's ``memcached_generate_hash``: the index of
the server the key goes to (modula and ketama alike), so the breaker is the key's server's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django_altcache.backends._shared.breaker import CircuitBreaker, call_through
from django_altcache.conf.resilience import BreakerSettings


class ServerBreakers:
    """One breaker per server of a pool, in LOCATION order (libmemcached's server index)."""

    def __init__(self, servers: list[str], settings: BreakerSettings) -> None:
        self.servers = servers
        self.breakers = [CircuitBreaker(f"memcached server {server}", settings) for server in servers]

    def states(self) -> dict[str, str]:
        return {server: ("open" if breaker.is_open else "closed")
                for server, breaker in zip(self.servers, self.breakers)}


class GuardedClient:
    """Forwards everything to a clone of ``template``; guards the cache operations."""

    def __init__(self, template: Any, breakers: ServerBreakers, *, is_outage: Callable[[BaseException], bool],
                 skipped: Callable[[str], BaseException]) -> None:
        self._template = template
        self._breakers = breakers
        self._is_outage = is_outage
        self._skipped = skipped
        self._client = template.clone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _breaker(self, key: str) -> CircuitBreaker:
        return self._breakers.breakers[self._client.hash(key)]

    def _single(self, method: str, key: str, *args: Any) -> Any:
        return call_through(self._breaker(key), lambda: getattr(self._client, method)(key, *args),
                            self._is_outage, self._skip, on_probe=self._fresh_clone)

    def _fresh_clone(self) -> None:
        # The probe goes through a fresh clone, not one inside libmemcached's retry window.
        self._client = self._template.clone()

    def _skip(self, message: str) -> BaseException:
        error = self._skipped(message)
        error.breaker_skip = True  # type: ignore[attr-defined]  # ours, not libmemcached's window
        return error

    def _partition(self, keys: Iterable[str], probe: Callable[[str], Any]) -> tuple[list[str], list[str], dict[str, Any]]:
        """Keys whose server may be called, keys left out (their server's breaker is open),
        and the results of probes: when an open breaker's cooldown is over, one of its keys
        goes alone through ``probe`` (a single-key call, whose outcome pylibmc reports,
        unlike a multi-get's), and the server's other keys follow its verdict."""
        live: list[str] = []
        skipped: list[str] = []
        probed: dict[str, Any] = {}
        usable: dict[int, bool] = {}
        for key in keys:
            index = self._client.hash(key)
            if index not in usable:
                if not self._breakers.breakers[index].is_open:
                    usable[index] = True
                else:
                    try:
                        probed[key] = probe(key)
                    except Exception as exc:
                        if not self._is_outage(exc):
                            raise
                        usable[index] = False
                    else:
                        usable[index] = True
                        continue
            (live if usable[index] else skipped).append(key)
        return live, skipped, probed

    def get(self, key: str, default: Any = None) -> Any:
        return self._single("get", key, default)

    def set(self, key: str, value: Any, time: int = 0) -> Any:
        return self._single("set", key, value, time)

    def add(self, key: str, value: Any, time: int = 0) -> Any:
        return self._single("add", key, value, time)

    def delete(self, key: str) -> Any:
        return self._single("delete", key)

    def touch(self, key: str, time: int) -> Any:
        return self._single("touch", key, time)

    def incr(self, key: str, delta: int = 1) -> Any:
        return self._single("incr", key, delta)

    def decr(self, key: str, delta: int = 1) -> Any:
        return self._single("decr", key, delta)

    def get_multi(self, keys: Iterable[str]) -> dict[str, Any]:
        missing = object()
        live, _, probed = self._partition(keys, lambda key: self._single("get", key, missing))
        found: dict[str, Any] = self._client.get_multi(live) if live else {}
        found.update((key, value) for key, value in probed.items() if value is not missing)
        return found

    def set_multi(self, mapping: dict[str, Any], time: int = 0) -> list[str]:
        live, skipped, probed = self._partition(mapping, lambda key: self._single("set", key, mapping[key], time))
        failed = list(self._client.set_multi({key: mapping[key] for key in live}, time)) if live else []
        return failed + skipped + [key for key, stored in probed.items() if not stored]

    def delete_multi(self, keys: Iterable[str]) -> bool:
        live, skipped, probed = self._partition(keys, lambda key: self._single("delete", key))
        deleted = bool(self._client.delete_multi(live)) if live else True
        return deleted and not skipped and all(probed.values())
