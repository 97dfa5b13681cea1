"""Swarm JSON -> endpoints and names, on JSON captured from a real single-node swarm.

The fixtures (tests/watchers/fixtures/swarm/) were read from a private engine
with services `web` (vip, 3 replicas on ov1+ov2, ingress 8080->80, labels
dnsd.port.http=80 and dnsd.name=frontend, a passing healthcheck), `db` (dnsrr, 2
replicas), `agent` (global), `sick` (a failing healthcheck) and the stack `shop`
(`shop_api`: 2 replicas, host-mode 9000->8000, so one stays pending).
`*_scaledown` was read 1.5 s after `docker service scale web=1`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry import Endpoint, Health, Resync, Snapshot, UnhealthyPolicy
from watchers.docker_translate import container_labels, health_of
from watchers.swarm_events import ReadPacer, SwarmReaction, swarm_action
from watchers.swarm_translate import (
    TASK_LABEL,
    SwarmState,
    changed,
    endpoints_of,
    in_flux,
    is_manager,
)

FIXTURES = Path(__file__).parent / "fixtures" / "swarm"
NODE = "197x15fgms7lapfytmjm98hug"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def state(tasks: str = "tasks.json", **extra: Any) -> SwarmState:
    services = "services_scaledown.json" if "scaledown" in tasks else "services.json"
    return SwarmState(
        load(services), load(tasks), load("nodes.json"), load("networks.json"), **extra
    )


def snapshot(swarm: SwarmState) -> Snapshot:
    return Snapshot().apply(Resync("swarm", tuple(endpoints_of(swarm).values())))


def addresses(
    snap: Snapshot, key: str, policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL
) -> set[str]:
    return set(snap.resolve(key, None, policy).addresses)


WEB_VIPS = {"10.250.1.2", "10.250.2.2"}  # ov1, ov2 (never the ingress VIP 10.250.0.3)
WEB_TASKS = {f"10.250.{n}.{h}" for n in (1, 2) for h in (3, 4, 5)}

NAMES = [
    # (name key, addresses for a client nobody knows)
    ("web", WEB_VIPS),
    ("frontend", WEB_VIPS),  # dnsd.name on the service
    ("tasks.web", WEB_TASKS),
    ("web.1", {"10.250.1.5", "10.250.2.5"}),
    ("web.3", {"10.250.1.4", "10.250.2.4"}),
    ("db", {"10.250.1.6", "10.250.1.7"}),  # dnsrr: the tasks, no VIP
    ("tasks.db", {"10.250.1.6", "10.250.1.7"}),
    ("db.2", {"10.250.1.6"}),
    ("agent", {"10.250.1.8"}),
    (f"agent.{NODE}", {"10.250.1.9"}),  # global: one task per node
    ("tasks.agent", {"10.250.1.9"}),
    ("shop_api", {"10.250.3.2"}),  # the stack: full name, short name, short.stack
    ("api", {"10.250.3.2"}),
    ("api.shop", {"10.250.3.2"}),
    ("tasks.api", {"10.250.3.3"}),  # the pending task (no port free) is out
    ("api.1", set()),
    ("vm.nodes", {"127.0.0.1"}),
    (f"{NODE}.nodes", {"127.0.0.1"}),
]


@pytest.mark.parametrize(("key", "expected"), NAMES)
def test_every_name_form_answers_its_addresses(key: str, expected: set[str]) -> None:
    assert addresses(snapshot(state()), key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("_http._tcp.web", [("web", 80)]),  # dnsd.port.http on a vip service: the VIP
        ("_http._tcp.tasks.web", [("web.1", 80), ("web.2", 80), ("web.3", 80)]),
        ("_8080._tcp.web", [("vm.nodes", 8080)]),  # ingress: every ready node
        ("_api._tcp.api.shop", [("shop_api", 8000)]),
        ("_9000._tcp.api", [("vm.nodes", 9000)]),  # host mode: the running task's node
    ],
)
def test_srv_from_labels_and_published_ports(key: str, expected: list[tuple[str, int]]) -> None:
    records = snapshot(state()).resolve_srv(key)
    assert sorted((r.target, r.port) for r in records) == expected


def test_published_ports_add_no_node_address_to_the_service() -> None:
    snap = snapshot(state())
    assert "127.0.0.1" not in addresses(snap, "web")
    assert snap.endpoint_at("127.0.0.1") is not None  # PTR: the node


def test_tasks_carry_their_addresses_per_overlay_network() -> None:
    eps = endpoints_of(state())
    web1 = next(ep for ep in eps.values() if ep.name == "web.1")
    assert {(a.ip, a.network) for a in web1.addresses} == {
        ("10.250.1.5", "ov1"),
        ("10.250.2.5", "ov2"),
    }
    assert web1.networks == ("ov2", "ov1")
    details = dict(web1.meta)
    assert details["node"] == f"vm ({NODE})"
    assert details["state"] == "running (desired running)"
    assert details["mode"] == "replicated, endpoint mode vip"


def test_scale_down_takes_tasks_out_before_they_stop() -> None:
    """Captured 1.5 s after scale 3 -> 1: two tasks still run, desired state `remove`."""
    snap = snapshot(state("tasks_scaledown.json"))
    assert addresses(snap, "tasks.web") == {"10.250.1.5", "10.250.2.5"}
    assert addresses(snap, "web.2") == set()  # out whatever the policy, not failed open
    web2 = snap.names()["web.2"][0]
    assert web2.out_of_rotation_reason() == "task shutting down (desired state remove)"


def test_a_container_event_is_the_first_sign() -> None:
    web2 = "ewap5frm6zglvip8uiu627yjx"
    snap = snapshot(state(stopping={web2: "container kill"}))
    assert addresses(snap, "web.2") == set()
    assert snap.names()["web.2"][0].out_of_rotation_reason() == "task stopping (container kill)"
    assert len(addresses(snap, "tasks.web")) == 4


def test_local_health_decides_and_all_unhealthy_policy_applies() -> None:
    containers = {
        t["ID"]: t["Status"]["ContainerStatus"]["ContainerID"]
        for t in load("tasks.json")
        if t["Status"].get("ContainerStatus")
    }
    sick_web = {containers["ewap5frm6zglvip8uiu627yjx"]: Health.UNHEALTHY}
    snap = snapshot(state(health=sick_web))
    assert addresses(snap, "tasks.web") == WEB_TASKS - {"10.250.1.3", "10.250.2.3"}
    all_sick = {cid: Health.UNHEALTHY for cid in containers.values()}
    snap = snapshot(state(health=all_sick))
    assert addresses(snap, "tasks.web") == WEB_TASKS  # serve-all: fail open
    assert addresses(snap, "tasks.web", UnhealthyPolicy.EMPTY) == set()
    assert addresses(snap, "web", UnhealthyPolicy.EMPTY) == set()  # no task in rotation
    assert addresses(snap, "web") == WEB_VIPS


def test_a_starting_task_is_out_and_a_ready_one_is_withdrawn() -> None:
    """`starting` fails open only when its container is local and known to run."""
    starting = snapshot(state("tasks_scaledown.json")).names()["sick.1"][0]
    assert starting.withdrawn == "task not running (state starting)"
    sick = next(t for t in load("tasks_scaledown.json") if t["ID"].startswith("v7z0z076"))
    running = {sick["Status"]["ContainerStatus"]["ContainerID"]: Health.STARTING}
    snap = snapshot(state("tasks_scaledown.json", health=running))
    starting = snap.names()["sick.1"][0]
    assert (starting.health, starting.withdrawn) == (Health.STARTING, "")
    assert addresses(snap, "tasks.sick") == {"10.250.1.14"}  # fail-open: the only one
    assert addresses(snap, "tasks.sick", UnhealthyPolicy.EMPTY) == set()
    ready = snapshot(state()).names()["sick.1"][0]
    assert ready.withdrawn == "task not running (state ready)"
    assert addresses(snapshot(state()), "tasks.sick") == set()


def test_dnsd_enable_false_hides_a_service() -> None:
    services = load("services.json")
    for service in services:
        if service["Spec"]["Name"] == "db":
            service["Spec"]["Labels"] = {"dnsd.enable": "false"}
    swarm = SwarmState(services, load("tasks.json"), load("nodes.json"), load("networks.json"))
    snap = snapshot(swarm)
    assert not snap.has_name("db") and not snap.has_name("tasks.db")


def test_a_down_node_takes_its_tasks_out() -> None:
    nodes = load("nodes.json")
    nodes[0]["Status"]["State"] = "down"
    swarm = SwarmState(load("services.json"), load("tasks.json"), nodes, load("networks.json"))
    snap = snapshot(swarm)
    assert addresses(snap, "tasks.web") == set()
    assert snap.resolve_srv("_8080._tcp.web") == ()


def test_changed_yields_only_differences() -> None:
    before = endpoints_of(state())
    after = endpoints_of(state("tasks_scaledown.json"))
    upserts, removes = changed(before, after)
    assert sorted(ep.name for ep in upserts) == ["sick", "sick.1", "web", "web.2", "web.3"]
    assert removes == ["task:r3jcqp5fn7ehlmenr69721xqu"]  # the old sick task is gone
    assert changed(after, after) == ([], [])


def test_manager_role_from_info() -> None:
    manager = {"Swarm": {"LocalNodeState": "active", "ControlAvailable": True}}
    worker = {"Swarm": {"LocalNodeState": "active", "ControlAvailable": False}}
    assert is_manager(manager) and not is_manager(worker) and not is_manager({})


EVENTS = [json.loads(line) for line in (FIXTURES / "events.jsonl").read_text().splitlines()]


def _first(kind: str, action: str) -> dict[str, Any]:
    return next(e for e in EVENTS if e["Type"] == kind and e["Action"].startswith(action))


@pytest.mark.parametrize(
    ("kind", "action", "reaction", "why"),
    [
        ("service", "update", SwarmReaction.RELIST, ""),
        ("container", "kill", SwarmReaction.STOPPING, "container kill"),
        ("container", "die", SwarmReaction.STOPPING, "container die"),
        ("container", "stop", SwarmReaction.STOPPING, "container stop"),
        ("container", "start", SwarmReaction.STARTED, ""),
        ("container", "health_status", SwarmReaction.HEALTH, ""),
        ("container", "destroy", SwarmReaction.RELIST, ""),
        ("container", "create", SwarmReaction.IGNORE, ""),
    ],
)
def test_what_each_event_asks(kind: str, action: str, reaction: SwarmReaction, why: str) -> None:
    decided = swarm_action(_first(kind, action))
    assert (decided.reaction, decided.why) == (reaction, why)


def test_events_name_the_task_and_health() -> None:
    health = swarm_action(_first("container", "health_status"))
    assert (health.task_id, health.health) == ("b3abe5ubtagx01p6jtgxw1x7x", Health.UNHEALTHY)
    plain = {"Type": "container", "Action": "kill", "Actor": {"ID": "x", "Attributes": {}}}
    assert swarm_action(plain).reaction is SwarmReaction.IGNORE  # not a task: the Docker watcher's
    hup = _first("container", "kill") | {}
    hup = json.loads(json.dumps(hup))
    hup["Actor"]["Attributes"]["signal"] = "1"
    assert swarm_action(hup).reaction is SwarmReaction.IGNORE  # SIGHUP does not end a task


def _by_name(eps: dict[str, Endpoint], name: str) -> Endpoint:
    return next(ep for ep in eps.values() if ep.name == name and ep.id.startswith("service:"))


def test_vip_endpoint_explains_its_tasks() -> None:
    web = _by_name(endpoints_of(state("tasks_scaledown.json")), "web")
    details = dict(web.meta)
    assert details["tasks"].startswith("1 of 3 in rotation: ")
    assert "web.2: task shutting down (desired state remove)" in details["tasks"]


@pytest.mark.parametrize(
    ("last_event", "reads_after", "in_flux", "now", "due"),
    [
        (-1.0, 0, False, 100.0, 110.0),  # quiet: the slow poll
        (100.05, 0, False, 100.05, 100.01),  # an event: read now (due is past) ...
        (99.0, 1, False, 100.0, 100.02),  # ... then 20, 40, 80 ms apart ...
        (99.0, 3, False, 100.0, 100.08),
        (99.0, 5, False, 101.0, 100.1),  # ... then every 0.1 s for the settle window
        (90.0, 5, False, 100.0, 110.0),  # settled
        (90.0, 5, True, 100.0, 100.5),  # a task between states: every 0.5 s
        (30.0, 5, True, 100.0, 110.0),  # ... but not forever after the last event
    ],
)
def test_read_pacing(
    last_event: float, reads_after: int, in_flux: bool, now: float, due: float
) -> None:
    pacer = ReadPacer(fast=0.1, first=0.01, settle=3.0, slow=10.0, flux=0.5, patience=60.0)
    pacer.event(last_event)
    pacer.read(100.0, in_flux)
    pacer.reads_since_event = reads_after
    assert pacer.due(now) == pytest.approx(due)


def test_tasks_between_states_are_in_flux() -> None:
    assert in_flux(state())  # shop_api.1 is pending (its host port is taken)
    steady = [t for t in load("tasks.json") if t["ServiceID"].startswith(("rbtjtk", "j5iwut"))]
    assert not in_flux(SwarmState(tasks=steady))
    assert in_flux(SwarmState(tasks=load("tasks_scaledown.json")))  # web.2, web.3 ending


def test_an_ingress_network_is_never_answered_whatever_its_name() -> None:
    text = (FIXTURES / "tasks.json").read_text().replace('"Name": "ingress"', '"Name": "mesh"')
    networks = (
        (FIXTURES / "networks.json").read_text().replace('"Name": "ingress"', '"Name": "mesh"')
    )
    swarm = SwarmState(
        load("services.json"), json.loads(text), load("nodes.json"), json.loads(networks)
    )
    snap = snapshot(swarm)
    assert addresses(snap, "tasks.web") == WEB_TASKS
    assert addresses(snap, "web") == WEB_VIPS


def test_a_task_container_is_recognised_by_its_label() -> None:
    """The Docker watcher leaves containers with this label to the Swarm watcher."""
    container = load("web_task_container.json")
    assert TASK_LABEL in container_labels(container)
    assert health_of(container["State"]) is Health.HEALTHY


def test_a_node_without_a_known_address_gets_no_records() -> None:
    nodes = load("nodes.json")
    nodes[0]["Status"]["Addr"] = "0.0.0.0"
    swarm = SwarmState(load("services.json"), load("tasks.json"), nodes, load("networks.json"))
    snap = snapshot(swarm)
    assert not snap.has_name("vm.nodes")
    assert snap.resolve_srv("_8080._tcp.web") == ()  # no target that would not resolve
    assert addresses(snap, "tasks.web") == WEB_TASKS
