"""Why the registry changed: Docker event JSON -> the reason kept in the change history."""

from __future__ import annotations

import asyncio
import re

import pytest

from registry import Event, Remove, Upsert
from tests.docker_support import DockerLab, Watched, cli, eventually
from watchers.docker_events import REASON_LIMIT, describe_event
from watchers.docker_translate import Json

NANOS = 1795800739016574380  # 2026-11-27T17:32:19.016Z


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {"Type": "container", "Action": "die", "timeNano": NANOS,
             "Actor": {"ID": "c1", "Attributes": {"exitCode": "137", "name": "api"}}},
            "docker container die (exit code 137) at 2026-11-27T17:32:19.016Z",
        ),
        (
            {"Type": "container", "Action": "health_status: unhealthy", "time": 1795800739},
            "docker container health_status: unhealthy at 2026-11-27T17:32:19.000Z",
        ),
        (
            {"Type": "network", "Action": "connect", "timeNano": NANOS,
             "Actor": {"Attributes": {"container": "c1", "name": "shop_default"}}},
            "docker network connect to shop_default at 2026-11-27T17:32:19.016Z",
        ),
        (
            {"Type": "network", "Action": "disconnect",
             "Actor": {"Attributes": {"container": "c1", "name": "shop_default"}}},
            "docker network disconnect from shop_default",
        ),
        ({"Type": "container", "Action": "start", "time": "garbage"}, "docker container start"),
        ({"Type": "container", "Action": "start", "time": 10**30}, "docker container start"),
    ],
)  # fmt: skip
def test_reason_names_the_engine_event_and_its_time(event: Json, reason: str) -> None:
    assert describe_event(event) == reason


def test_engine_supplied_text_is_bounded() -> None:
    event = {
        "Type": "network",
        "Action": "connect" * 100,
        "Actor": {"Attributes": {"name": "n" * 999}},
    }
    assert len(describe_event(event)) <= REASON_LIMIT


@pytest.mark.docker
async def test_engine_events_carry_their_reason(watched: Watched, lab: DockerLab) -> None:
    seen: list[Event] = []  # what the watcher yields: the store does not announce no-op upserts
    apply = watched.supervisor._apply

    def record(event: Event) -> object:
        seen.append(event)
        return apply(event)

    watched.supervisor._apply = record
    network = await asyncio.to_thread(lab.network, "why")  # not the default bridge
    name = await asyncio.to_thread(lab.run, "why", "--network", network)
    container_id = (await cli("inspect", "--format", "{{.Id}}", name)).strip()

    def reasons(kind: type[Upsert] | type[Remove]) -> list[str]:
        return [
            e.reason
            for e in seen
            if isinstance(e, kind)
            and (e.endpoint.id if isinstance(e, Upsert) else e.id) == container_id
        ]

    started = re.compile(r"docker (container start|network connect to \S+) at \S+Z")
    await eventually(lambda: any(map(started.fullmatch, reasons(Upsert))), f"{name} started")
    await eventually(  # the start event handled: from here, the kill is what removes it
        lambda: any(r.startswith("docker container start") for r in reasons(Upsert)), "start"
    )
    await cli("kill", name)
    await eventually(lambda: reasons(Remove), f"a remove for {name}")
    assert re.fullmatch(
        r"docker container (kill|die \(exit code 137\)) at \S+Z(; not running any more)?",
        reasons(Remove)[0],
    )
