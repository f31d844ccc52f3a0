"""Django's own documented cache settings pass our system checks, under Django's BACKEND path and ours.

The examples are read from docs/topics/cache.txt of the installed Django's sdist (the one the
conformance step fetches), so a new example in a new Django release is checked too.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import django
import pytest
from django.core import checks
from django.test import override_settings

from django_altcache.checks import check_altcache_caches
from tests.conformance.fetch import django_doc

OURS = "django_altcache.backends."
DJANGOS = "django.core.cache.backends."


def literal_blocks(text: str) -> list[str]:
    """reST literal blocks: the indented lines after a paragraph ending in '::' or a code-block."""
    blocks: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not (line.rstrip().endswith("::")):
            continue
        while index < len(lines) and (not lines[index].strip() or lines[index].lstrip().startswith(":")):
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith((" ", "\t"))):
            body.append(lines[index])
            index += 1
        if body:
            blocks.append(textwrap.dedent("\n".join(body)).strip())
    return blocks


def documented_entries() -> list[tuple[str, dict[str, Any]]]:
    text = django_doc(django.__version__, "topics/cache.txt", print)
    entries: list[tuple[str, dict[str, Any]]] = []
    for number, block in enumerate(literal_blocks(text)):
        namespace: dict[str, Any] = {}
        if re.match(r"CACHES\s*=", block):
            exec(compile(block, f"cache.txt block {number}", "exec"), namespace)  # noqa: S102 - Django's docs
            for alias, entry in namespace["CACHES"].items():
                if str(entry.get("BACKEND", "")).startswith(DJANGOS):
                    entries.append((f"block{number}-{alias}", entry))
        elif block.startswith('"OPTIONS"'):
            # "By default, the PyMemcacheCache backend sets the following options (you can override them)"
            import pymemcache  # noqa: F401 - the fragment names pymemcache.serde

            options = eval("{" + block + "}", {"pymemcache": __import__("pymemcache.serde")})  # noqa: S307
            entries.append((f"block{number}-pymemcache-defaults",
                            {"BACKEND": f"{DJANGOS}memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:11211",
                             **options}))
    return entries


ENTRIES = documented_entries()


def test_the_docs_have_the_examples_we_expect() -> None:
    backends = {entry["BACKEND"].rsplit(".", 1)[-1] for _, entry in ENTRIES}
    assert {"RedisCache", "PyMemcacheCache", "PyLibMCCache", "DatabaseCache", "FileBasedCache",
            "LocMemCache", "DummyCache"} <= backends
    assert any(entry.get("OPTIONS", {}).get("db") == "10" for _, entry in ENTRIES)  # the example


@pytest.mark.parametrize("path", [DJANGOS, OURS], ids=["djangos-backend", "ours"])
@pytest.mark.parametrize("name, entry", ENTRIES, ids=[name for name, _ in ENTRIES])
def test_a_documented_setting_passes_our_checks(name: str, entry: dict[str, Any], path: str,
                                               tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # FileBasedCache (Django's and so ours) creates its directory when built, and the docs'
    # Windows example, "c:/foo/bar", is a relative path here: not in the checkout.
    monkeypatch.chdir(tmp_path)
    entry = {**entry, "BACKEND": entry["BACKEND"].replace(DJANGOS, path)}
    caches = {"default": {"BACKEND": f"{DJANGOS}locmem.LocMemCache"}, "documented": entry}
    with override_settings(CACHES=caches):
        found = [m for m in check_altcache_caches() if m.obj == "CACHES['documented']"]
        assert [str(m) for m in found] == []
        if path == OURS:  # our backend builds it too (no network needed to build)
            from django.core.cache import caches as handler

            handler["documented"]
        assert [m for m in checks.run_checks(tags=[checks.Tags.caches])
                if m.id.startswith("django_altcache.") and m.level >= checks.ERROR] == []
