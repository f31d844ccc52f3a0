"""The memcached backends' options and LOCATION, declared once for the backends and the checks.

LOCATION takes Django's forms, checked up front so a typo fails at startup. Per server:
``host:port``, bare ``host`` (port 11211), ``[v6]`` / ``[v6]:port``, ``unix:/path`` and
``/path``. Several servers: a list, or one string split on ``;``/``,`` (Django's rule). The
strings are kept as written: Django exposes them as ``_servers``.

Every option not declared here is a keyword of the client library (pymemcache's HashClient,
``pylibmc.Client``), handed to it as Django does; the checks read what each library accepts from
its signatures.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from django_altcache.conf import CacheConfigError, Spec, split_location
from django_altcache.conf.common import COMMON, RELATIONS, culling_elsewhere
from django_altcache.conf.families import LIBRARY, Backend
from django_altcache.conf.local import TIMED_LOCAL_CACHE
from django_altcache.conf.findings import CONFLICT, ERROR, UNBOUNDED, VALUE, WARNING, Finding, unknown_finding
from django_altcache.conf.library import Accepted, init_keywords, library_options
from django_altcache.conf.values import (
    Rule,
    mapping,
    non_negative_int,
    positive_int_or_none,
    seconds,
    seconds_or_none,
)


def _bad(location: Any, server: str, why: str) -> CacheConfigError:
    return CacheConfigError(f"server {server!r} {why} (LOCATION={location!r})", ("LOCATION",))


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
        raise CacheConfigError("is required for memcached: 'host:port', 'unix:/path', "
                               "or several servers as a list or a ';'-separated string", ("LOCATION",))
    return [check_server(location, server) for server in servers]


# -- the library keywords: value rules, and what each library accepts ---------------------------
# Only what the library certainly fails on, on top of the types its annotations give.
PYMEMCACHE_VALUES: dict[str, Rule] = {
    "connect_timeout": seconds_or_none,
    "timeout": seconds_or_none,
    "retry_timeout": seconds,
    "dead_timeout": seconds,
    "retry_attempts": non_negative_int,
    "max_pool_size": positive_int_or_none,
}
PYMEMCACHE_TIMEOUTS = ("connect_timeout", "timeout")
PYLIBMC_VALUES: dict[str, Rule] = {"behaviors": mapping}
PYLIBMC_TIMEOUTS = ("connect_timeout", "_poll_timeout", "send_timeout", "receive_timeout")


def check_library_values(options: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """At construction: the same rules the checks apply, raised as errors naming the option."""
    for key, rule in rules.items():
        if key in options:
            try:
                rule(options[key])
            except (TypeError, ValueError) as exc:
                raise CacheConfigError(str(exc), ("OPTIONS", key)) from None


def pymemcache_accepted(ours: bool) -> Accepted:
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient

    client: Any = HashClient
    if ours:
        from .hashclient import FailFastHashClient  # its own keywords come first

        client = FailFastHashClient
    names, closed = init_keywords(client)
    accepted: dict[str, inspect.Parameter | None] = dict(names)
    if not closed:  # a future HashClient handing **kwargs to its per-server clients
        for cls in (PooledClient, Client):
            more, closed = init_keywords(cls)
            for name, param in more.items():
                accepted.setdefault(name, param)
    # HashClient has no annotations; its per-server Client has, for the same names.
    typed = init_keywords(Client)[0]
    for name, found in list(accepted.items()):
        if (found is None or found.annotation is found.empty) and name in typed:
            accepted[name] = typed[name]
    accepted.pop("servers", None)  # LOCATION
    if ours:
        accepted.pop("server_breaker", None)  # set by the driver from CIRCUIT_BREAKER
    return Accepted(accepted, closed, "pymemcache's HashClient")


def pylibmc_accepted() -> Accepted:
    import pylibmc

    names, closed = init_keywords(pylibmc.Client)
    accepted: dict[str, inspect.Parameter | None] = dict(names)
    accepted.pop("servers", None)
    return Accepted(accepted, closed, "pylibmc.Client")


def pylibmc_behaviors() -> set[str]:
    import pylibmc

    # _behaviors_numeric() also takes "_retry_timeout" as an alias of retry_timeout.
    return {*pylibmc.all_behaviors, "_retry_timeout"}


def check_keywords(rest: Mapping[str, Any], params: Mapping[str, Any], backend: Backend,
                   declared: Iterable[str]) -> list[Finding]:
    """The options handed to the client library: unknown names, bad values, turned-off timeouts."""
    pymemcache = backend.family == "pymemcache"
    try:
        accepted = pymemcache_accepted(backend.ours) if pymemcache else pylibmc_accepted()
    except ImportError:  # the library is missing: the backend says so itself
        accepted = Accepted({}, False, LIBRARY[backend.family], complete=False)
    findings = library_options(rest, backend, accepted, PYMEMCACHE_VALUES if pymemcache else PYLIBMC_VALUES, {},
                               declared=declared)
    if pymemcache:
        off = [key for key in PYMEMCACHE_TIMEOUTS if key in rest and rest[key] is None]
    else:
        behaviors = rest.get("behaviors")
        off = [key for key in PYLIBMC_TIMEOUTS
               if isinstance(behaviors, Mapping) and key in behaviors and not behaviors[key]]
        if isinstance(behaviors, Mapping):
            findings += _pylibmc_behaviors(behaviors)
    if backend.ours:
        findings += [Finding(WARNING, UNBOUNDED, (key,) if pymemcache else ("behaviors", key),
                             "turns the timeout off: a stalled memcached server would block requests indefinitely",
                             "Remove it to use the finite default, or set a number of seconds "
                             "(milliseconds/microseconds in pylibmc's behaviors).")
                     for key in off]
    return findings


def check_relations(options: Mapping[str, Any], params: Mapping[str, Any], backend: Backend) -> list[Finding]:
    findings: list[Finding] = []
    if backend.family == "pymemcache":
        # Django's backend does not turn pooling on; ours does (drivers.py).
        pooling = options.get("use_pooling", backend.ours)
        if pooling is False:
            findings += [Finding(WARNING, CONFLICT, (key,), "has no effect without use_pooling=True")
                         for key in ("max_pool_size", "pool_idle_timeout", "lock_generator") if key in options]
        return findings
    username, password = options.get("username"), options.get("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        findings.append(Finding(ERROR, CONFLICT, ("username" if password is None else "password",),
                                f"SASL authentication needs both username and password; {missing!r} is missing"))
    if (username is not None or password is not None) and options.get("binary") is not True:
        findings.append(Finding(ERROR, CONFLICT, ("binary",) if "binary" in options else ("username",),
                                "SASL authentication needs the binary protocol: set 'binary': True"))
    return findings


def _pylibmc_behaviors(behaviors: Mapping[str, Any]) -> list[Finding]:
    try:
        import pylibmc

        known = pylibmc_behaviors()
        named = {"hash": set(pylibmc.hashers), "ketama_hash": set(pylibmc.hashers),
                 "distribution": set(pylibmc.distributions)}
    except ImportError:
        return []
    findings: list[Finding] = []
    for key, value in behaviors.items():
        path = ("behaviors", key)
        if key not in known:
            findings.append(unknown_finding(path, known, ERROR,
                                            "pylibmc refuses unknown behaviors: the cache cannot be created."))
        elif key in named:
            if value is not None and value not in named[key]:
                choices = ", ".join(map(repr, sorted(named[key])))
                findings.append(Finding(ERROR, VALUE, path, f"expected one of {choices}, got {value!r}"))
        elif isinstance(value, str) or value is None:
            findings.append(Finding(ERROR, VALUE, path, f"expected a number or True/False, got {value!r}"))
    return findings


_RELATIONS = (*RELATIONS, culling_elsewhere, check_relations)
PYMEMCACHE_SPEC = Spec("pymemcache", [*COMMON, TIMED_LOCAL_CACHE], passthrough=True, undeclared=check_keywords, relations=_RELATIONS)
PYLIBMC_SPEC = Spec("pylibmc", [*COMMON, TIMED_LOCAL_CACHE], passthrough=True, undeclared=check_keywords, relations=_RELATIONS)
