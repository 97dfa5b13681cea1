"""Swarm JSON to registry values: services, tasks and nodes as endpoints.

Pure functions over the manager's `/services`, `/tasks`, `/nodes` and
`/networks` listings (plain dicts, tested on captured fixtures) plus what the
watcher learnt from local container events (health, first signs of a task
stopping). No I/O, no logging, no Docker SDK. Which engine events matter is
`watchers.swarm_events`' job.

Endpoints (source `swarm`, ids prefixed by kind):
- `service:<id>`: the VIP of a `vip`-mode service on each of its networks,
  claiming `<service>`, `<short>`, `<short>.<stack>` and `dnsd.name` labels;
- `task:<id>`: one task's addresses, claiming `tasks.<service>` and
  `<service>.<slot>` (replicated) or `<service>.<node-id>` (global), and the
  service names too when the service is `dnsrr`;
- `node:<id>`: a node's advertise address as `<hostname>.nodes`;
- `published:<service>:<node>`: a published port on a node, under the
  service's SRV names only (`srv_only` claims), target `<hostname>.nodes`.
The ingress network is never answered: its addresses serve the routing mesh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry import Address, Endpoint, Health, NameClaim, Origin
from watchers.docker_translate import GWBRIDGE_NETWORK, is_disabled
from watchers.swarm_nodes import hostname, node_endpoint, published_endpoints
from watchers.swarm_service import ServiceView

Json = Mapping[str, Any]

TASK_LABEL = "com.docker.swarm.task.id"
INGRESS = "ingress"
TERMINAL_STATES = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})
STOPPING_DESIRED = frozenset({"shutdown", "remove", "orphaned", "complete"})


@dataclass(frozen=True, slots=True)
class SwarmState:
    """One reading of the manager, plus what local container events told the watcher.

    `health` maps a local task container id to its Docker health;
    `stopping` maps a task id to the first sign that it is going away;
    `gwbridge` maps a local task container id to its docker_gwbridge addresses (the task's
    client-only addresses: its queries to the host come from them; never answered).
    """

    services: Sequence[Json] = ()
    tasks: Sequence[Json] = ()
    nodes: Sequence[Json] = ()
    networks: Sequence[Json] = ()
    health: Mapping[str, Health] = field(default_factory=dict)
    stopping: Mapping[str, str] = field(default_factory=dict)
    gwbridge: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def in_flux(state: SwarmState) -> bool:
    """True while some task is between states: wanted running but not yet, or ending."""
    for task in state.tasks:
        current = str((task.get("Status") or {}).get("State", ""))
        desired = str(task.get("DesiredState", ""))
        if current in TERMINAL_STATES:
            continue
        if (desired == "running") != (current == "running"):
            return True
    return False


def is_manager(info: Json) -> bool:
    """True when the engine's `/info` says it is an active Swarm manager."""
    swarm = info.get("Swarm") or {}
    return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))


def endpoints_of(state: SwarmState, source: str = "swarm") -> dict[str, Endpoint]:
    """Every endpoint the swarm describes, by id."""
    nets = _network_names(state)
    nodes = {str(n.get("ID", "")): n for n in state.nodes}
    out: dict[str, Endpoint] = {}
    for node in nodes.values():
        node_ep = node_endpoint(node, source)
        if node_ep is not None:
            out[node_ep.id] = node_ep
    by_service: dict[str, list[Json]] = {}
    for task in state.tasks:
        by_service.setdefault(str(task.get("ServiceID", "")), []).append(task)
    for service in state.services:
        spec = service.get("Spec") or {}
        if is_disabled(spec.get("Labels") or {}):
            continue
        view = ServiceView.of(service)
        tasks = by_service.get(view.id, [])
        found = (_task_endpoint(view, t, nodes, nets, state, source) for t in tasks)
        live = [ep for ep in found if ep is not None]
        out.update((ep.id, ep) for ep in live)
        vip = _vip_endpoint(view, service, live, nets, source)
        if vip is not None:
            out[vip.id] = vip
        for ep in published_endpoints(view, service, tasks, live, nodes, source):
            out[ep.id] = ep
    return out


def _network_names(state: SwarmState) -> dict[str, str]:
    """Network id -> name (`INGRESS` for an ingress network, whatever its name)."""
    names: dict[str, str] = {}
    for net in state.networks:
        name = INGRESS if net.get("Ingress") else str(net.get("Name", ""))
        names[str(net.get("Id") or net.get("ID", ""))] = name
    for task in state.tasks:
        for attachment in task.get("NetworksAttachments") or ():
            network = attachment.get("Network") or {}
            spec = network.get("Spec") or {}
            name = INGRESS if spec.get("Ingress") else str(spec.get("Name", ""))
            names.setdefault(str(network.get("ID", "")), name)
    return names


