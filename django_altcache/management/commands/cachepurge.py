"""``cachepurge``: delete expired rows from database cache tables, for cron.

Our DatabaseCache never deletes on reads, so expired rows wait for culling or for
this command. Tables of Django's own DatabaseCache are purged too (same schema).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from django_altcache.backends.db import DatabaseCache
from django_altcache.conf.values import positive_int


def _batch_size(text: str) -> int:
    import argparse

    try:
        return positive_int(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None


class Command(BaseCommand):
    help = "Deletes expired entries from the database cache tables (all of them, or the aliases given)."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("aliases", metavar="cache_alias", nargs="*",
                            help="CACHES aliases to purge (default: every database cache).")
        parser.add_argument("--database", default=None, choices=tuple(connections),
                            help="Purge on this database instead of the one routers pick for writes.")
        parser.add_argument("--batch-size", type=_batch_size, default=10_000,
                            help="Rows deleted per statement (default 10000), to keep locks short.")

    def handle(self, *args: str, **options: Any) -> None:
        aliases: list[str] = options["aliases"]
        unknown = [alias for alias in aliases if alias not in settings.CACHES]
        if unknown:
            raise CommandError(f"Unknown cache alias(es): {', '.join(unknown)}; "
                               f"settings.CACHES has {', '.join(settings.CACHES)}")
        for alias in aliases or list(settings.CACHES):
            cache = caches[alias]
            if not isinstance(cache, BaseDatabaseCache):
                if aliases:
                    raise CommandError(f"Cache {alias!r} is not a database cache")
                continue
            if not isinstance(cache, DatabaseCache):
                # Django's backend: same table, so our SQL applies; no routing surprises either.
                cache = DatabaseCache(cache._table, {})
            deleted = cache.purge_expired(using=options["database"], batch=options["batch_size"])
            if options["verbosity"] > 0:
                self.stdout.write(f"Purged {deleted} expired entries from cache table '{cache._table}'.")
