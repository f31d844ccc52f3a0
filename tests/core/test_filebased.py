"""FileBasedCache: Django's format both ways, permissions, checks, and the defects we fix."""

from __future__ import annotations

import logging
import os
import pickle
import stat
import time
import zlib
from collections.abc import Callable
from hashlib import md5
from pathlib import Path
from typing import Any

import pytest
from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache
from django.test import override_settings

from django_altcache.backends import _files
from django_altcache.backends.filebased import FileBasedCache

VALUES: dict[str, Any] = {
    "text": "héllo",
    "int": 42,
    "none": None,
    "nested": {"a": [1, 2, (3, 4)], "b": b"\x00bytes"},
    "big": "x" * 200_000,
}


def entry_path(directory: str, key: str) -> str:
    return os.path.join(directory, md5(f":1:{key}".encode()).hexdigest() + ".djcache")


@pytest.mark.parametrize("writer_cls, reader_cls", [
    (DjangoFileBasedCache, FileBasedCache), (FileBasedCache, DjangoFileBasedCache)])
def test_directory_shared_with_django_both_ways(
        make_dir: Callable[[], str], writer_cls: type, reader_cls: type) -> None:
    directory = make_dir()
    writer, reader = writer_cls(directory, {}), reader_cls(directory, {})
    for key, value in VALUES.items():
        writer.set(key, value)
    writer.set("forever", "f", None)
    writer.set("expired", "e", -1)
    writer.set("counter", 10, 600)
    for key, value in VALUES.items():
        assert reader.get(key, "MISS") == value
    assert reader.get("forever") == "f"
    assert reader.get("expired", "MISS") == "MISS"
    assert reader.incr("counter", 5) == 15
    assert writer.get("counter") == 15
    assert reader.touch("forever", 60) is True and writer.get("forever") == "f"
    assert reader.delete("text") is True and writer.get("text") is None
    assert sorted(os.listdir(directory)) == sorted(
        [os.path.basename(entry_path(directory, k)) for k in [*VALUES, "forever", "counter"] if k != "text"]
        + ([_files.LOCK_DIR] if FileBasedCache in (writer_cls, reader_cls) else []))
    reader.clear()
    assert writer.get("int") is None


def test_on_disk_bytes_are_djangos_format(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {})
    before = time.time()
    cache.set("k", {"v": 1}, 30)
    with open(entry_path(cache._dir, "k"), "rb") as fh:
        expiry = pickle.load(fh)
        assert pickle.loads(zlib.decompress(fh.read())) == {"v": 1}
    assert before + 30 <= expiry <= time.time() + 30


def test_expiry_header_parsing_accepts_any_pickle_protocol() -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        for expiry in (None, 1234.5, 1700000000):
            data = pickle.dumps(expiry, protocol) + zlib.compress(pickle.dumps("v", protocol))
            parsed, offset = _files.split(data)
            assert parsed == expiry and _files.decode_value(data, offset) == "v"


