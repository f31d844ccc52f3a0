"""``createcachetable``: Django's command, plus PostgreSQL's opt-in UNLOGGED tables.

Same arguments, output and query pattern as Django's (its tests count the queries);
it creates tables for every cache that is a ``BaseDatabaseCache``: ours and Django's.
A table is UNLOGGED when ``--unlogged`` is given or the cache's OPTIONS say
``"UNLOGGED": True`` (ignored on other vendors).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction

from django_altcache.backends.db.options import check_table_name
from django_altcache.backends.db.schema import table_ddl
from django_altcache.conf import CacheConfigError


class Command(BaseCommand):
    help = "Creates the tables needed to use the SQL cache backend."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "args", metavar="table_name", nargs="*",
            help="Optional table names. Otherwise, settings.CACHES is used to find cache tables.",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections),
            help='Nominates a database onto which the cache tables will be installed. '
                 'Defaults to the "default" database.',
        )
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Does not create the table, just prints the SQL that would be run.",
        )
        parser.add_argument(
            "--unlogged", action="store_true",
            help="On PostgreSQL, create the tables UNLOGGED (faster writes, emptied after a crash).",
        )

    def handle(self, *tablenames: str, **options: Any) -> None:
        db = options["database"]
        self.verbosity = options["verbosity"]
        dry_run = options["dry_run"]
        if tablenames:
            # Legacy behaviour: table names given on the command line.
            for tablename in tablenames:
                self.create_table(db, tablename, dry_run, options["unlogged"])
            return
        for cache_alias in settings.CACHES:
            cache = caches[cache_alias]
            if isinstance(cache, BaseDatabaseCache):
                unlogged = options["unlogged"] or bool(getattr(cache, "unlogged", False))
                self.create_table(db, cache._table, dry_run, unlogged)

    def create_table(self, database: str, tablename: str, dry_run: bool, unlogged: bool = False) -> None:
        try:
            check_table_name(tablename)
        except CacheConfigError as exc:
            raise CommandError(str(exc)) from exc
        cache = BaseDatabaseCache(tablename, {})
        if not router.allow_migrate_model(database, cache.cache_model_class):
            return
        connection = connections[database]

        if tablename in connection.introspection.table_names():
            if self.verbosity > 0:
                self.stdout.write("Cache table '%s' already exists." % tablename)
            return

        create, indexes = table_ddl(connection, tablename, unlogged=unlogged)
        if dry_run:
            self.stdout.write(create)
            for statement in indexes:
                self.stdout.write(statement)
            return

        with transaction.atomic(using=database, savepoint=connection.features.can_rollback_ddl):
            with connection.cursor() as cursor:
                try:
                    cursor.execute(create)
                except DatabaseError as exc:
                    raise CommandError(
                        "Cache table '%s' could not be created.\nThe error was: %s." % (tablename, exc)
                    ) from exc
                for statement in indexes:
                    cursor.execute(statement)

        if self.verbosity > 1:
            self.stdout.write("Cache table '%s' created." % tablename)
