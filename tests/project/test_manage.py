"""The project run as a user runs it: manage.py with its own settings, in a subprocess.

Here DATABASES are the project's own (primary + replica on PostgreSQL), so this is
where the CacheRouter is tested.
"""

from __future__ import annotations

import json

from tests.project.conftest import SERVER_VARS, manage

ROUTING_PROBE = """
import json
from django.core.cache import caches
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

call_command("createcachetable", verbosity=0)
cache = caches["db"]

def queries(operation):
    with CaptureQueriesContext(connections["default"]) as primary, \\
            CaptureQueriesContext(connections["replica"]) as replica:
        result = operation()
    return {"default": len(primary), "replica": len(replica), "result": result}

print("ROUTING=" + json.dumps({
    "vendor": connections["default"].vendor,
    "set": queries(lambda: cache.set("routed", 7)),
    "get": queries(lambda: cache.get("routed")),
    "incr": queries(lambda: cache.incr("routed")),
    "tables": {alias: "demo_cache_table" in connections[alias].introspection.table_names()
               for alias in ("default", "replica")},
}))
"""


def test_check_reports_no_issues(project_env: dict[str, str]) -> None:
    result = manage("check", env=project_env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_without_servers_falls_back_cleanly(project_env: dict[str, str]) -> None:
    env = {k: v for k, v in project_env.items() if k not in SERVER_VARS}
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_createcachetable_dry_run_prints_the_sql_for_the_primary_only(project_env: dict[str, str]) -> None:
    primary = manage("createcachetable", "--dry-run", env=project_env)
    assert primary.returncode == 0, primary.stderr
    assert 'CREATE TABLE "demo_cache_table"' in primary.stdout
    assert '"cache_key" varchar(255)' in primary.stdout and "PRIMARY KEY" in primary.stdout
    assert "CREATE INDEX" in primary.stdout
    # allow_migrate() of the CacheRouter keeps the table off the replica.
    replica = manage("createcachetable", "--dry-run", "--database", "replica", env=project_env)
    assert replica.returncode == 0, replica.stderr
    assert replica.stdout.strip() == ""
    # A dry run creates nothing.
    again = manage("createcachetable", "--dry-run", env=project_env)
    assert 'CREATE TABLE "demo_cache_table"' in again.stdout


def test_router_sends_reads_to_the_replica_and_writes_to_the_primary(project_env: dict[str, str]) -> None:
    result = manage("shell", "-c", ROUTING_PROBE, env=project_env)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("ROUTING="))
    routing = json.loads(line.removeprefix("ROUTING="))
    assert routing["vendor"] == "postgresql"
    assert routing["set"]["default"] >= 1 and routing["set"]["replica"] == 0
    assert routing["get"]["replica"] >= 1 and routing["get"]["default"] == 0
    assert routing["get"]["result"] == 7  # the replica connection sees what the primary wrote
    assert routing["incr"]["default"] >= 1 and routing["incr"]["replica"] == 0
    assert routing["incr"]["result"] == 8
    # The replica here is a second connection to the same database, so both see the one table.
    assert routing["tables"] == {"default": True, "replica": True}
