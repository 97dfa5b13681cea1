"""The HTTP API against a real server on 127.0.0.1 (ephemeral port), with aiohttp's client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dnsd import __version__
from dnsd.config import Config
from dnsd.ops.http_api import exposure_warning, start_http
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState, WatcherReport
from registry import Address, Endpoint, Health, NameClaim, Origin, Resync, Store

TOKEN = "s3cret"


@dataclass
class Api:
    state: ServerState
    session: aiohttp.ClientSession
    base: str
    synced: list[bool]

    async def get(self, path: str) -> tuple[int, object]:
        async with self.session.get(self.base + path) as response:
            return response.status, await response.json()

    async def send(
        self, method: str, path: str, body: object = None, token: str | None = TOKEN
    ) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()


def web(cid: str, ip: str, health: Health) -> Endpoint:
    return Endpoint(
        "docker", cid, f"shop-web-{cid}",
        (NameClaim(f"shop-web-{cid}", Origin.CONTAINER_NAME), NameClaim("web", Origin.ALIAS)),
        (Address(ip, "shop_default"),), health=health, networks=("shop_default",),
    )  # fmt: skip


async def running(config: Config) -> AsyncIterator[Api]:
    store = Store()
    store.apply(
        Resync(
            "docker", (web("1", "10.0.3.7", Health.HEALTHY), web("2", "10.0.3.8", Health.UNHEALTHY))
        )
    )
    synced = [False]
    report: Callable[[], list[WatcherReport]] = lambda: [  # noqa: E731
        WatcherReport("docker", "connected" if synced[0] else "resyncing", synced_once=synced[0])
    ]
    state = ServerState(config, store, Metrics(), watcher_report=report)
    state.listeners, state.dns_bound = ["127.0.0.1:5353"], True
    runner, addresses = await start_http(state, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(state, session, f"http://{addresses[0]}", synced)
    finally:
        await runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for value in running(Config(api_token=TOKEN)):
        yield value


@pytest.fixture
async def api_without_token() -> AsyncIterator[Api]:
    async for value in running(Config()):
        yield value


async def test_health_reports_version_listeners_watchers_and_records(api: Api) -> None:
    status, body = await api.get("/health")
    assert status == 200
    assert isinstance(body, dict)
    assert body["version"] == __version__
    assert body["listeners"] == ["127.0.0.1:5353"]
    assert body["watchers"][0]["source"] == "docker"
    assert body["records"] == 3
    assert body["uptime_seconds"] >= 0


async def test_health_is_503_while_dns_is_not_bound(api: Api) -> None:
    api.state.dns_bound = False
    status, _ = await api.get("/health")
    assert status == 503


async def test_ready_waits_for_the_first_sync(api: Api) -> None:
    status, body = await api.get("/ready")
    assert (status, body) == (503, {"ready": False, "waiting_for": ["docker"]})
    api.synced[0] = True
    status, body = await api.get("/ready")
    assert (status, body) == (200, {"ready": True})


async def test_records_explain_why_a_name_resolves(api: Api) -> None:
    status, body = await api.get("/v1/records/web.docker.")
    assert status == 200
    assert isinstance(body, dict)
    assert body["answer"] == ["10.0.3.7"]
    reasons = {e["container"]: (e["in_rotation"], e["reason"]) for e in body["endpoints"]}
    assert reasons == {"shop-web-1": (True, ""), "shop-web-2": (False, "health is unhealthy")}
    assert body["endpoints"][0]["origins"] == ["network-alias"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["shop-web-1", "shop-web-2", "web"]),
        ("?name=web", ["web"]),
        ("?container=shop-web-2", ["shop-web-2", "web"]),
        ("?network=elsewhere", []),
    ],
)
async def test_records_filters(api: Api, query: str, names: list[str]) -> None:
    status, body = await api.get("/v1/records" + query)
    assert status == 200
    assert isinstance(body, dict)
    assert [r["name"] for r in body["records"]] == names


async def test_containers(api: Api) -> None:
    status, body = await api.get("/v1/containers")
    assert status == 200
    assert isinstance(body, dict)
    assert [(c["container"], c["addresses"][0]["ip"]) for c in body["containers"]] == [
        ("shop-web-1", "10.0.3.7"),
        ("shop-web-2", "10.0.3.8"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v1/records/nope", 404, "no such name: nope"),
        ("GET", "/nowhere", 404, "no such endpoint: /nowhere"),
        ("POST", "/health", 405, "method POST is not allowed on /health; allowed: GET"),
        ("DELETE", "/v1/records/web", 405, "method DELETE is not allowed on /v1/records/web; "
                                           "allowed: GET"),
    ],
)  # fmt: skip
async def test_errors_are_json(api: Api, method: str, path: str, status: int, message: str) -> None:
    assert await api.send(method, path) == (status, {"error": message})


async def test_metrics_parse_and_count_the_registry(api: Api) -> None:
    api.state.metrics.queries[("A", "NOERROR", "local")] += 1
    async with api.session.get(api.base + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert values[("dnsd_registry_names", ())] == 3
    labels = (("qtype", "A"), ("rcode", "NOERROR"), ("source", "local"))
    assert values[("dnsd_queries_total", labels)] == 1


async def test_static_record_lifecycle(api: Api) -> None:
    body = {"addresses": ["10.1.2.3", "fd00::3"], "ports": [{"port": 8080, "name": "http"}]}
    status, view = await api.send("PUT", "/v1/static/legacy.docker.", body)
    assert status == 201
    assert isinstance(view, dict)
    assert view["answer"] == ["10.1.2.3", "fd00::3"]
    assert view["endpoints"][0]["origins"] == ["static"]
    assert api.state.store.snapshot.resolve("legacy").addresses == ("10.1.2.3", "fd00::3")
    status, _ = await api.send("PUT", "/v1/static/legacy", {"addresses": ["10.1.2.4"]})
    assert status == 200
    assert api.state.store.snapshot.resolve("legacy").addresses == ("10.1.2.4",)
    assert await api.send("DELETE", "/v1/static/legacy") == (200, {"deleted": "legacy"})
    assert not api.state.store.snapshot.has_name("legacy")
    status, _ = await api.send("DELETE", "/v1/static/legacy")
    assert status == 404


async def test_a_dotted_static_name_outside_the_zone_is_absolute(api: Api) -> None:
    status, view = await api.send("PUT", "/v1/static/db.internal", {"addresses": ["10.5.5.5"]})
    assert status == 201
    assert isinstance(view, dict)
    assert (view["name"], view["fqdn"]) == ("db.internal.", "db.internal.")
    assert await api.send("DELETE", "/v1/static/db.internal.") == (200, {"deleted": "db.internal."})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '"addresses" must be a non-empty list of IP addresses'),
        ({"addresses": ["not-an-ip"]}, "does not appear to be an IPv4 or IPv6 address"),
        ({"addresses": ["10.0.0.1"], "ttl": 60}, '"ttl" is not supported'),
        ({"addresses": ["10.0.0.1"], "colour": 1}, "unknown fields: colour"),
        ({"addresses": ["10.0.0.1"], "ports": [{"port": 0}]}, "port must be 1-65535"),
        (["10.0.0.1"], "expected a JSON object"),
    ],
)
async def test_static_record_validation(api: Api, body: object, message: str) -> None:
    status, reply = await api.send("PUT", "/v1/static/bad", body)
    assert status == 400
    assert isinstance(reply, dict)
    assert message in reply["error"]
    assert not api.state.store.snapshot.has_name("bad")


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_static_records_need_the_bearer_token(api: Api, token: str | None) -> None:
    status, reply = await api.send("PUT", "/v1/static/x", {"addresses": ["10.0.0.1"]}, token)
    assert status == 401
    assert isinstance(reply, dict)
    assert "bearer token" in reply["error"]
    assert not api.state.store.snapshot.has_name("x")


async def test_static_routes_do_not_exist_without_a_token(api_without_token: Api) -> None:
    status, _ = await api_without_token.send("PUT", "/v1/static/x", {"addresses": ["10.0.0.1"]})
    assert status == 404


@pytest.mark.parametrize(
    ("host", "token", "warns"),
    [
        ("127.0.0.1", None, False),
        ("::1", None, False),
        ("localhost", None, False),
        ("0.0.0.0", None, True),
        ("172.17.0.1", None, True),
        ("0.0.0.0", "t", False),
    ],
)
def test_exposure_warning(host: str, token: str | None, warns: bool) -> None:
    assert (exposure_warning(host, token) is not None) is warns
