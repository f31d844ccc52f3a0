"""The resilience layer's own rules: option parsing, the breaker's states, the log limiter.

The behaviour against real servers (killed, frozen) is tested per backend in
tests/redis, tests/memcached and tests/db ``test_resilience.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from django_altcache.backends._shared.breaker import CircuitBreaker, RateLimitedLog
from django_altcache.backends.redis.options import SPEC as REDIS_SPEC
from django_altcache.conf import CacheConfigError
from django_altcache.conf.common import LOCMEM
from django_altcache.conf.resilience import BreakerSettings, Resilience, resilience_of


def parse_resilience(options: dict[str, Any] | None) -> Resilience:
    return resilience_of(REDIS_SPEC.parse(options))


def test_defaults_install_nothing() -> None:
    assert not parse_resilience({}).active
    assert not parse_resilience(None).active


def test_fail_soft_brings_the_breaker_and_it_can_be_turned_off() -> None:
    assert parse_resilience({"IGNORE_EXCEPTIONS": True}).breaker == BreakerSettings(3, 0.5)
    assert parse_resilience({"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": False}).breaker is None
    tuned = parse_resilience({"CIRCUIT_BREAKER": {"failures": 1, "cooldown": 2}})
    assert tuned.breaker == BreakerSettings(1, 2.0) and not tuned.ignore_exceptions
    assert parse_resilience({"LOG_IGNORED_EXCEPTIONS": 60}).log_interval == 60.0
    assert parse_resilience({"LOG_IGNORED_EXCEPTIONS": False}).log_interval is None


@pytest.mark.parametrize("options, named", [
    ({"IGNORE_EXCEPTIONS": "yes"}, "IGNORE_EXCEPTIONS"),
    ({"CIRCUIT_BREAKER": {"failure": 2}}, "CIRCUIT_BREAKER"),
    ({"CIRCUIT_BREAKER": {"failures": 0}}, "CIRCUIT_BREAKER"),
    ({"CIRCUIT_BREAKER": {"cooldown": -1}}, "CIRCUIT_BREAKER"),
    ({"CIRCUIT_BREAKER": "on"}, "CIRCUIT_BREAKER"),
    ({"LOG_IGNORED_EXCEPTIONS": "often"}, "LOG_IGNORED_EXCEPTIONS"),
])
def test_bad_values_name_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(CacheConfigError, match=rf"\['OPTIONS'\]\['{named}'\]"):
        parse_resilience(options)


def test_resilience_options_never_reach_the_client_library() -> None:
    params = {"OPTIONS": {"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": True,
                          "LOG_IGNORED_EXCEPTIONS": 5, "socket_timeout": 1}}
    assert REDIS_SPEC.parse(params["OPTIONS"]).rest == {"socket_timeout": 1}
    assert params["OPTIONS"]["IGNORE_EXCEPTIONS"] is True  # the user's settings are not mutated


def test_a_parse_is_reused_per_options_dict_until_the_dict_changes() -> None:
    options: dict[str, Any] = {"IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": {"failures": 2}}
    first = LOCMEM.parse(options)
    assert LOCMEM.parse(options) is first  # Django copies params per instance, not OPTIONS
    options["CIRCUIT_BREAKER"]["failures"] = 5  # changed in place: parsed again
    assert resilience_of(LOCMEM.parse(options)).breaker == BreakerSettings(5, 0.5)
    assert LOCMEM.parse(dict(options)) is not LOCMEM.parse(options)


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker("t", BreakerSettings(failures=3, cooldown=60))
    error = ConnectionError("down")
    breaker.failure(error)
    breaker.failure(error)
    breaker.success()  # a reply in between resets the count
    assert not breaker.failure(error) and not breaker.failure(error)
    assert breaker.allow()
    assert breaker.failure(error)  # the third in a row opens it
    assert breaker.is_open and not breaker.allow()


def test_one_probe_at_a_time_then_close_or_reopen() -> None:
    breaker = CircuitBreaker("t", BreakerSettings(failures=1, cooldown=0.05))
    breaker.failure(ConnectionError())
    assert not breaker.allow()
    time.sleep(0.06)
    answers: list[bool] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait(timeout=5)
        answers.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(answers) == [False] * 7 + [True]  # exactly one probe
    assert not breaker.failure(ConnectionError())  # the probe failed: open again, not "newly opened"
    assert not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()
    assert breaker.success()  # the probe got a reply: closed
    assert not breaker.is_open and breaker.allow()


def test_a_probe_ending_with_an_unrelated_error_lets_another_probe() -> None:
    breaker = CircuitBreaker("t", BreakerSettings(failures=1, cooldown=0.0))
    breaker.failure(ConnectionError())
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_log_limiter_counts_what_it_skipped(caplog: Any) -> None:
    log = RateLimitedLog(0.2)
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        for _ in range(500):
            log(logging.WARNING, "cache down")
        time.sleep(0.25)
        log(logging.WARNING, "cache down")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "cache down"
    assert len(messages) == 2 and "499 similar message(s) suppressed" in messages[1]
    silent = RateLimitedLog(None)
    caplog.clear()
    silent(logging.WARNING, "x")
    assert not caplog.records


def test_a_callables_own_outage_class_error_is_not_swallowed_by_get_or_set() -> None:
    """get_or_set is transparent to the guard: its inner operations are guarded, but an error
    the caller's callable raises (even of the library's outage classes) reaches the caller."""
    from django_altcache.backends._shared.guard import guarded_variant
    from django_altcache.backends.locmem import LocMemCache

    cache = guarded_variant(LocMemCache)("transparent-get-or-set", {"OPTIONS": {"IGNORE_EXCEPTIONS": True}})
    cache._init_guard("locmem", errors=(ConnectionError,), make_error=ConnectionError)

    def compute() -> Any:
        raise ConnectionError("the callable's own database is down")

    with pytest.raises(ConnectionError, match="callable's own"):
        cache.get_or_set("k", compute)
    assert cache.get_or_set("k", lambda: 1) == 1
