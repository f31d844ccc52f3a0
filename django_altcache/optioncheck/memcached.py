"""The OPTIONS of the memcached backends: the keywords pymemcache's HashClient and pylibmc.Client take,
pylibmc's behaviors, and the rules between options (pooling, SASL)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..options import RESILIENCE_OPTIONS
from .common import culling_elsewhere
from .families import LIBRARY, Backend
from .findings import CONFLICT, ERROR, VALUE, WARNING, Finding, unknown_finding
from .library import Accepted, init_keywords, library_options
from .values import (
    Validator,
    boolean,
    mapping,
    non_negative_int,
    positive_int_or_none,
    seconds,
    seconds_or_none,
)

# Value rules for well-known keywords, on top of the types their annotations give.
PYMEMCACHE_VALUES: dict[str, Validator] = {
    "connect_timeout": seconds_or_none,
    "timeout": seconds_or_none,
    "retry_timeout": seconds,
    "dead_timeout": seconds,
    "retry_attempts": non_negative_int,
    "max_pool_size": positive_int_or_none,
    "use_pooling": boolean,
}
PYLIBMC_VALUES: dict[str, Validator] = {"binary": boolean, "behaviors": mapping}


def pymemcache_accepted(ours: bool) -> Accepted:
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient

    client: Any = HashClient
    if ours:
        try:  # the HashClient subclass our driver builds, whose own keywords come first
            from ..backends.memcached.drivers import PyMemcacheDriver

            client = PyMemcacheDriver().client_class
        except Exception:  # noqa: BLE001 - a driver that cannot be set up: judge by pymemcache's own
            client = HashClient
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


def check_memcached(rest: Mapping[str, Any], backend: Backend) -> list[Finding]:
    try:
        accepted = pymemcache_accepted(backend.ours) if backend.family == "pymemcache" else pylibmc_accepted()
    except ImportError:  # the library is missing: the backend says so itself
        accepted = Accepted({}, False, LIBRARY[backend.family], complete=False)
    values = PYMEMCACHE_VALUES if backend.family == "pymemcache" else PYLIBMC_VALUES
    findings = culling_elsewhere(rest, backend)
    findings += library_options(rest, backend, {}, accepted, values, {},
                                extra_names=RESILIENCE_OPTIONS if backend.ours else ())
    if backend.family == "pymemcache":
        # Django's backend does not turn pooling on; ours does (drivers.py).
        pooling = rest.get("use_pooling", backend.ours)
        if pooling is False:
            findings += [Finding(WARNING, CONFLICT, (key,), "has no effect without use_pooling=True")
                         for key in ("max_pool_size", "pool_idle_timeout", "lock_generator") if key in rest]
        return findings

    behaviors = rest.get("behaviors")
    if isinstance(behaviors, Mapping):
        findings += _pylibmc_behaviors(behaviors)
    username, password = rest.get("username"), rest.get("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        findings.append(Finding(ERROR, CONFLICT, ("username" if password is None else "password",),
                                f"SASL authentication needs both username and password; {missing!r} is missing"))
    if (username is not None or password is not None) and rest.get("binary") is not True:
        findings.append(Finding(ERROR, CONFLICT, ("binary",) if "binary" in rest else ("username",),
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
