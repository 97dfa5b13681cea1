"""Issue 9: the HTTP API bounds what a client can make it hold (bodies, URLs, headers,
slow and idle connections, connection count), against a real server on loopback."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dnsd.config import Config
from dnsd.ops.http_api import start_http
from dnsd.ops.http_bounds import HttpBounds
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState
from registry import Store

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SMALL = HttpBounds(max_connections=8, request_seconds=0.5, body_seconds=0.5, max_static_records=3)


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, int]]:
    state = ServerState(Config(api_token=TOKEN), Store(), Metrics())
    state.dns_bound = True
    runner, addresses = await start_http(state, "127.0.0.1", 0, SMALL)
    host, port = addresses[0].rsplit(":", 1)
    try:
        yield host, int(port)
    finally:
        await runner.cleanup()


async def request(address: tuple[str, int], raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()
    return data


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


async def put(address: tuple[str, int], name: str, body: bytes) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"http://{address[0]}:{address[1]}/v1/static/{name}", data=body,
                    headers=AUTH) as response,
    ):  # fmt: skip
        return response.status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"addresses": ["10.1.2.3"]}, 201),
        ({"addresses": ["10.1.2.3"] * 257}, 400),  # more addresses than a record may hold
        ({"addresses": ["10.1.2.3"], "ports": [80] * 257}, 400),
        ({"addresses": [f"10.0.0.{i}" for i in range(250)], "pad": "x" * 70_000}, 413),
    ],
)  # fmt: skip
async def test_put_static_bodies_are_bounded(
    api: tuple[str, int], body: object, expected: int
) -> None:
    assert await put(api, "legacy", json.dumps(body).encode()) == expected


async def test_manual_records_are_bounded_in_number(api: tuple[str, int]) -> None:
    body = json.dumps({"addresses": ["10.1.2.3"]}).encode()
    assert [await put(api, f"r{i}", body) for i in range(4)] == [201, 201, 201, 507]
    assert await put(api, "r0", body) == 200  # replacing one is still fine


async def test_a_body_that_trickles_gets_408(api: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*api)
    writer.write(
        b"PUT /v1/static/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    data = await asyncio.wait_for(reader.readline(), 5.0)  # the status line, then it lingers
    writer.close()
    assert status(data) == 408


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GET /health?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-H: 1\r\n" * 70 + b"\r\n", 400),
    ],
    ids=["query-string", "header-line", "header-count"],
)
async def test_huge_urls_and_headers_are_refused(
    api: tuple[str, int], raw: bytes, expected: int
) -> None:
    assert status(await request(api, raw)) == expected


async def test_half_sent_request_is_closed(api: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*api)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed by the server
    writer.close()


async def test_many_idle_connections_do_not_shut_out_a_new_client() -> None:
    state = ServerState(Config(), Store(), Metrics())
    state.dns_bound = True
    bounds = HttpBounds(max_connections=8, request_seconds=60.0)  # only the cap can close them
    runner, addresses = await start_http(state, "127.0.0.1", 0, bounds)
    host, port = addresses[0].rsplit(":", 1)
    try:
        slow = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        for _, writer in slow:
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never end
            await writer.drain()
        fresh = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert status(await request((host, int(port)), fresh)) == 200
        evicted = [await asyncio.wait_for(r.read(), 5.0) == b"" for r, _ in slow[:12]]
        assert all(evicted)  # the oldest were closed to make room, newest kept
        assert len(runner.server.connections) <= 8  # type: ignore[union-attr]
        for _, writer in slow:
            writer.close()
    finally:
        await runner.cleanup()


async def test_list_filters_are_bounded(api: tuple[str, int]) -> None:
    long = (
        b"GET /v1/records?name=" + b"a" * 256 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status(await request(api, long)) == 400
    cached = fnmatch._compile_pattern.cache_info().currsize  # type: ignore[attr-defined]
    for i in range(50):  # unique globs must not pile up in fnmatch's 32,768-entry cache
        line = f"GET /v1/records?name=*{i}*{'?' * 200} HTTP/1.1\r\n"
        raw = line.encode() + b"Host: x\r\nConnection: close\r\n\r\n"
        assert status(await request(api, raw)) == 200
    assert fnmatch._compile_pattern.cache_info().currsize == cached  # type: ignore[attr-defined]
