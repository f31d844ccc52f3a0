"""LOCATION for memcached: Django's forms, checked up front so a typo fails at startup.

Accepted per server: ``host:port``, bare ``host`` (port 11211), ``[v6]`` / ``[v6]:port``,
``unix:/path`` and ``/path``. Several servers: a list, or one string split on ``;``/``,``
(Django's rule). The strings are kept as written: Django exposes them as ``_servers``.
"""

from __future__ import annotations

from typing import Any

from django_altcache.options import CacheConfigError, split_location


def _bad(location: Any, server: str, why: str) -> CacheConfigError:
    return CacheConfigError(f"CACHES[...]['LOCATION']={location!r}: server {server!r} {why}")


def _check_port(location: Any, server: str, port: str) -> None:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad(location, server, f"has an invalid port {port!r} (expected 1-65535)")


def check_server(location: Any, server: str) -> str:
    if not server:
        raise _bad(location, server, "is empty")
    if server.startswith(("unix:", "/")):
        if not server.removeprefix("unix:"):
            raise _bad(location, server, "has an empty socket path")
        return server
    if server.startswith("["):
        host, sep, rest = server[1:].partition("]")
        if not sep or not host:
            raise _bad(location, server, "is not a valid [IPv6]:port address")
        if rest:
            if not rest.startswith(":"):
                raise _bad(location, server, "is not a valid [IPv6]:port address")
            _check_port(location, server, rest[1:])
        return server
    host, sep, port = server.rpartition(":")
    if sep:
        if not host or ":" in host:
            raise _bad(location, server, "is not host:port (write IPv6 addresses as [addr]:port)")
        _check_port(location, server, port)
    return server


def parse_servers(location: Any) -> list[str]:
    servers = split_location(location)
    if not servers:
        raise CacheConfigError(
            "CACHES[...]['LOCATION'] is required for memcached: 'host:port', 'unix:/path', "
            "or several servers as a list or a ';'-separated string"
        )
    return [check_server(location, server) for server in servers]