def _vip_endpoint(
    view: ServiceView, service: Json, tasks: list[Endpoint], nets: Mapping[str, str], source: str
) -> Endpoint | None:
    if view.endpoint_mode != "vip":
        return None
    addresses = []
    for vip in (service.get("Endpoint") or {}).get("VirtualIPs") or ():
        network = nets.get(str(vip.get("NetworkID", "")), "")
        ip = str(vip.get("Addr", "")).split("/", 1)[0]
        if ip and network and network != INGRESS:
            addresses.append(Address(ip, network))
    if not addresses:
        return None
    in_rotation = [t for t in tasks if t.out_of_rotation_reason() == ""]
    starting = any(t.health is Health.STARTING and not t.suspended for t in tasks)
    summary = "; ".join(f"{t.name}: {t.out_of_rotation_reason() or 'in'}" for t in tasks)
    return Endpoint(
        source=source,
        id=f"service:{view.id}",
        name=view.full,
        claims=tuple(view.service_claims()),
        addresses=tuple(addresses),
        ports=view.ports,
        health=Health.HEALTHY if in_rotation else Health.STARTING if starting else Health.UNHEALTHY,
        networks=tuple(dict.fromkeys(a.network for a in addresses)),
        labels=tuple(sorted(view.labels.items())),
        meta=(
            ("service", view.full),
            ("mode", view.describe()),
            (
                "tasks",
                f"{len(in_rotation)} of {len(tasks)} in rotation"
                + (f": {summary}" if summary else ""),
            ),
        ),
    )


# -- tasks ----------------------------------------------------------------------


def _task_endpoint(
    view: ServiceView,
    task: Json,
    nodes: Mapping[str, Json],
    nets: Mapping[str, str],
    state: SwarmState,
    source: str,
) -> Endpoint | None:
    status = task.get("Status") or {}
    current = str(status.get("State", ""))
    if current in TERMINAL_STATES:
        return None
    addresses = task_addresses(task, nets)
    if not addresses:
        return None
    task_id = str(task.get("ID", ""))
    node_id = str(task.get("NodeID", ""))
    node = nodes.get(node_id, {})
    slot = task.get("Slot")
    suffix = str(slot) if view.mode == "replicated" and slot else node_id.lower()
    name = f"{view.full}.{suffix}"
    container = str((status.get("ContainerStatus") or {}).get("ContainerID", ""))
    return Endpoint(
        source=source,
        id=f"task:{task_id}",
        name=name,
        claims=tuple(_task_claims(view, suffix)),
        addresses=addresses,
        ports=view.ports,
        health=_task_health(view, current, container, state.health),
        networks=tuple(dict.fromkeys(a.network for a in addresses)),
        withdrawn=_withdrawn(
            task, current, node, state.stopping.get(task_id, ""), container in state.health
        ),
        meta=(
            ("service", view.full),
            ("mode", view.describe()),
            ("task", task_id),
            ("node", f"{hostname(node) or '?'} ({node_id})"),
            ("state", f"{current} (desired {task.get('DesiredState', '?')})"),
        ),
        client_addresses=tuple(
            Address(ip, GWBRIDGE_NETWORK) for ip in state.gwbridge.get(container, ())
        ),
    )


def task_addresses(task: Json, nets: Mapping[str, str]) -> tuple[Address, ...]:
    """The task's addresses on every network but ingress, prefix lengths dropped."""
    out = []
    for attachment in task.get("NetworksAttachments") or ():
        network = attachment.get("Network") or {}
        spec = network.get("Spec") or {}
        name = nets.get(str(network.get("ID", ""))) or str(spec.get("Name", ""))
        if not name or name == INGRESS or spec.get("Ingress"):
            continue
        for cidr in attachment.get("Addresses") or ():
            out.append(Address(str(cidr).split("/", 1)[0], name))
    return tuple(out)


def _task_claims(view: ServiceView, suffix: str) -> Iterable[NameClaim]:
    yield NameClaim(f"{view.full}.{suffix}", Origin.SWARM_TASK)
    for form in view.forms:
        yield NameClaim(f"tasks.{form}", Origin.SWARM_TASKS)
        if form != view.full:
            yield NameClaim(f"{form}.{suffix}", Origin.SWARM_TASK)
    if view.endpoint_mode == "dnsrr":
        yield from view.service_claims()


def _task_health(
    view: ServiceView, current: str, container: str, health: Mapping[str, Health]
) -> Health:
    """The local container's health when known; else what the task state implies."""
    if container in health:
        return health[container]
    if current == "starting":
        return Health.STARTING
    return Health.HEALTHY if view.healthcheck else Health.NONE


def _withdrawn(task: Json, current: str, node: Json, first_sign: str, local: bool) -> str:
    """Why a task is out whatever the policy: stopping, not started, or its node is down.

    A `starting` task counts as started (and so may fail open) only when its
    container is local and known to run (`local`): Swarm marks a task
    starting before its container runs, and keeps it so until a healthcheck passes.
    """
    desired = str(task.get("DesiredState", ""))
    if first_sign:
        return f"task stopping ({first_sign})"
    if desired in STOPPING_DESIRED:
        return f"task shutting down (desired state {desired})"
    if current != "running" and not (current == "starting" and local):
        return f"task not running (state {current})"
    if node and str((node.get("Status") or {}).get("State", "")) != "ready":
        return f"node {hostname(node)} is {(node.get('Status') or {}).get('State', 'unknown')}"
    return ""


# -- changes ---------------------------------------------------------------------------


def changed(
    old: Mapping[str, Endpoint], new: Mapping[str, Endpoint]
) -> tuple[list[Endpoint], list[str]]:
    """(endpoints to upsert, ids to remove) that turn `old` into `new`."""
    upserts = [ep for key, ep in new.items() if old.get(key) != ep]
    removes = [key for key in old if key not in new]
    return upserts, removes
