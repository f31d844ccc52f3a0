"""Multi-key operations cost one request per server (pymemcache).

pymemcache takes the socket module as an option, so a counting wrapper around the
real socket module sees every request sent to the real servers. pylibmc's
libmemcached sockets are out of Python's reach; its set_multi/delete_multi send one
command per key (see docs/compat.md).
"""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import pytest

from django_altcache.backends.memcached import PyMemcacheCache


class CountingSocketModule:
    def __init__(self) -> None:
        self.sends: Counter[Any] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(socket, name)

    def socket(self, *args: Any, **kwargs: Any) -> Any:
        return CountingSocket(self, socket.socket(*args, **kwargs))


class CountingSocket:
    def __init__(self, module: CountingSocketModule, sock: socket.socket) -> None:
        self._module = module
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self._module.sends[self._sock.getpeername()] += 1
        self._sock.sendall(data)


@pytest.fixture
def counted(three_memcached):
    module = CountingSocketModule()
    cache = PyMemcacheCache([s.location for s in three_memcached], {"OPTIONS": {"socket_module": module}})
    return cache, module


def test_get_set_delete_many_one_request_per_server(counted):
    cache, module = counted
    data = {f"k{i}": i for i in range(100)}
    for operation, call in [
        ("set_many", lambda: cache.set_many(data)),
        ("get_many", lambda: cache.get_many(list(data))),
        ("delete_many", lambda: cache.delete_many(list(data))),
    ]:
        module.sends.clear()
        call()
        assert len(module.sends) == 3, operation  # the keys reach all three servers
        assert set(module.sends.values()) == {1}, (operation, module.sends)
    assert cache.get_many(list(data)) == {}
