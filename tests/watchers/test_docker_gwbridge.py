"""docker_gwbridge from real inspect shapes: whose address is which, which events may move it,
and the endpoint that carries it as a client-only address (no engine here).

`fixtures/swarm/gwbridge_network.json` is `docker network inspect docker_gwbridge` captured
from a private swarm engine with one container on an attachable overlay; its container id was
replaced by the id of the captured task container (`web_task_container.json`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry import Address
from watchers.docker_events import moves_gwbridge
from watchers.docker_gwbridge import Addresses, GatewayBridge
from watchers.docker_networks import gwbridge_addresses, has_gwbridge
from watchers.docker_translate import endpoint_from_inspect, overlays_of
from watchers.swarm_translate import SwarmState, endpoints_of

SWARM = Path(__file__).parent / "fixtures" / "swarm"
TASK_ID = "9dc7a09d052ab4fe870d7e19fb60c7f6f1f43ac15d41cd0871f4dbce0b03c407"
C1 = "c1" * 32


def load(name: str) -> Any:
    return json.loads((SWARM / f"{name}.json").read_text())


def test_each_container_and_its_gwbridge_address() -> None:
    # the routing mesh's sandbox (`ingress-sbox`) is no container: left out
    assert gwbridge_addresses(load("gwbridge_network")) == {TASK_ID: ("10.217.52.3",)}


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        (None, {}),  # a listing entry, or a network nobody is on
        ({C1: {"IPv4Address": "", "IPv6Address": ""}}, {}),
        ({C1: {"IPv4Address": "garbage/16"}}, {}),
        ({C1: {"IPv4Address": "172.18.0.4/16", "IPv6Address": "fd00:18::4/64"}},
         {C1: ("172.18.0.4", "fd00:18::4")}),
        ({C1: None}, {}),
        ({"c1": {"IPv4Address": "172.18.0.4/16"}}, {}),  # not a container id
    ],
)  # fmt: skip
def test_odd_entries(containers: object, expected: dict[str, tuple[str, ...]]) -> None:
    assert gwbridge_addresses({"Name": "docker_gwbridge", "Containers": containers}) == expected


def test_a_swarm_host_has_docker_gwbridge() -> None:
    assert has_gwbridge(load("networks"))
    assert not has_gwbridge([{"Name": "bridge"}, {"Name": "host"}])


def test_the_task_container_carries_its_gwbridge_address_as_a_client_address() -> None:
    data = load("web_task_container")
    overlays = overlays_of(load("networks"))
    gw = gwbridge_addresses(load("gwbridge_network"))[data["Id"]]
    endpoint = endpoint_from_inspect(data, "docker", None, overlays, gw)
    assert endpoint is not None
    assert endpoint.client_addresses == (Address("10.217.52.3", "docker_gwbridge"),)
    assert "10.217.52.3" not in {a.ip for a in endpoint.addresses}
    assert {a.network for a in endpoint.addresses} == {"ingress", "ov1", "ov2"}
    plain = endpoint_from_inspect(data, "docker", None, overlays)
    assert plain is not None and plain.client_addresses == ()


def event(kind: str, action: str, **attributes: str) -> dict[str, object]:
    return {"Type": kind, "Action": action, "Actor": {"ID": "x", "Attributes": attributes}}


@pytest.mark.parametrize(
    ("item", "moves"),
    [
        (event("container", "start"), True),
        (event("container", "restart"), True),
        (event("container", "die", exitCode="0"), True),
        (event("container", "destroy"), True),
        (event("network", "connect", container="c1", name="ov"), True),
        (event("network", "disconnect", container="c1", name="docker_gwbridge"), True),
        (event("network", "create", name="docker_gwbridge"), True),
        (event("container", "health_status: healthy"), False),
        (event("container", "pause"), False),
        (event("container", "kill", signal="15"), False),  # its die follows
        (event("image", "pull"), False),
    ],
)
def test_which_events_may_move_an_address(item: dict[str, object], moves: bool) -> None:
    assert moves_gwbridge(item) is moves


class Engine:
    """Answers `inspect_network` from the captured docker_gwbridge, counting the calls."""

    def __init__(self) -> None:
        self.data = load("gwbridge_network")
        self.calls = 0

    def inspect_network(self, name: str) -> Any:
        assert name == "docker_gwbridge"
        self.calls += 1
        return self.data


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_burst_of_changes_costs_at_most_two_inspects() -> None:
    bridge, engine, gate = GatewayBridge(), Engine(), asyncio.Event()
    bridge.present = True
    changed: list[str] = []
    failed: list[Exception] = []

    async def run(fn: Callable[[], Addresses]) -> Addresses:
        await gate.wait()  # the first inspect is slow: the burst arrives meanwhile
        return fn()

    bridge.request(engine, run, changed.append, failed.append)
    await settle()  # the first inspect is under way
    for _ in range(50):
        bridge.request(engine, run, changed.append, failed.append)
    gate.set()
    await settle()
    assert engine.calls == 2 and not failed
    assert changed == [TASK_ID]  # once: the second inspect found nothing new
    assert bridge.of(TASK_ID) == ("10.217.52.3",)
    engine.data = {"Containers": {}}
    bridge.request(engine, run, changed.append, failed.append)
    await settle()
    assert engine.calls == 3 and changed == [TASK_ID, TASK_ID]
    assert bridge.of(TASK_ID) == ()


async def test_a_host_without_docker_gwbridge_never_inspects_it() -> None:
    bridge, engine = GatewayBridge(), Engine()

    async def run(fn: Callable[[], Addresses]) -> Addresses:
        return fn()

    bridge.request(engine, run, print, print)
    bridge.load(engine)
    await settle()
    assert engine.calls == 0 and bridge.of(TASK_ID) == ()


async def test_an_engine_failure_is_handed_back() -> None:
    bridge = GatewayBridge()
    bridge.present = True
    failed: list[Exception] = []

    async def run(fn: Callable[[], Addresses]) -> Addresses:
        raise ConnectionError("engine gone")

    bridge.request(Engine(), run, print, failed.append)
    await settle()
    assert [str(e) for e in failed] == ["engine gone"]


def test_a_local_swarm_task_carries_its_gwbridge_address_as_a_client_address() -> None:
    gw = gwbridge_addresses(load("gwbridge_network"))
    listings = (load("services"), load("tasks"), load("nodes"), load("networks"))
    endpoints = endpoints_of(SwarmState(*listings, gwbridge=gw))
    task = endpoints["task:lrog850o62ted59c6jpt0gqxj"]  # its container is TASK_ID
    assert task.client_addresses == (Address("10.217.52.3", "docker_gwbridge"),)
    assert [ep.id for ep in endpoints.values() if ep.client_addresses] == [task.id]
    assert "10.217.52.3" not in {a.ip for ep in endpoints.values() for a in ep.addresses}
    assert endpoints_of(SwarmState(*listings))[task.id].client_addresses == ()
