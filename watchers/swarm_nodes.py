"""Swarm nodes and the ports services publish on them, as registry endpoints.

Pure: nodes from `/nodes`, one service's view, listing and task endpoints in;
`node:<id>` endpoints (`<hostname>.nodes`, the advertise address) and
`published:<service>:<node>` endpoints out. A published endpoint claims the
service's names `srv_only`, so `_<published port>._tcp.<service>` SRV records
point at `<hostname>.nodes` without adding node addresses to the service's A
records. Ingress (routing-mesh) ports are answered on every `ready` node, since
the mesh accepts them on any node, drained or not; host-mode ports only on the
nodes that run an in-rotation task. A node's address is on network `host`,
as a host-network container's is, so client-view rules treat both alike.
No I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from registry import Address, Endpoint, NameClaim, Origin, Port
from watchers.docker_translate import HOST_NETWORK, _relative_key
from watchers.swarm_service import ServiceView, _endpoint_ports, _port

Json = Mapping[str, Any]


def hostname(node: Json) -> str:
    return str((node.get("Description") or {}).get("Hostname", ""))


def node_name(node: Json) -> str:
    """`<hostname>.nodes`, the SRV target for ports published on that node."""
    host = _relative_key(hostname(node)).replace(".", "-") or str(node.get("ID", ""))[:12].lower()
    return f"{host}.nodes"


def _node_ready(node: Json) -> bool:
    return str((node.get("Status") or {}).get("State", "")) == "ready"


def advertise_address(node: Json) -> str:
    """The node's address as the manager sees it; '' when unknown."""
    address = str((node.get("Status") or {}).get("Addr", ""))
    return "" if address in ("", "0.0.0.0") else address


def node_endpoint(node: Json, source: str) -> Endpoint | None:
    address = advertise_address(node)
    if not address:
        return None
    node_id = str(node.get("ID", ""))
    name = node_name(node)
    spec = node.get("Spec") or {}
    return Endpoint(
        source=source,
        id=f"node:{node_id}",
        name=name,
        claims=(
            NameClaim(name, Origin.SWARM_NODE),
            NameClaim(f"{node_id.lower()}.nodes", Origin.SWARM_NODE),
        ),
        addresses=(Address(address, HOST_NETWORK),),
        withdrawn="" if _node_ready(node) else f"node is {(node.get('Status') or {}).get('State')}",
        meta=(
            ("node", f"{hostname(node)} ({node_id})"),
            ("role", str(spec.get("Role", ""))),
            ("availability", str(spec.get("Availability", ""))),
        ),
    )


def published_endpoints(
    view: ServiceView,
    service: Json,
    tasks: Sequence[Json],
    live: Sequence[Endpoint],
    nodes: Mapping[str, Json],
    source: str,
) -> Iterable[Endpoint]:
    """Ingress ports on every ready node; host-mode ports on the nodes of in-rotation tasks."""
    ingress = [p for p in (_port(e, "PublishedPort") for e in _ingress(service)) if p]
    host: dict[str, list[Port]] = {}
    in_rotation = {ep.id for ep in live if ep.out_of_rotation_reason() == ""}
    for task in tasks:
        if f"task:{task.get('ID')}" not in in_rotation:
            continue
        for entry in ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or ():
            port = _port(entry, "PublishedPort") if entry.get("PublishMode") == "host" else None
            if port:
                host.setdefault(str(task.get("NodeID", "")), []).append(port)
    for node_id, node in nodes.items():
        ports = list(dict.fromkeys((ingress if _node_ready(node) else []) + host.get(node_id, [])))
        address = advertise_address(node)
        if not ports or not address:
            continue
        claims = [
            NameClaim(c.key, Origin.SWARM_PUBLISHED, srv_only=True) for c in view.service_claims()
        ]
        yield Endpoint(
            source=source,
            id=f"published:{view.id}:{node_id}",
            name=node_name(node),
            claims=tuple(claims),
            addresses=(Address(address, HOST_NETWORK),),
            ports=tuple(ports),
            meta=(
                ("service", view.full),
                ("node", f"{hostname(node)} ({node_id})"),
                ("published", ", ".join(f"{p.port}/{p.proto}" for p in ports)),
            ),
        )


def _ingress(service: Json) -> list[Json]:
    return [e for e in _endpoint_ports(service) if (e.get("PublishMode") or "ingress") == "ingress"]
