"""Benchmark: the status page with many names (not a test, prints a table).

  python -m bench.status_page                 # 10,000 names, in-process server on loopback
  python -m bench.status_page --names 1000 --no-browser

Builds a registry of N Compose-style containers (two names each, one in three
unhealthy) and a full change history, serves the HTTP API on 127.0.0.1, and
measures: page size (plain and gzip), server time to render `GET /` and one
`/status/rows` fragment, and, in Debian's headless Chromium, the time to load
and lay out the page, to apply a filter keystroke, and for a new name to appear
after the registry changes (registry -> SSE -> fragment -> row). Traffic stays
on loopback; Chromium resolves no host names.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from dnsd.config import Config
from dnsd.ops.change_feed import ChangeFeed
from dnsd.ops.http_api import start_http
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState
from registry import Address, Endpoint, Health, History, NameClaim, Origin, Resync, Store, Upsert

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HEALTH = (Health.HEALTHY, Health.HEALTHY, Health.UNHEALTHY)


def container(i: int) -> Endpoint:
    service = f"svc{i // 3}"
    return Endpoint(
        "docker",
        f"{i:064x}",
        f"shop-{service}-{i % 3 + 1}",
        (
            NameClaim(f"shop-{service}-{i % 3 + 1}", Origin.CONTAINER_NAME),
            NameClaim(service, Origin.COMPOSE_SERVICE),
        ),
        (Address(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "shop_default"),),
        health=HEALTH[i % 3],
        project="shop",
    )


def fill(store: Store, names: int) -> None:
    """One resync with enough containers for `names` names (4 names per 3 containers)."""
    count = names * 3 // 4
    store.apply(Resync("docker", tuple(container(i) for i in range(count)), "first sync"))


def fetch(url: str, gzip_ok: bool = False) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - start, body


def browser_figures(base: str, store: Store, loop: asyncio.AbstractEventLoop) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,900", "--disable-background-networking",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(base + "/")
        nav: Any = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [n.responseEnd, n.domContentLoadedEventEnd, n.loadEventEnd];"
        )
        filter_ms = driver.execute_async_script(
            "const done = arguments[0], box = document.getElementById('filter');"
            "const shown = document.getElementById('shown'), before = shown.textContent;"
            "const t0 = performance.now(); box.value = 'svc42';"
            "box.dispatchEvent(new Event('input'));"
            "(function poll() { if (shown.textContent !== before)"
            " done(performance.now() - t0 - 60); else requestAnimationFrame(poll); })();"
        )
        driver.execute_script("document.getElementById('filter').value = '';")
        start = time.perf_counter()
        loop.call_soon_threadsafe(store.apply, Upsert(container(10**6), "bench"))
        while not driver.execute_script(
            "return !!document.querySelector('#names > div[data-n=\"svc333333\"]')"
        ):
            time.sleep(0.005)
        live_ms = (time.perf_counter() - start) * 1000
    finally:
        driver.quit()
    return {
        "browser: response received (ms)": nav[0],
        "browser: DOMContentLoaded (ms)": nav[1],
        "browser: load event (ms)": nav[2],
        "browser: filter keystroke to result, minus 60 ms debounce (ms)": filter_ms,
        "browser: registry change to new row on the page (ms)": live_ms,
    }


async def main(names: int, browser: bool) -> None:
    store = Store()
    feed = ChangeFeed(store, History(1000))
    fill(store, names)
    state = ServerState(Config(), store, Metrics(), changes=feed)
    runner, addresses = await start_http(state, "127.0.0.1", 0)
    base = f"http://{addresses[0]}"
    try:
        figures = await asyncio.to_thread(server_figures, base)
        figures["names"] = float(len(store.snapshot.names()))
        figures["endpoints"] = float(len(store.snapshot.endpoints))
        if browser and CHROMIUM.exists() and CHROMEDRIVER.exists():
            loop = asyncio.get_running_loop()
            figures |= await asyncio.to_thread(browser_figures, base, store, loop)
    finally:
        await runner.cleanup()
        feed.close()
    for key, value in figures.items():
        print(f"{key:<66} {value:>12,.1f}")


def server_figures(base: str) -> dict[str, float]:
    times = [fetch(base + "/")[0] for _ in range(5)]
    _, plain = fetch(base + "/")
    gz_time, zipped = fetch(base + "/", gzip_ok=True)
    rows = [fetch(base + "/status/rows?name=svc42")[0] for _ in range(20)]
    return {
        "page bytes": float(len(plain)),
        "page bytes gzip": float(len(zipped)),
        "page gzip ratio check (bytes after gunzip)": float(len(gzip.decompress(zipped))),
        "GET / median of 5, plain (ms)": statistics.median(times) * 1000,
        "GET / gzip (ms)": gz_time * 1000,
        "GET /status/rows?name=svc42 median of 20 (ms)": statistics.median(rows) * 1000,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.names, not args.no_browser))
