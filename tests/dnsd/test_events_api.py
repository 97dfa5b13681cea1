"""GET /v1/events against a real server on 127.0.0.1: the history, filters, and live followers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from dnsd.config import Config
from dnsd.ops.change_feed import ChangeFeed
from dnsd.ops.http_api import start_http
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState
from dnsd.ops.times import parse_time
from registry import (
    Address,
    Endpoint,
    Health,
    History,
    NameClaim,
    Origin,
    Remove,
    Resync,
    Store,
    Upsert,
)

NOW = 1_795_850_000.0  # 2026-11-28T07:13:20Z


def api(cid: str, ip: str, health: Health = Health.HEALTHY) -> Endpoint:
    return Endpoint(
        "docker", cid, f"shop-api-{cid}",
        (NameClaim(f"shop-api-{cid}", Origin.CONTAINER_NAME), NameClaim("api", Origin.ALIAS)),
        (Address(ip, "shop"),), health=health,
    )  # fmt: skip


@dataclass
class Server:
    store: Store
    feed: ChangeFeed
    session: aiohttp.ClientSession
    base: str
    clock: list[float]

    async def get(self, query: str) -> tuple[int, dict[str, object]]:
        async with self.session.get(self.base + "/v1/events" + query) as response:
            return response.status, await response.json()

    def at(self, seconds: float, *events: Upsert | Remove) -> None:
        self.clock[0] = seconds
        for event in events:
            self.store.apply(event)


async def serving(
    history: int = 1000, followers: int = 4, buffer: int = 100
) -> AsyncIterator[Server]:
    store, clock = Store(), [NOW]
    feed = ChangeFeed(store, History(history), lambda: clock[0], followers, buffer)
    state = ServerState(Config(), store, Metrics(), changes=feed)
    runner, addresses = await start_http(state, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Server(store, feed, session, f"http://{addresses[0]}", clock)
    finally:
        await runner.cleanup()
        feed.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async for value in serving():
        yield value


def story(server: Server) -> None:
    """api is two healthy containers; at NOW+60 the first turns unhealthy, at NOW+61 it dies."""
    server.at(NOW, Upsert(api("1", "10.0.3.7"), "docker container start"))
    server.at(NOW + 1, Upsert(api("2", "10.0.3.8"), "docker container start"))
    server.at(NOW + 60, Upsert(api("1", "10.0.3.7", Health.UNHEALTHY), "docker health_status"))
    server.at(NOW + 61, Remove("docker", "1", "docker container die (exit code 137)"))


def summary(body: dict[str, object]) -> list[tuple[object, ...]]:
    events = body["events"]
    assert isinstance(events, list)
    return [(e["seq"], e["fqdn"], e["change"], e["endpoint"], e["answer"]) for e in events]


async def test_the_history_says_what_changed_when_and_why(server: Server) -> None:
    story(server)
    status, body = await server.get("?name=api")
    assert status == 200
    assert summary(body) == [
        (1, "api.docker.", "added", "shop-api-1", ["10.0.3.7"]),
        (3, "api.docker.", "added", "shop-api-2", ["10.0.3.7", "10.0.3.8"]),
        (5, "api.docker.", "out-of-rotation", "shop-api-1", ["10.0.3.8"]),
        (7, "api.docker.", "removed", "shop-api-1", ["10.0.3.8"]),
    ]
    events = body["events"]
    assert isinstance(events, list)
    assert events[-1] == {
        "seq": 7, "time": NOW + 61, "time_text": "2026-11-28T07:14:21.000Z",
        "name": "api", "fqdn": "api.docker.", "change": "removed",
        "detail": "10.0.3.7 on shop", "endpoint": "shop-api-1", "id": "1", "source": "docker",
        "reason": "docker container die (exit code 137)", "answer": ["10.0.3.8"],
    }  # fmt: skip
    assert (body["first_seq"], body["last_seq"], body["history_size"]) == (1, 8, 1000)


async def test_records_made_when_read_are_the_json_records_made_for_followers() -> None:
    """Nobody following, the history makes its records only when read; the JSON is the same
    as when a follower made every record at once (answers, fail-open notes, resync drops)."""
    bodies = []
    for followed in (False, True):
        async for server in serving():
            if followed:
                server.feed.follow(lambda change: True)
            story(server)
            server.at(NOW + 70, Upsert(api("2", "10.0.3.8", Health.UNHEALTHY), "health"))
            server.clock[0] = NOW + 80
            server.store.apply(Resync("docker", (api("3", "10.0.3.9"),), "docker resync"))
            bodies.append((await server.get(""))[1])
    assert bodies[0] == bodies[1]
    text = json.dumps(bodies[0])
    assert "fail-open" in text and "(gone from the source)" in text


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ("", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("?name=api.docker.", [1, 3, 5, 7]),
        ("?name=API.docker", [1, 3, 5, 7]),
        ("?name=shop-*", [2, 4, 6, 8]),
        ("?name=*.docker.&limit=2", [7, 8]),
        (f"?since={NOW + 60}", [5, 6, 7, 8]),
        ("?since=2026-11-28T07:14:00Z&until=2026-11-28T07:14:20.5Z", [5, 6]),
        ("?name=api&since=07:14", [5, 7]),
        ("?after=6", [7, 8]),
        ("?name=nobody", []),
    ],
)
async def test_history_filters(server: Server, query: str, seqs: list[int]) -> None:
    story(server)
    status, body = await server.get(query)
    assert status == 200, body
    assert [row[0] for row in summary(body)] == seqs


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?since=banana", "since: 'banana' is not a time; use epoch seconds"),
        ("?until=99x", "until: '99x' is not a time"),
        ("?limit=0", "limit '0': expected a whole number 1-1000"),
        ("?limit=many", "limit 'many': expected a whole number"),
        ("?follow=maybe", "follow 'maybe': expected 1 or 0"),
        ("?follow=1&until=10m", "until cannot be combined with follow"),
        ("?name=not..a..name", "is not a DNS name or a glob"),
    ],
)
async def test_bad_queries_get_400_naming_the_parameter(
    server: Server, query: str, message: str
) -> None:
    status, body = await server.get(query)
    assert status == 400
    assert message in str(body["error"])


async def test_a_server_without_history_says_so() -> None:
    state = ServerState(Config(), Store(), Metrics())
    runner, addresses = await start_http(state, "127.0.0.1", 0)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{addresses[0]}/v1/events") as response,
        ):
            assert response.status == 404
            assert "no change history" in (await response.json())["error"]
    finally:
        await runner.cleanup()


# -- following ------------------------------------------------------------------------


class Stream:
    """Reads `event:`/`data:` frames from a text/event-stream response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def frame(self) -> tuple[str, dict[str, object]]:
        kind, data = "message", ""
        while True:
            line = (await asyncio.wait_for(self.response.content.readline(), 10)).decode()
            if line == "":
                return "eof", {}
            line = line.rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                return kind, json.loads(data)


