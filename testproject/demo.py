#!/usr/bin/env python
"""The django-altcache demo: start the servers, set up the site, show every cache backend at work.

    ./dev demo              a self-check: real requests through the site, a report, then exit
    ./dev demo --serve      the same, then runserver on http://127.0.0.1:8000/ until Ctrl-C
    ./dev demo --load       --serve, plus a load generator and an outage drill (Redis killed
                            and restarted every minute): watch http://127.0.0.1:8000/dashboard/

redis-server, memcached and (when installed) PostgreSQL are started on 127.0.0.1, on free
ports in temporary directories, and always stopped at the end. A server that is not
installed is left out and the site falls back (LocMemCache for Redis, SQLite for PostgreSQL).
The exit status is 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR.parent)]  # demosite/demoapp, and tests._servers

from tests._servers import ServerUnavailable  # noqa: E402
from tests._servers.registry import SERVICES  # noqa: E402

TTY = sys.stdout.isatty()


def paint(text: str, colour: str) -> str:
    codes = {"green": "32", "red": "31", "bold": "1", "dim": "2"}
    return f"\033[{codes[colour]}m{text}\033[0m" if TTY else text


def mark(ok: bool) -> str:
    return paint("✔", "green") if ok else paint("✘", "red")


def heading(text: str) -> None:
    print(f"\n{paint(text, 'bold')}\n{'─' * len(text)}")


# --- servers -------------------------------------------------------------------------------------

SERVERS: dict[str, Any] = {}  # name -> the running server, for the outage drill


def start_servers(stack: contextlib.ExitStack) -> None:
    """Start each server the site can use and export its address as settings.py reads it."""
    heading("Servers")
    started: list[str] = []

    def say_stopped() -> None:
        if started:
            print(paint(f"\nStopped {', '.join(started)}.", "dim"))

    stack.callback(say_stopped)  # registered first, so it runs after every server below has stopped
    for name in ("redis", "memcached", "postgres"):
        service = SERVICES[name]
        began = time.monotonic()
        try:
            server = stack.enter_context(service.start())
        except ServerUnavailable as exc:
            print(f"  {paint('–', 'dim')} {name:<10} not started: {exc}")
            continue
        started.append(name)
        SERVERS[name] = server
        env = service.env(server)
        os.environ.update(env)
        address = env.get("ALTCACHE_REDIS_URL") or env.get("ALTCACHE_MEMCACHED_LOCATION") or \
            f"{env['ALTCACHE_PG_HOST']}:{env['ALTCACHE_PG_PORT']}"
        print(f"  {mark(True)} {name:<10} {address:<28} ready in {time.monotonic() - began:.1f} s")


def set_up_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demosite.settings")
    import django
    from django.conf import settings
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connections, router

    django.setup()
    heading("Database")
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    call_command("createcachetable")
    db = connections["default"]
    table = settings.CACHES["db"]["LOCATION"]
    model = caches["db"].cache_model_class
    print(f"  {mark(True)} {db.display_name} ({db.settings_dict['NAME']}): migrated, cache table "
          f"{table!r} created in {time.monotonic() - started:.1f} s")
    print(f"  {mark(True)} CacheRouter: cache writes go to {router.db_for_write(model)!r}, "
          f"reads to {router.db_for_read(model)!r}")


# --- the self-check ------------------------------------------------------------------------------

@dataclass
class Hit:
    body: str
    millis: float
    status: int

    def number(self, element_id: str) -> int:
        found = re.search(rf'id="{element_id}">(\d+)<', self.body)
        return int(found.group(1)) if found else -1


def fetch(client: Any, path: str) -> Hit:
    started = time.perf_counter()
    response = client.get(path)
    millis = (time.perf_counter() - started) * 1000
    return Hit(response.content.decode(), millis, response.status_code)


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def check(self, ok: bool, text: str) -> None:
        self.failures += not ok
        print(f"  {mark(ok)} {text}")


def short_class(path: str) -> str:
    for prefix in ("django_altcache.backends.", "django.core.cache.backends."):
        path = path.removeprefix(prefix)
    return path


def short_location(location: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(location).relative_to(PROJECT_DIR))
    return location or "(in process)"


def report_caches(client: Any, report: Report) -> None:
    heading("Caches: a round trip through each alias (GET /caches.json)")
    started = time.perf_counter()
    probes = client.get("/caches.json").json()["caches"]
    print(paint(f"    {'alias':<11}{'BACKEND':<31}{'LOCATION':<27}{'checks':<7}{'get µs':>7}{'set µs':>7}", "dim"))
    for p in probes:
        checks = f"{sum(step['ok'] for step in p['steps'])}/{len(p['steps'])}"
        timings = p["timings"]
        line = (f"{p['alias']:<11}{short_class(p['backend']):<31}{short_location(p['location']):<27}"
                f"{checks:<7}"
                f"{timings.get('get', 0):>7.0f}{timings.get('set', 0):>7.0f}")
        report.check(p["ok"], line)
        if p["error"]:
            print(f"      {paint(p['error'], 'red')}")
        for step in p["steps"]:
            if not step["ok"]:
                print("      " + paint(f"{step['op']} returned {step['result']}", "red"))
    print(paint(f"  ({len(probes)} caches; set/get/add/incr/get_many/delete each, then the median of 20 gets and "
                f"20 sets; whole page {(time.perf_counter() - started) * 1000:.0f} ms)", "dim"))


def report_views(client_class: Callable[[], Any], report: Report) -> None:
    from django.conf import settings
    from django.core.cache import caches

    heading("Views: each page requested twice, as a browser would")
    client = client_class()

    first, second = fetch(client, "/"), fetch(client, "/")
    report.check(second.number("hits") == first.number("hits") + 1,
                 f"GET /               page counter {first.number('hits')} → {second.number('hits')} "
                 f"(cache.incr on 'default')")
    fragment_runs = caches[settings.COUNTER_CACHE_ALIAS].get("renders:fragment")
    report.check(fragment_runs == 1,
                 f"{{% cache %}} fragment rendered {fragment_runs} time(s) for 2 requests "
                 f"(stored in '{settings.FRAGMENT_CACHE_ALIAS}')")

    for path, what in (("/cached/site/", f"site-wide cache middleware, '{settings.CACHE_MIDDLEWARE_ALIAS}'"),
                       ("/cached/view/", f"@cache_page, '{settings.PAGE_CACHE_ALIAS}'")):
        first, second = fetch(client, path), fetch(client, path)
        report.check(first.status == 200 and second.number("renders") == first.number("renders") == 1,
                     f"GET {path:<15} view ran {second.number('renders')} time(s) for 2 requests: "
                     f"{first.millis:.1f} ms, then {second.millis:.1f} ms from the cache ({what})")

    first, second = fetch(client, "/session/"), fetch(client, "/session/")
    in_cache = "your session is in the cache" in second.body
    engine = settings.SESSION_ENGINE.rsplit(".", 1)[-1]
    report.check(second.number("visits") == 2 and in_cache,
                 f"GET /session/       visits {first.number('visits')} → {second.number('visits')}, session "
                 f"{'found' if in_cache else 'NOT found'} in '{settings.SESSION_CACHE_ALIAS}' ({engine} engine)")


def report_async(report: Report) -> None:
    from django.test import AsyncClient

    async def twice() -> tuple[dict[str, Any], dict[str, Any], float]:
        client = AsyncClient()
        started = time.perf_counter()
        first = (await client.get("/async/")).json()
        second = (await client.get("/async/")).json()
        return first, second, (time.perf_counter() - started) * 1000 / 2

    first, second, millis = asyncio.run(twice())
    report.check(second["hits"] == first["hits"] + 1 and second["previous_visit"] == first["this_visit"],
                 f"GET /async/         under the ASGI handler: hits {first['hits']} → {second['hits']} "
                 f"with await cache.aincr/aget/aset on {second['backend']}, {millis:.1f} ms per request")


def report_health() -> None:
    from django.core.management import call_command

    heading("Health: manage.py cachecheck (a real round trip to every cache)")
    try:
        call_command("cachecheck")
    except SystemExit as exc:  # non-zero when a cache fails: shown, and the views below tell more
        print(paint(f"    cachecheck exited with status {exc.code}", "red"))


def report_outage(report: Report) -> None:
    """Kill Redis under the running site, keep requesting pages, bring it back."""
    from django.core.cache import caches
    from django.test import Client

    server = SERVERS.get("redis")
    if server is None or "redis" not in type(caches["default"]).__module__:
        return
    heading("Outage drill: Redis is killed (SIGKILL) under the site, then restarted")
    client = Client()
    server.kill()
    statuses, slowest = [], 0.0
    for path in ("/", "/cached/site/", "/session/") * 10:
        hit = fetch(client, path)
        statuses.append(hit.status)
        slowest = max(slowest, hit.millis)
    report.check(all(status == 200 for status in statuses),
                 f"{len(statuses)} requests while Redis was down: all 200 (uncached), slowest "
                 f"{slowest:.1f} ms; breaker {caches['default'].breaker_states()}")
    server.start()
    began = time.monotonic()
    recovered = None
    while time.monotonic() - began < 5:
        first = fetch(client, "/")
        if isinstance(first.number("hits"), int) and first.number("hits") >= 1:
            recovered = time.monotonic() - began
            break
        time.sleep(0.05)
    report.check(recovered is not None and recovered <= 1.0,
                 f"Redis restarted: the page counter works again after "
                 f"{'never' if recovered is None else f'{recovered * 1000:.0f} ms'} (fail-soft, no 500s)")


def report_holdings(client: Any) -> None:
    heading("Where the demo's own values ended up (GET /caches.json again)")
    for p in client.get("/caches.json").json()["caches"]:
        if p["holds"]:
            values = ", ".join(f"{key}={value!r}" for key, value in p["holds"].items())
            print(f"    {p['alias']:<11}{values}")


def self_check() -> int:
    from django.core.cache import caches
    from django.test import Client

    for alias in caches.settings:  # a run starts from empty caches (the servers are fresh anyway)
        caches[alias].clear()
    report = Report()
    report_caches(Client(), report)
    report_views(Client, report)
    report_async(report)
    report_holdings(Client())
    report_health()
    report_outage(report)
    print()
    if report.failures:
        print(paint(f"{report.failures} check(s) failed.", "red"))
    else:
        print(paint("All checks passed.", "green") + " Every cache above is a django-altcache drop-in;"
              " run `./dev demo --serve` to browse the site.")
    return 1 if report.failures else 0


def serve(port: int, load: bool = False, drill: tuple[float, float, float] = (25.0, 8.0, 60.0)) -> None:
    from django.core.management import call_command

    heading(f"Serving http://127.0.0.1:{port}/  (Ctrl-C stops the site and the servers)")
    generator = None
    if load:
        import logging
        import threading

        logging.getLogger("django.server").setLevel(logging.WARNING)  # no line per generated request
        from loadgen import LoadGenerator, wait_for_port

        first, down, every = drill
        generator = LoadGenerator(f"http://127.0.0.1:{port}", redis=SERVERS.get("redis"),
                                  first_drill=first, drill_down=down, drill_every=every)

        def start_when_listening() -> None:
            wait_for_port("127.0.0.1", port)
            generator.start()
            print(f"  Load: ~{generator.rate:g} requests/s from {generator.threads} threads"
                  + (f", Redis killed for {down:g} s every {every:g} s (first in {first:g} s)"
                     if generator.redis else "")
                  + f". Dashboard: http://127.0.0.1:{port}/dashboard/", flush=True)

        threading.Thread(target=start_when_listening, daemon=True).start()
    try:
        call_command("runserver", f"127.0.0.1:{port}", "--noreload", shutdown_message="Stopping.")
    finally:
        if generator is not None:
            generator.stop()
            if generator.redis is not None and not generator.redis.process.running:
                generator.redis.start()  # the stack stops it cleanly afterwards


def close_connections() -> None:
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help="after the self-check, run the site until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    parser.add_argument("--load", action="store_true",
                        help="with --serve implied: a load generator and an outage drill for /dashboard/")
    parser.add_argument("--drill", default="25,8,60", metavar="FIRST,DOWN,EVERY",
                        help="with --load: seconds before the first Redis kill, seconds down, seconds between "
                             "drills (default 25,8,60)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C stops the site and the servers even when this process was started with SIGINT
    # ignored (Python then leaves it ignored: a job started with "&" from a script inherits that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(paint("django-altcache demo", "bold") + " — Django's cache API, on django-altcache's backends")
    try:
        with contextlib.ExitStack() as stack:
            start_servers(stack)
            stack.callback(close_connections)  # PostgreSQL's shutdown waits for its clients to leave
            set_up_django()
            status = self_check()
            if args.serve or args.load:
                drill = tuple(float(part) for part in args.drill.split(","))
                if len(drill) != 3:
                    parser.error("--drill takes three numbers: FIRST,DOWN,EVERY")
                serve(args.port, load=args.load, drill=drill)  # type: ignore[arg-type]  # runserver exits through SystemExit on Ctrl-C; the stack still unwinds
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
