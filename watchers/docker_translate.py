"""Docker JSON to registry values: a container's names, addresses, ports and health.

Pure functions over the engine's inspect JSON (plain dicts), tested on captured
fixtures; what an event asks is `watchers.docker_events`. No I/O, no logging, no
Docker SDK: the watcher shell feeds this module and ships what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from registry import Address, Endpoint, Health, NameClaim, Origin, Port, Scope, name_key
from registry.names import sanitize_label
from registry.reachability import MULTI_HOST_SCOPES

Json = Mapping[str, Any]

COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_PROJECT = "com.docker.compose.project"
LABEL_NAME = "dnsd.name"
LABEL_ENABLE = "dnsd.enable"
LABEL_PORT_PREFIX = "dnsd.port."
HOST_NETWORK = "host"
GWBRIDGE_NETWORK = "docker_gwbridge"  # how overlay containers reach the host

# -- one container ------------------------------------------------------------


def endpoint_from_inspect(
    data: Json,
    source: str,
    host_ip: str | None,
    overlays: frozenset[str] = frozenset(),
    gwbridge: tuple[str, ...] = (),
) -> Endpoint | None:
    """The endpoint a container's inspect JSON describes, or None when it must not resolve.

    None for a container that is not running (paused counts as running), one
    hidden with `dnsd.enable=false`, and one with no address (`--network none`,
    or host networking with no host address known). `gwbridge` are its
    docker_gwbridge addresses (from that network's inspect): they identify it as a
    client and are never answered.
    """
    state = data.get("State") or {}
    labels = container_labels(data)
    if not state.get("Running") or is_disabled(labels):
        return None
    addresses = addresses_of(data, host_ip, overlays)
    if not addresses:
        return None
    name = canonical_name(data)
    return Endpoint(
        source=source,
        id=str(data["Id"]),
        name=name,
        claims=claims_of(data, name),
        addresses=addresses,
        ports=ports_of(data),
        health=health_of(state),
        paused=bool(state.get("Paused")),
        project=labels.get(COMPOSE_PROJECT, ""),
        networks=tuple(networks_of(data)),
        labels=tuple(sorted(labels.items())),
        client_addresses=tuple(Address(ip, GWBRIDGE_NETWORK) for ip in gwbridge),
    )


def container_labels(data: Json) -> dict[str, str]:
    return dict((data.get("Config") or {}).get("Labels") or {})


def is_disabled(labels: Mapping[str, str]) -> bool:
    return labels.get(LABEL_ENABLE, "").strip().lower() in ("false", "no", "0", "off")


def canonical_name(data: Json) -> str:
    """The container name as a relative key (SRV/PTR target); the id prefix if unusable."""
    return _relative_key(str(data.get("Name", ""))) or str(data["Id"])[:12]


def claims_of(data: Json, name: str) -> tuple[NameClaim, ...]:
    """Every name the container claims with every origin of it (Compose makes the service
    name a network alias too; both count), each (name, origin) once, in discovery order."""
    found = dict.fromkeys(
        NameClaim(key, origin) for key, origin in _claim_candidates(data, name) if key
    )
    return tuple(found)


def _claim_candidates(data: Json, name: str) -> Iterable[tuple[str, Origin]]:
    cid = str(data["Id"])
    yield name, Origin.CONTAINER_NAME
    hostname = str((data.get("Config") or {}).get("Hostname", ""))
    if hostname and not cid.startswith(hostname) and not _shares_network_ns(data):
        yield _relative_key(hostname), Origin.HOSTNAME
    for settings in _networks(data).values():
        for alias in (settings or {}).get("Aliases") or ():
            if not (len(alias) >= 12 and cid.startswith(alias)):
                yield _relative_key(alias), Origin.ALIAS
    labels = container_labels(data)
    service = _relative_key(labels.get(COMPOSE_SERVICE, ""))
    project = _relative_key(labels.get(COMPOSE_PROJECT, ""))
    if service and project:
        yield f"{service}.{project}", Origin.COMPOSE_PROJECT_SERVICE
    if service:
        yield service, Origin.COMPOSE_SERVICE
    for text in labels.get(LABEL_NAME, "").split(","):
        yield _label_key(text), Origin.LABEL


def _shares_network_ns(data: Json) -> bool:
    """Host or container:<id> networking: the hostname is not the container's own."""
    mode = str((data.get("HostConfig") or {}).get("NetworkMode", ""))
    return mode == HOST_NETWORK or mode.startswith("container:")


def _relative_key(text: str) -> str:
    try:
        return name_key(sanitize_label(text))
    except ValueError:
        return ""


def _label_key(text: str) -> str:
    """A `dnsd.name` entry: relative, or absolute when it ends with a dot; '' if invalid."""
    try:
        return name_key(text) if text.strip() else ""
    except ValueError:
        return ""


# -- addresses, ports, health -------------------------------------------------


def _networks(data: Json) -> Mapping[str, Any]:
    return (data.get("NetworkSettings") or {}).get("Networks") or {}


def networks_of(data: Json) -> list[str]:
    return list(_networks(data))


def addresses_of(
    data: Json, host_ip: str | None, overlays: frozenset[str] = frozenset()
) -> tuple[Address, ...]:
    """IPv4 and global IPv6 addresses per network; host networking answers `host_ip`.

    Addresses on `overlays` (multi-host networks) are only for clients on that network.
    """
    out: list[Address] = []
    for network, settings in _networks(data).items():
        if network == HOST_NETWORK:
            out.extend([Address(host_ip, HOST_NETWORK)] if host_ip else [])
            continue
        for key in ("IPAddress", "GlobalIPv6Address"):
            ip = (settings or {}).get(key) or ""
            if ip:
                scope = Scope.OVERLAY if network in overlays else Scope.LOCAL
                out.append(Address(ip, network, scope))
    return tuple(out)


def ports_of(data: Json) -> tuple[Port, ...]:
    """Named ports from `dnsd.port.<name>` labels, then exposed ports no label names."""
    named = [p for p in (_label_port(k, v) for k, v in container_labels(data).items()) if p]
    taken = {(p.port, p.proto) for p in named}
    exposed = [p for p in map(_exposed_port, _exposed(data)) if p]
    unnamed = [p for p in exposed if (p.port, p.proto) not in taken]
    ports = named + sorted(unnamed, key=lambda p: (p.port, p.proto))
    return tuple(_published(p, data) for p in ports)


def _published(port: Port, data: Json) -> Port:
    """`port` with the first host binding Docker reports for it (`-p`), if any."""
    bindings = ((data.get("NetworkSettings") or {}).get("Ports") or {}).get(
        f"{port.port}/{port.proto}"
    )
    for binding in bindings or ():
        text = str((binding or {}).get("HostPort") or "")
        if text.isdigit() and 0 < int(text) < 65536:
            host_ip = str(binding.get("HostIp") or "")
            return Port(port.port, port.proto, port.name, int(text), host_ip)
    return port


def _exposed(data: Json) -> Iterable[str]:
    return ((data.get("Config") or {}).get("ExposedPorts") or {}).keys()


def _label_port(label: str, value: str) -> Port | None:
    if not label.startswith(LABEL_PORT_PREFIX):
        return None
    name = sanitize_label(label[len(LABEL_PORT_PREFIX) :]).replace(".", "-")
    port = parse_port(value)
    return Port(port.port, port.proto, name) if port and name else None


def _exposed_port(spec: str) -> Port | None:
    return parse_port(spec)


def parse_port(spec: str) -> Port | None:
    """'80', '80/tcp' or '53/udp' as a `Port`; None when it is not one."""
    number, _, proto = spec.strip().partition("/")
    proto = (proto or "tcp").lower()
    if not number.isdigit() or not 0 < int(number) < 65536 or proto not in ("tcp", "udp", "sctp"):
        return None
    return Port(int(number), proto)


def health_of(state: Json) -> Health:
    status = str((state.get("Health") or {}).get("Status", "")).lower()
    try:
        return Health(status) if status else Health.NONE
    except ValueError:
        return Health.NONE


def overlays_of(networks: Iterable[Json]) -> frozenset[str]:
    """Names of the multi-host networks (scope swarm or global) in a `/networks` listing."""
    return frozenset(str(n.get("Name")) for n in networks if n.get("Scope") in MULTI_HOST_SCOPES)
