from __future__ import annotations

import pytest


@pytest.mark.parametrize("form", ["unix:{}", "{}"])
def test_unix_socket_location(cache_for, unix_memcached, form):
    cache = cache_for(form.format(unix_memcached))
    cache.set("over-unix", {"v": 1})
    assert cache.get("over-unix") == {"v": 1}
    assert cache.incr_version("over-unix") == 2
    assert cache.get_many(["over-unix"], version=2) == {"over-unix": {"v": 1}}
