"""The cache table's DDL, shared by ``createcachetable`` and the tests.

Same columns, types and index name as Django's own command, so tables made by
either are interchangeable; the only extra is PostgreSQL's opt-in UNLOGGED.
"""

from __future__ import annotations


from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


def cache_fields() -> tuple[models.Field, ...]:
    return (
        # "key" is a reserved word in MySQL, hence "cache_key" (Django's choice too).
        models.CharField(name="cache_key", max_length=255, unique=True, primary_key=True),
        models.TextField(name="value"),
        models.DateTimeField(name="expires", db_index=True),
    )


def table_ddl(connection: BaseDatabaseWrapper, table: str, *, unlogged: bool = False) -> tuple[str, list[str]]:
    """(CREATE TABLE statement, index statements), laid out as Django's command prints them."""
    qn = connection.ops.quote_name
    columns = []
    indexes = []
    for field in cache_fields():
        parts = [qn(field.name), field.db_type(connection=connection),
                 "NOT NULL" if not field.null else "NULL"]
        if field.primary_key:
            parts.append("PRIMARY KEY")
        elif field.unique:
            parts.append("UNIQUE")
        if field.db_index:
            unique = "UNIQUE " if field.unique else ""
            indexes.append(f"CREATE {unique}INDEX {qn(f'{table}_{field.name}')} ON {qn(table)} ({qn(field.name)});")
        columns.append(" ".join(parts))
    # UNLOGGED skips the WAL: faster writes, and the table is emptied after a crash,
    # which a cache can afford (PostgreSQL docs, CREATE TABLE, "UNLOGGED").
    kind = "UNLOGGED TABLE" if unlogged and connection.vendor == "postgresql" else "TABLE"
    lines = [f"CREATE {kind} {qn(table)} ("]
    lines += [f"    {col}{',' if i < len(columns) - 1 else ''}" for i, col in enumerate(columns)]
    lines.append(");")
    return "\n".join(lines), indexes
