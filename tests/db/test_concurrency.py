"""4 processes x 4 threads hammering the same keys: no lost increment, one add winner."""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connections

from django_altcache.backends.db import DatabaseCache

from ._workers import run_process
from .conftest import OneDatabaseRouter

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PROCESSES, THREADS, ROUNDS = 4, 4, 25


@pytest.mark.parametrize("vendor_alias", ["default", "postgres"], indirect=True)
def test_no_lost_increment_and_one_add_winner(vendor_alias, cache_table, settings):
    settings.DATABASE_ROUTERS = [OneDatabaseRouter(vendor_alias)]
    cache = DatabaseCache(cache_table, {})
    cache.set("counter", 0, None)
    db_name = connections[vendor_alias].settings_dict["NAME"]
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = [pool.apply_async(run_process, (vendor_alias, db_name, cache_table, w, THREADS, ROUNDS))
                   for w in range(PROCESSES)]
        results = [job.get(timeout=600) for job in pending]
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    total = sum(r["incrs"] for r in results)
    assert total == PROCESSES * THREADS * ROUNDS
    assert cache.get("counter") == total
    wins = sorted(w for r in results for w in r["wins"])
    assert [round_no for round_no, _ in wins] == list(range(ROUNDS))  # exactly one winner per round
    for round_no, winner in wins:
        assert cache.get(f"add-{round_no}") == winner