async def follow(server: Server, query: str = "", headers: dict[str, str] | None = None) -> Stream:
    response = await server.session.get(
        server.base + "/v1/events?follow=1" + query, headers=headers
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    await asyncio.sleep(0.05)  # let the handler register before the test changes anything
    return Stream(response)


async def test_a_follower_sees_new_changes_for_its_name_as_they_happen(server: Server) -> None:
    stream = await follow(server, "&name=api")
    server.at(NOW, Upsert(api("1", "10.0.3.7"), "docker container start"))
    kind, change = await stream.frame()
    assert (kind, change["fqdn"], change["change"], change["reason"]) == (
        "change", "api.docker.", "added", "docker container start",
    )  # fmt: skip
    server.at(NOW + 1, Remove("docker", "1", "docker container die"))
    kind, change = await stream.frame()
    assert (kind, change["change"], change["answer"]) == ("change", "removed", [])


async def test_since_replays_the_history_before_following(server: Server) -> None:
    story(server)
    stream = await follow(server, f"&name=api&since={NOW + 60}")
    assert [(await stream.frame())[1]["seq"] for _ in range(2)] == [5, 7]
    server.at(NOW + 90, Upsert(api("3", "10.0.3.9")))
    assert (await stream.frame())[1]["seq"] == 9


async def test_a_reconnecting_client_resumes_after_its_last_event_id(server: Server) -> None:
    story(server)
    stream = await follow(server, "&after=2", headers={"Last-Event-ID": "6"})
    assert [(await stream.frame())[1]["seq"] for _ in range(2)] == [7, 8]


async def test_resuming_after_changes_that_left_the_history_reports_a_gap() -> None:
    async for server in serving(history=3):
        story(server)  # 8 changes, 6..8 kept
        stream = await follow(server, "&after=2")
        assert await stream.frame() == ("gap", {"after": 2, "first_seq": 6})
        assert (await stream.frame())[1]["seq"] == 6


async def test_followers_are_bounded() -> None:
    async for server in serving(followers=2):
        streams = [await follow(server), await follow(server)]
        async with server.session.get(server.base + "/v1/events?follow=1") as response:
            assert response.status == 503
            assert "2 followers of /v1/events already" in (await response.json())["error"]
        streams[0].response.close()
        server.at(NOW, Upsert(api("1", "10.0.3.7")))  # the server notices the closed one
        await asyncio.sleep(0.2)
        assert server.feed.followers == 1
        assert (await follow(server)).response.status == 200


async def test_a_slow_follower_is_dropped_not_grown() -> None:
    async for server in serving(buffer=3):
        stream = await follow(server)
        # 4 changes arrive before the follower can send any: more than its buffer holds.
        server.at(NOW, Upsert(api("1", "10.0.3.7")), Upsert(api("2", "10.0.3.8")))
        kind, body = await stream.frame()
        assert kind == "dropped"
        assert "fell more than 3 changes behind" in str(body["error"])
        assert (await stream.frame())[0] == "eof"
        assert server.feed.followers == 0


async def test_shutting_down_ends_every_follower() -> None:
    async for server in serving():
        stream = await follow(server)
        server.feed.end_followers()
        assert (await stream.frame())[0] == "eof"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795850000", NOW),
        ("1795850000.25", NOW + 0.25),
        ("2026-11-28T07:13:20Z", NOW),
        ("2026-11-28T07:13:20", NOW),
        ("2026-11-28T08:13:20+01:00", NOW),
        ("07:13:20", NOW),
        ("7:13", NOW - 20),
        ("07:14", NOW + 40 - 86400),  # later today means yesterday
        ("90s", NOW - 90),
        ("10m", NOW - 600),
        ("2h", NOW - 7200),
        ("1d", NOW - 86400),
    ],
)
def test_times_users_type(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "soon", "10 m", "25:00", "-5m", "2026-13-01"])
def test_unreadable_times_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="use epoch seconds, 2026-11-28T14:02:00Z, 14:02"):
        parse_time(text, NOW)
