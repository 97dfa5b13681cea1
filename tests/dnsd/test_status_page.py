"""The status page's HTML from a real server: content, fragments, escaping, no outside assets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import pytest

from dnsd.config import Config
from dnsd.ops.change_feed import ChangeFeed
from dnsd.ops.http_api import start_http
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState, WatcherReport
from registry import Address, Endpoint, Health, History, NameClaim, Origin, Store, Upsert

HOSTILE = '<script>alert("x")</script>'
HOSTILE_SOURCE = "file:/tmp/<img src=x onerror=alert(1)>.hosts"


def endpoint(cid: str, name: str, ip: str, health: Health = Health.HEALTHY) -> Endpoint:
    return Endpoint(
        "docker", cid, name,
        (NameClaim(name, Origin.CONTAINER_NAME), NameClaim("web", Origin.COMPOSE_SERVICE)),
        (Address(ip, "shop"),), health=health,
    )  # fmt: skip


@dataclass
class Page:
    store: Store
    session: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> tuple[int, str, Mapping[str, str]]:
        async with self.session.get(self.base + path) as response:
            return response.status, await response.text(), response.headers


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    store = Store()
    feed = ChangeFeed(store, History(50))
    report = [WatcherReport("docker", "connected", None, "</td><b>boom</b>", events=3, resyncs=1)]
    state = ServerState(Config(), store, Metrics(), changes=feed, watcher_report=lambda: report)
    state.listeners = ["udp 127.0.0.1:53", "tcp 127.0.0.1:53"]
    store.apply(Upsert(endpoint("1", "web-1", "10.0.3.7"), "docker container start"))
    store.apply(Upsert(endpoint("2", "web-2", "10.0.3.8", Health.UNHEALTHY)))
    hostile = Endpoint(
        HOSTILE_SOURCE, "1", "evil", (NameClaim("evil", Origin.STATIC),),
        (Address("10.9.9.9", HOSTILE),),
    )  # fmt: skip
    store.apply(Upsert(hostile, f"records file {HOSTILE} changed"))
    runner, addresses = await start_http(state, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Page(store, session, f"http://{addresses[0]}")
    finally:
        await runner.cleanup()
        feed.close()


def row(html: str, key: str) -> str:
    match = re.search(rf'<div class="r" data-n="{re.escape(key)}">.*?</div>', html)
    assert match, f"no row for {key}"
    return match.group(0)


async def test_the_page_shows_zone_listeners_sources_names_and_changes(page: Page) -> None:
    status, html, headers = await page.get("/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>dnsd · docker.</title>" in html
    assert "<li>udp 127.0.0.1:53</li>" in html
    assert "<td>docker</td><td>connected</td><td>2</td><td>3</td>" in html
    assert row(html, "web-1") == (
        '<div class="r" data-n="web-1"><b>web-1.docker.</b><span>web-1</span><span>docker</span>'
        "<span>10.0.3.7 (shop)</span><span>healthy</span><span>in</span></div>"
    )
    assert row(html, "web").endswith(
        "<span>healthy<br>unhealthy</span>"
        '<span>in<br><b class="out">out: health is unhealthy</b></span></div>'
    )
    assert '<b class="warn">in: fail-open: every endpoint unhealthy</b>' in row(html, "web-2")
    assert "<td>web-1.docker.</td><td>added</td>" in html
    assert "docker container start" in html
    assert 'data-seq="5"' in html


async def test_every_outside_value_is_escaped(page: Page) -> None:
    _, html, _ = await page.get("/")
    for raw in (HOSTILE, "<img src=x", "<b>boom</b>"):
        assert raw not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "file:/tmp/&lt;img src=x onerror=alert(1)&gt;.hosts" in html
    assert "&lt;/td&gt;&lt;b&gt;boom&lt;/b&gt;" in html
    assert html.count("<script") == 1


async def test_only_the_pages_own_script_and_style_may_run(page: Page) -> None:
    _, html, headers = await page.get("/")
    policy = headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert f'<style nonce="{nonce.group(1)}">' in html
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    _, _, headers_again = await page.get("/")
    assert headers_again["Content-Security-Policy"] != policy


async def test_the_page_loads_nothing_from_elsewhere(page: Page) -> None:
    _, html, _ = await page.get("/")
    assert re.findall(r'\b(?:src|href)="([^"]*)"', html) == ["data:,"]
    assert "http://" not in html and "https://" not in html and "@import" not in html


async def test_rows_fragment_for_named_keys(page: Page) -> None:
    status, html, _ = await page.get("/status/rows?name=web-2&name=nobody")
    assert status == 200
    assert re.findall(r'data-n="([^"]+)"', html) == ["web-2"]
    _, every, _ = await page.get("/status/rows")
    assert re.findall(r'data-n="([^"]+)"', every) == ["evil", "web", "web-1", "web-2"]


async def test_rows_fragment_is_bounded(page: Page) -> None:
    status, _, _ = await page.get("/status/rows?" + "&".join(["name=a"] * 501))
    assert status == 400
    status, _, _ = await page.get("/status/rows?name=" + "a" * 301)
    assert status == 400


async def test_summary_fragment(page: Page) -> None:
    status, html, _ = await page.get("/status/summary")
    assert status == 200
    assert "<dt>names</dt><dd>4</dd>" in html
    assert "<dt>history kept</dt><dd>last 50 changes</dd>" in html
    assert html.startswith("<div><h2>Server</h2>")


async def test_the_page_is_compressed_when_the_client_accepts_it(page: Page) -> None:
    async with page.session.get(page.base + "/", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert '<div id="names">' in await response.text()