def test_permissions_no_wider_than_djangos(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the widest case: modes come from the code, not the umask
    try:
        directory = tmp_path / "nested" / "deeper" / "cache"
        cache = FileBasedCache(directory, {})
        cache.set("k", "v")
        cache.incr_version("k")
        cache.add("n", 1)
        cache.incr("n")
    finally:
        os.umask(old_umask)
    for path in (directory, directory.parent, directory.parent.parent, directory / _files.LOCK_DIR):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_world_writable_directory_warns_in_system_checks(make_dir: Callable[[], str]) -> None:
    from django.core.checks import run_checks

    directory = make_dir()
    cache = FileBasedCache(directory, {})
    assert cache.check_backend("default") == []
    os.chmod(directory, 0o777)
    [warning] = cache.check_backend("default")
    assert warning.id == "django_altcache.W010" and directory in warning.msg and "default" in warning.obj
    caches = {"default": {"BACKEND": "django_altcache.backends.filebased.FileBasedCache", "LOCATION": directory}}
    with override_settings(CACHES=caches):
        assert "django_altcache.W010" in [m.id for m in run_checks(tags=["caches"])]


def test_djangos_own_cache_location_checks_still_apply(make_dir: Callable[[], str], tmp_path: Path) -> None:
    from django.core.checks import run_checks

    caches = {"default": {"BACKEND": "django_altcache.backends.filebased.FileBasedCache",
                          "LOCATION": str(tmp_path / "static" / "cache")}}
    with override_settings(CACHES=caches, STATIC_ROOT=str(tmp_path / "static")):
        assert "caches.W002" in [m.id for m in run_checks(tags=["caches"], include_deployment_checks=True)]
    relative = os.path.relpath(tmp_path / "relative")  # created by the backend: keep it in tmp_path
    with override_settings(CACHES={"default": {**caches["default"], "LOCATION": relative}}):
        assert "caches.W003" in [m.id for m in run_checks(tags=["caches"])]


LIVE_HEADER = pickle.dumps(time.time() + 3600, pickle.HIGHEST_PROTOCOL)
CORRUPT_HEADERS = [
    b"garbage that is no pickle at all",
    LIVE_HEADER[:9],  # truncated inside the expiry header
    pickle.dumps("a string where the expiry belongs") + zlib.compress(pickle.dumps(1)),
]
CORRUPT_VALUES = [
    LIVE_HEADER + b"not zlib data",
    LIVE_HEADER + zlib.compress(pickle.dumps("long value" * 100))[:20],  # truncated write
    LIVE_HEADER + zlib.compress(b"\x80\x05not a complete pickle"),
]


OPERATIONS = [("get", "MISS"), ("incr", "Key 'k' not found"), ("add", True), ("has_key", False)]


@pytest.mark.parametrize("content, operation, expected", [
    (content, operation, expected)
    for content in CORRUPT_HEADERS + CORRUPT_VALUES
    for operation, expected in OPERATIONS
    # has_key reads only the expiry header, as Django's does: it cannot see a bad value.
    if not (operation == "has_key" and content in CORRUPT_VALUES)
])
def test_corrupt_file_is_a_logged_miss_and_removed(
        make_dir: Callable[[], str], content: bytes, operation: str, expected: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    cache = FileBasedCache(make_dir(), {})
    path = entry_path(cache._dir, "k")
    with open(path, "wb") as fh:
        fh.write(content)
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        try:
            result = {"get": lambda: cache.get("k", "MISS"), "incr": lambda: cache.incr("k"),
                      "add": lambda: cache.add("k", "new"), "has_key": lambda: cache.has_key("k")}[operation]()
        except ValueError as exc:  # incr on a miss: Django's "not found", never the decode error
            result = str(exc)
    assert result == expected
    assert [r for r in caplog.records if r.name == "django_altcache" and path in r.getMessage()]
    if operation == "add":
        assert cache.get("k") == "new"
    else:
        assert not os.path.exists(path)


def test_corrupt_value_logged_and_file_removed(make_dir: Callable[[], str], caplog: pytest.LogCaptureFixture) -> None:
    cache = FileBasedCache(make_dir(), {})
    path = entry_path(cache._dir, "k")
    with open(path, "wb") as fh:
        fh.write(pickle.dumps(None) + b"\x78\x9c truncated zlib")
    with caplog.at_level(logging.WARNING, logger="django_altcache"):
        assert cache.get("k", "MISS") == "MISS"
    assert not os.path.exists(path)
    [record] = [r for r in caplog.records if r.name == "django_altcache"]
    assert path in record.getMessage() and "corrupt" in record.getMessage()


def test_other_io_errors_still_raise(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {})
    os.mkdir(entry_path(cache._dir, "k"))  # a directory where the entry should be
    with pytest.raises(IsADirectoryError):
        cache.get("k")


def test_incr_and_decr_keep_the_expiry(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {"TIMEOUT": 5})
    cache.set("n", 1, 1000)
    path = entry_path(cache._dir, "n")

    def expiry() -> float:
        with open(path, "rb") as fh:
            return pickle.load(fh)

    before = expiry()
    assert cache.incr("n", 4) == 5 and cache.decr("n") == 4
    assert expiry() == before  # Django's would reset it to now + TIMEOUT (5 s)
    cache.set("forever", 1, None)
    cache.incr("forever")
    assert cache.get("forever") == 2
    with open(entry_path(cache._dir, "forever"), "rb") as fh:
        assert pickle.load(fh) is None


def test_set_does_not_list_the_directory(make_dir: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FileBasedCache(make_dir(), {"OPTIONS": {"MAX_ENTRIES": 100_000}})
    for i in range(3000):
        cache.set(f"fill{i}", i)
    scans: list[str] = []
    real_scan = _files.scan
    monkeypatch.setattr(_files, "scan", lambda *a, **k: scans.append("scan") or real_scan(*a, **k))
    for i in range(2000):
        cache.set(f"more{i}", i)
        cache.add(f"add{i}", i)
    # One rescan per rescan_every(MAX_ENTRIES) writes, never one per set (Django: 4000 listings).
    assert len(scans) <= 4000 // _files.rescan_every(100_000) + 1


def test_culling_still_bounds_the_directory(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 50, "CULL_FREQUENCY": 2}})
    for i in range(1000):
        cache.set(f"k{i}", i)
    count = len(_files.scan(directory, ".djcache"))
    assert 25 <= count <= 50


def test_other_processes_writes_are_seen_by_the_next_scan(make_dir: Callable[[], str]) -> None:
    directory = make_dir()
    ours = FileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 300}})
    ours.set("first", 1)  # our process has scanned: it believes there is 1 entry
    django_writer = DjangoFileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 100_000}})
    for i in range(1000):  # another writer, unknown to our count
        django_writer.set(f"other{i}", i)
    for i in range(_files.rescan_every(300) + 10):
        ours.set(f"ours{i}", i)
    # The rescan found ~1250 entries; like Django's, each following set culls a third until
    # the directory is under MAX_ENTRIES again.
    assert len(_files.scan(directory, ".djcache")) <= 300


