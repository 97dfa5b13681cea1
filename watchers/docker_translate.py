"""Docker JSON to registry values: a container's names, addresses and ports; what an event asks.

Pure functions over the engine's inspect and event JSON (plain dicts), tested on
captured fixtures. No I/O, no logging, no Docker SDK: the watcher shell feeds
this module and ships what it returns.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
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

CONTAINER_ACTIONS = frozenset(
    {"start", "restart", "die", "stop", "kill", "rename", "pause", "unpause", "update"}
)
NETWORK_MEMBER_ACTIONS = frozenset({"connect", "disconnect"})
NETWORK_SET_ACTIONS = frozenset({"create", "destroy", "remove"})
HEALTH_ACTION = "health_status"
GOING_AWAY_ACTIONS = frozenset({"die", "stop"})
KILL_ACTION = "kill"
STOPPING_SIGNALS = frozenset(
    {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGPWR}
)
"""Signals `docker stop`/`docker kill` use to end a container (its own StopSignal counts too)."""
KILL_RECHECK_SECONDS = 15.0
"""After a stopping signal the container is out at once; if it is still running this much
later (it trapped the signal), an inspect brings it back."""

EVENT_FILTERS: dict[str, list[str]] = {
    "type": ["container", "network"],
    "event": sorted(
        CONTAINER_ACTIONS
        | NETWORK_MEMBER_ACTIONS
        | NETWORK_SET_ACTIONS
        | {"destroy", HEALTH_ACTION}
    ),
}
"""Server-side filter for the event stream (drops exec_* noise from health checks)."""


class Reaction(StrEnum):
    """What the watcher does about one engine event."""

    IGNORE = "ignore"
    REINSPECT = "reinspect"  # inspect the container again: Upsert, or Remove when gone/stopped
    REMOVE = "remove"  # the container no longer exists
    GONE = "gone"  # the container is going away (die, stop): out of rotation now, no inspect
    KILLED = "killed"  # a signal: GONE when it is a stopping signal, else REINSPECT
    NETWORKS = "networks"  # the set of networks changed: refresh subnets


@dataclass(frozen=True, slots=True)
class EventAction:
    reaction: Reaction
    container_id: str = ""
    signal: int | None = None  # KILLED: the signal number, when the event names one


IGNORE = EventAction(Reaction.IGNORE)


def action_for_event(event: Json) -> EventAction:
    """Decide what one decoded event from `/events` asks for."""
    kind = event.get("Type", "")
    action = str(event.get("Action", "")).split(":", 1)[0]
    actor = event.get("Actor") or {}
    if kind == "container":
        cid = str(actor.get("ID") or event.get("id") or "")
        if action == "destroy":
            return EventAction(Reaction.REMOVE, cid)
        if action in GOING_AWAY_ACTIONS:
            return EventAction(Reaction.GONE, cid)
        if action == KILL_ACTION:
            attributes = actor.get("Attributes") or {}
            return EventAction(Reaction.KILLED, cid, signal_number(attributes.get("signal")))
        if action in CONTAINER_ACTIONS or action == HEALTH_ACTION:
            return EventAction(Reaction.REINSPECT, cid)
    elif kind == "network":
        if action in NETWORK_MEMBER_ACTIONS:
            cid = str((actor.get("Attributes") or {}).get("container", ""))
            return EventAction(Reaction.REINSPECT, cid) if cid else IGNORE
        if action in NETWORK_SET_ACTIONS:
            return EventAction(Reaction.NETWORKS)
    return IGNORE


REASON_LIMIT = 200


def describe_event(event: Json) -> str:
    """Why the registry changed, in words: `docker container die (exit code 137) at <time>`.

    Kept in the change history as the event's reason; engine-supplied text is bounded.
    """
    kind = str(event.get("Type", ""))[:20]
    action = str(event.get("Action", ""))[:80]
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    text = f"docker {kind} {action}"
    if kind == "container" and attributes.get("exitCode") not in (None, ""):
        text += f" (exit code {str(attributes['exitCode'])[:10]})"
    if kind == "network" and attributes.get("name"):
        text += (" from " if action == "disconnect" else " to ") + str(attributes["name"])[:64]
    when = _event_time(event)
    return (text + (f" at {when}" if when else ""))[:REASON_LIMIT]


def _event_time(event: Json) -> str:
    """The engine's event time as UTC ISO 8601 with milliseconds, or ''."""
    nanos = event.get("timeNano")
    seconds = nanos / 1e9 if isinstance(nanos, int) else event.get("time")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signal_number(value: object) -> int | None:
    """A signal as an event or a container config spells it ('15', 'SIGTERM', 'TERM')."""
    text = str(value or "").strip().upper()
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals[text if text.startswith("SIG") else "SIG" + text])
    except KeyError:
        return None


def is_stopping_signal(number: int | None, stop_signal: int | None) -> bool:
    """Does a `kill` with this signal mean the container is going away?"""
    return number is not None and (number in STOPPING_SIGNALS or number == stop_signal)


def stop_signal_of(data: Json) -> int | None:
    """The container's configured StopSignal (what `docker stop` sends), if it sets one."""
    return signal_number((data.get("Config") or {}).get("StopSignal"))


# -- one container ------------------------------------------------------------


def endpoint_from_inspect(
    data: Json, source: str, host_ip: str | None, overlays: frozenset[str] = frozenset()
) -> Endpoint | None:
    """The endpoint a container's inspect JSON describes, or None when it must not resolve.

    None for a container that is not running (paused counts as running), one
    hidden with `dnsd.enable=false`, and one with no address (`--network none`,
    or host networking with no host address known).
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
