"""docs/options.md, generated from the declared options: ``python -m django_altcache.optiondocs``.

Every option is documented once, from its declaration; a test fails when the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .conf import Option, Spec

FAMILIES = (
    ("redis", "RedisCache"), ("pymemcache", "PyMemcacheCache"), ("pylibmc", "PyLibMCCache"),
    ("db", "DatabaseCache"), ("filebased", "FileBasedCache"), ("locmem", "LocMemCache"), ("dummy", "DummyCache"),
)
HEADER = """# Options

Generated from the declarations in the code (`python -m django_altcache.optiondocs`); do not edit.
Each option goes in a cache's `OPTIONS`. *Backends* lists our backends that read it; *Django's*
says whether Django's own backend of that family takes it too (so the system checks accept it
under Django's `BACKEND` path). Options not listed here are handed to the client library
(redis-py, pymemcache, pylibmc) by the Redis and memcached backends, as Django does, and the
system checks judge them against the library's own signatures.
"""


def specs() -> dict[str, Spec]:
    from .backends.db.options import SPEC as DB
    from .backends.memcached.options import PYLIBMC_SPEC, PYMEMCACHE_SPEC
    from .backends.redis.options import SPEC as REDIS
    from .conf import common

    return {"redis": REDIS, "pymemcache": PYMEMCACHE_SPEC, "pylibmc": PYLIBMC_SPEC, "db": DB,
            "filebased": common.FILEBASED, "locmem": common.LOCMEM, "dummy": common.DUMMY}


def _default(option: Option[Any]) -> str:
    return f"`{option.default!r}`"


def render() -> str:
    by_option: dict[int, tuple[Option[Any], list[str], list[str]]] = {}
    for family, spec in specs().items():
        label = dict(FAMILIES)[family]
        for option in spec.options.values():
            entry = by_option.setdefault(id(option), (option, [], []))
            if spec.serverless and option.network:
                continue  # declared so the checks can say "no effect here"
            entry[1].append(label)
            if option.django:
                entry[2].append(label)
    groups: dict[str, list[tuple[Option[Any], list[str], list[str]]]] = {}
    for entry in by_option.values():
        groups.setdefault(entry[0].group or "Other", []).append(entry)
    lines = [HEADER]
    for group, entries in groups.items():
        lines += [f"## {group}\n", "| option | default | backends | Django's | what it does |", "|---|---|---|---|---|"]
        for option, backends, django in entries:
            everywhere = len(backends) == len(FAMILIES)
            where = "all" if everywhere else ", ".join(backends) or "-"
            lines.append(f"| `{option.name}` | {_default(option)} | {where} | {', '.join(django) or 'no'} | "
                         f"{option.doc} |")
        lines.append("")
    return "\n".join(lines)


def path() -> Path:
    return Path(__file__).resolve().parent.parent / "docs" / "options.md"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = path().read_text() if path().exists() else ""
        if current != text:
            print(f"{path()} is out of date: run python -m django_altcache.optiondocs", file=sys.stderr)
            return 1
        return 0
    path().write_text(text)
    print(f"wrote {path()}")
    return 0


if __name__ == "__main__":
    import django
    from django.conf import settings

    settings.configure()
    django.setup()
    raise SystemExit(main(sys.argv[1:]))