def plant(path: str, age: float) -> None:
    with open(path, "wb") as fh:
        fh.write(b"partial")
    os.utime(path, (time.time() - age, time.time() - age))


@pytest.mark.parametrize("clean", ["clear", "cull"])
def test_stale_temp_files_are_removed(make_dir: Callable[[], str], clean: str) -> None:
    directory = make_dir()
    cache = FileBasedCache(directory, {"OPTIONS": {"MAX_ENTRIES": 1}})
    stale_ours = os.path.join(directory, f"{_files.TMP_PREFIX}99999-1{_files.TMP_SUFFIX}")
    stale_django = os.path.join(directory, "tmpab_cd123")
    fresh = os.path.join(directory, f"{_files.TMP_PREFIX}99999-2{_files.TMP_SUFFIX}")
    unrelated = os.path.join(directory, "not-a-cache-file")
    plant(stale_ours, _files.STALE_TEMP_SECONDS + 5)
    plant(stale_django, _files.STALE_TEMP_SECONDS + 5)
    plant(fresh, 1)  # may belong to a writer in progress
    plant(unrelated, 10_000)
    if clean == "clear":
        cache.clear()
    else:
        cache.set("a", 1)
        cache.set("b", 2)  # the directory is full: a scan and a cull
    assert not os.path.exists(stale_ours) and not os.path.exists(stale_django)
    assert os.path.exists(fresh) and os.path.exists(unrelated)


def test_directory_removed_under_us_is_recreated(make_dir: Callable[[], str]) -> None:
    import shutil

    directory = make_dir()
    cache = FileBasedCache(directory, {})
    cache.set("a", 1)
    shutil.rmtree(directory)
    assert cache.get("a") is None and cache.delete("a") is False
    assert not os.path.exists(directory)
    assert cache.add("a", 2) is True and cache.get("a") == 2
    shutil.rmtree(directory)
    cache.set("b", 3)
    assert cache.get("b") == 3
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_has_key_on_a_big_entry_reads_the_header_only(make_dir: Callable[[], str]) -> None:
    cache = FileBasedCache(make_dir(), {})
    big = os.urandom(100_000)  # incompressible: the file is far bigger than the bytes has_key reads
    cache.set("live", big, 600)
    cache.set("dead", big, 600)
    path = entry_path(cache._dir, "dead")
    with open(path, "r+b") as fh:  # expire it in place, keeping the value
        expiry = pickle.load(fh)
        rest = fh.read()
        fh.seek(0)
        fh.write(pickle.dumps(expiry - 3600, pickle.HIGHEST_PROTOCOL) + rest)
    assert cache.has_key("live") is True and cache.get("live") == big
    assert cache.has_key("dead") is False
    assert not os.path.exists(path)
