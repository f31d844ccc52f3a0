"""The stampede option (single-flight get_or_set, early refresh), for every backend.

The converter and the machinery are ``django_altcache/stampede/`` (docs/stampede.md).
"""

from __future__ import annotations

from typing import Any

from django_altcache.stampede.settings import StampedeSettings, parse_stampede

from .spec import Option

STAMPEDE: Option[StampedeSettings | None] = Option(
    "STAMPEDE", parse_stampede, None, group="Stampede protection",
    doc="True or {'lock_timeout': 10, 'wait': lock_timeout + 2, 'early_refresh': False, 'beta': 1.0, "
        "'stale': 0, 'poll': 0.05}: get_or_set/aget_or_set compute a missing value once across threads, "
        "tasks and processes while the others wait for it; early_refresh recomputes hot entries just "
        "before they expire (docs/stampede.md).")
OPTIONS: tuple[Option[Any], ...] = (STAMPEDE,)
