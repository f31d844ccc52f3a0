"""Django's contract on a real server, and the same bytes as Django's own backends."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache.backends.base import InvalidCacheKey

THIRTY_DAYS = 60 * 60 * 24 * 30


@pytest.mark.parametrize("value", [1, "text", b"bytes", {"a": [1, 2.5, None]}, 2**70, True])
def test_values_written_by_django_are_read_by_ours_and_back(cache, django_cache, value):
    django_cache.set("from-django", value)
    assert cache.get("from-django") == value
    cache.set("from-ours", value)
    assert django_cache.get("from-ours") == value
    # pylibmc's own flags turn a bool into an int; both backends must agree on it.
    assert type(django_cache.get("from-ours")) is type(django_cache.get("from-django"))
    assert type(cache.get("from-ours")) is type(cache.get("from-django"))
    cache.set_many({"m1": value})
    assert django_cache.get_many(["m1"]) == {"m1": value}


def test_incr_shared_with_django(cache, django_cache):
    django_cache.set("n", 10)
    assert cache.incr("n", 5) == 15
    assert django_cache.incr("n") == 16
    assert cache.decr("n", 20) == 0  # memcached clamps at zero


@pytest.mark.parametrize("key, reason", [("a" * 300, "longer than 250"), ("with space", "characters"),
                                         ("ctl\x07", "characters")])
def test_invalid_keys_raise_with_djangos_message(cache, django_cache, key, reason):
    for operation, args in [("get", [key]), ("set", [key, 1]), ("incr", [key]), ("delete_many", [[key]])]:
        with pytest.raises(InvalidCacheKey) as ours:
            getattr(cache, operation)(*args)
        with pytest.raises(InvalidCacheKey) as theirs:
            getattr(django_cache, operation)(*args)
        assert str(ours.value) == str(theirs.value)
        assert reason in str(ours.value)


def test_long_timeout_becomes_absolute_time(cache):
    before = int(time.time())
    backend_timeout = cache.get_backend_timeout(THIRTY_DAYS + 10)
    assert before + THIRTY_DAYS + 10 <= backend_timeout <= int(time.time()) + THIRTY_DAYS + 10
    assert cache.get_backend_timeout(THIRTY_DAYS) == THIRTY_DAYS
    cache.set("long", "kept", timeout=THIRTY_DAYS * 12)
    assert cache.get("long") == "kept"


def test_zero_and_negative_timeouts_expire(cache):
    cache.set("z", 1, timeout=0)
    cache.set("n", 1, timeout=-5)
    cache.set_many({"zm": 1}, timeout=0)
    assert cache.get_many(["z", "n", "zm"]) == {}
    cache.set("t", 1)
    assert cache.touch("t", 0) is True
    assert cache.get("t") is None


def test_none_timeout_never_expires(cache):
    cache.set("forever", 1, timeout=None)
    assert cache.get_backend_timeout(None) == 0
    assert cache.get("forever") == 1


def test_too_large_value_fails_deletes_old_value_and_logs(cache, caplog):
    cache.set("session", "small")
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        with pytest.raises(Exception):
            cache.set("session", "x" * (2**20 + 1))
    assert cache.get("session") is None
    assert "session" in caplog.text and "deleted" in caplog.text


def test_incr_returns_int_or_raises_value_error(cache):
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    with pytest.raises(ValueError):
        cache.decr("missing")
    cache.set("c", 1)
    result = cache.incr("c", 41)
    assert result == 42 and type(result) is int
    assert cache.decr("c", 2) == 40


def test_incr_on_non_integer_raises_library_error(cache):
    cache.set("word", "abc")
    with pytest.raises(Exception) as info:
        cache.incr("word")
    assert not isinstance(info.value, ValueError) or "not found" not in str(info.value)


def test_add_delete_touch_return_bools(cache):
    assert cache.add("a", 1) is True
    assert cache.add("a", 2) is False
    assert cache.get("a") == 1
    assert cache.touch("a", 100) is True
    assert cache.touch("nope", 100) is False
    assert cache.delete("a") is True
    assert cache.delete("a") is False


def test_many_operations(cache):
    data = {f"k{i}": i for i in range(100)}
    assert cache.set_many(data) == []
    assert cache.get_many(list(data) + ["absent"]) == data
    cache.delete_many([f"k{i}" for i in range(50)])
    assert cache.get_many(list(data)) == {f"k{i}": i for i in range(50, 100)}
    assert cache.get_many([]) == {} and cache.set_many({}) == [] and cache.delete_many([]) is None


def test_unicode_keys(cache, django_cache):
    cache.set("ключ", "значение")
    assert django_cache.get("ключ") == "значение"


def custom_key_func(key, key_prefix, version):
    return f"custom-{key_prefix}-{version}-{key}"


def test_batch_keys_follow_key_function_and_validation(cache_for, memcached_location, django_cache):
    custom = cache_for(memcached_location, KEY_FUNCTION=custom_key_func, KEY_PREFIX="p")
    custom.set_many({"a": 1, "b": 2})
    assert custom.get("a") == 1 and custom.get_many(["a", "b"]) == {"a": 1, "b": 2}
    assert custom._cache.get("custom-p-1-b") == 2
    plain = cache_for(memcached_location, KEY_PREFIX="altcache-tests")
    plain.set_many({"x": 1, 7: "seven"}, version=3)
    assert django_cache.get_many(["x", 7], version=3) == {"x": 1, 7: "seven"}
    for operation, args in [("get_many", [["ok", "bad key", "a" * 300]]), ("set_many", [{"ok": 1, "bad key": 2}]),
                            ("delete_many", [["ok", "bad key"]])]:
        with pytest.raises(InvalidCacheKey, match="altcache-tests:1:bad key"):
            getattr(plain, operation)(*args)
