"""The CLI client as a user runs it: `python -m dnsd ls|explain|query` against running servers.

The HTTP API runs for real in a background thread (its own event loop) on an
ephemeral loopback port; `dnsd query` asks a tiny dnslib stub on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from dnsd.config import Config
from dnsd.ops.http_api import start_http
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState
from registry import Address, Endpoint, Health, NameClaim, Origin, Port, Resync, Store
from tests.serve_process import Served, dnsd_serve


def dnsd(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "DNSD_API"}
    return subprocess.run(
        [sys.executable, "-m", "dnsd", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


def endpoints() -> tuple[Endpoint, ...]:
    def web(n: int, health: Health) -> Endpoint:
        return Endpoint(
            "docker", f"{n}bcdef0123456789", f"shop-web-{n}",
            (NameClaim(f"shop-web-{n}", Origin.CONTAINER_NAME),
             NameClaim("web", Origin.COMPOSE_SERVICE)),
            (Address(f"10.0.3.{n}", "shop_default"),), (Port(80),), health=health,
        )  # fmt: skip

    return (web(7, Health.HEALTHY), web(8, Health.UNHEALTHY))


class BackgroundApi:
    """A real HTTP API on 127.0.0.1:<free port>, run by its own loop in a thread."""

    def __init__(self) -> None:
        store = Store()
        store.apply(Resync("docker", endpoints()))
        self.state = ServerState(Config(), store, Metrics(), dns_bound=True)
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner, addresses = await start_http(self.state, "127.0.0.1", 0)
        self.url = f"http://{addresses[0]}"
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> BackgroundApi:
        self._thread.start()
        assert self._ready.wait(30), "the HTTP API did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with BackgroundApi() as server:
        yield server.url


def test_ls_prints_a_table_of_names(api: str) -> None:
    result = dnsd("ls", "--api", api)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "HEALTH", "CONTAINER", "STATUS"]
    rows = [line.split(None, 4) for line in lines[1:]]
    assert ["web.docker.", "10.0.3.7", "healthy", "shop-web-7", "in rotation"] in rows
    assert [
        "web.docker.",
        "10.0.3.8",
        "unhealthy",
        "shop-web-8",
        "out (health is unhealthy)",
    ] in rows
    assert len(rows) == 4


def test_ls_json_for_scripts_and_filters(api: str) -> None:
    result = dnsd("ls", "--json", "--name", "web", env={"DNSD_API": api})
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == ["web"]
    assert records[0]["answer"] == ["10.0.3.7"]


def test_explain_tells_why(api: str) -> None:
    result = dnsd("explain", "web.docker.", "--api", api)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "web.docker. (name key 'web')" in text
    assert "answers: 10.0.3.7" in text
    assert "shop-web-7 [docker/7bcdef012345] claims it as compose-service" in text
    assert "address 10.0.3.8 on network shop_default" in text
    assert "health unhealthy, OUT of rotation: health is unhealthy" in text


def test_explain_unknown_name(api: str) -> None:
    result = dnsd("explain", "nope", "--api", api)
    assert result.returncode == 1
    assert result.stderr.strip() == "dnsd explain: no such name: nope"


@pytest.mark.parametrize("command", [["ls"], ["explain", "web"]])
def test_unreachable_server_is_one_clear_line(command: list[str]) -> None:
    url = "http://127.0.0.1:9"  # discard port: nothing listens there
    result = dnsd(*command, "--api", url)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach the dnsd HTTP API at {url}" in line
    assert "dnsd serve" in line and "--api" in line


class StubResolver(BaseResolver):  # type: ignore[misc]
    """Answers every A question with 10.9.8.7."""

    def resolve(self, request: object, handler: DNSHandler) -> object:
        reply = request.reply()  # type: ignore[attr-defined]
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("10.9.8.7"), ttl=5))  # type: ignore[attr-defined]
        return reply


@pytest.fixture(scope="module", params=[False, True], ids=["udp", "tcp"])
def dns_stub(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    server = DNSServer(StubResolver(), address="127.0.0.1", port=0, tcp=request.param)
    server.start_thread()
    port = server.server.server_address[1]
    yield f"127.0.0.1:{port}", request.param
    server.stop()


def test_query_is_a_tiny_dig(dns_stub: tuple[str, bool]) -> None:
    server, tcp = dns_stub
    result = dnsd("query", "web.docker", "A", "--server", server, *(["--tcp"] if tcp else []))
    assert result.returncode == 0, result.stderr
    assert "status: NOERROR" in result.stdout
    assert "web.docker.             5       IN      A       10.9.8.7" in result.stdout


def test_query_without_a_server_says_so() -> None:
    result = dnsd("query", "web", "--server", "127.0.0.1:9", "--timeout", "0.5")
    assert result.returncode == 1
    assert "no reply from 127.0.0.1:9 over UDP" in result.stderr


def test_query_rejects_an_unknown_type() -> None:
    result = dnsd("query", "web", "BOGUS")
    assert result.returncode == 2
    assert "unknown record type 'BOGUS'" in result.stderr


@pytest.mark.parametrize("command", ["ls", "explain", "query"])
def test_every_command_has_help(command: str) -> None:
    result = dnsd(command, "--help")
    assert result.returncode == 0
    assert f"usage: dnsd {command}" in result.stdout


# -- against the real `dnsd serve` ---------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    records = tmp_path / "records.hosts"
    records.write_text("10.20.0.1 legacy\n10.20.0.2 legacy\n")
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path, http=True) as server:
        yield server


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_query_against_dnsd_serve(served: Served, tcp: bool) -> None:
    server = f"127.0.0.1:{served.port}"
    result = dnsd("query", "legacy.docker", "--server", server, *(["--tcp"] if tcp else []))
    assert result.returncode == 0, result.stderr
    assert "status: NOERROR" in result.stdout
    assert "10.20.0.1" in result.stdout and "10.20.0.2" in result.stdout
    missing = dnsd("query", "nothing-here.docker", "AAAA", "--server", server)
    assert missing.returncode == 0
    assert "status: NXDOMAIN" in missing.stdout


def test_ls_and_explain_against_dnsd_serve(served: Served) -> None:
    api = f"http://127.0.0.1:{served.http_port}"
    ls = dnsd("ls", "--api", api)
    assert ls.returncode == 0, ls.stderr
    rows = [line.split()[:2] for line in ls.stdout.splitlines()[1:]]
    assert rows == [["legacy.docker.", "10.20.0.1"], ["legacy.docker.", "10.20.0.2"]]
    explained = dnsd("explain", "legacy", "--api", api)
    assert explained.returncode == 0, explained.stderr
    assert "answers: 10.20.0.1, 10.20.0.2" in explained.stdout
    assert "claims it as static" in explained.stdout
