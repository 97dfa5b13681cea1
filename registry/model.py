"""Frozen values that describe one endpoint: a container, or a static record.

Every endpoint is tagged with the `source` that owns it, so several sources
(Docker, a records file, the HTTP API, later Swarm or etcd) can feed one
registry without stepping on each other. No I/O and no behaviour beyond
derived properties.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
CLUSTER_SOURCE_PREFIX = "cluster:"
UNREACHABLE = "not reachable from other hosts"


class Health(StrEnum):
    """Docker's health states; NONE means the endpoint has no health check."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Origin(StrEnum):
    """Why an endpoint claims a name; shown by the explain view."""

    CONTAINER_NAME = "container-name"
    HOSTNAME = "hostname"
    ALIAS = "network-alias"
    COMPOSE_SERVICE = "compose-service"
    COMPOSE_PROJECT_SERVICE = "compose-project-service"
    LABEL = "label"
    STATIC = "static"
    SWARM_SERVICE = "swarm-service"
    SWARM_STACK_SERVICE = "swarm-stack-service"
    SWARM_TASKS = "swarm-tasks"
    SWARM_TASK = "swarm-task"
    SWARM_NODE = "swarm-node"
    SWARM_PUBLISHED = "swarm-published"
    NODE = "node"  # <name>.<node>: one cluster node's endpoints under a name


class Scope(StrEnum):
    """Who can reach an address (see `registry.reachability`).

    LOCAL: on this host's own networks (the Docker rule: clients on shared networks
    prefer them). OVERLAY: a remote container's address on a multi-host network, only
    for clients on that network. HOST: a remote node's advertised address, where the
    container publishes ports; anyone can reach it.
    """

    LOCAL = "local"
    OVERLAY = "overlay"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class NameClaim:
    """One name (a key from `registry.names.name_key`) and why it is claimed.

    An `srv_only` claim puts the endpoint's ports under the name's SRV names
    without adding its addresses to the name itself (a Swarm node that serves
    a service's published port, but is not that service).
    """

    key: str
    origin: Origin
    srv_only: bool = False


def ip_text(text: str) -> str:
    """The canonical text of an IP address; raises ValueError for anything else. A dotted
    quad that is already canonical (no leading zeros) is returned without parsing."""
    if _DOTTED_QUAD.fullmatch(text):
        return text
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True, slots=True)
class Address:
    """One IP address of an endpoint, on one network ('' when unknown)."""

    ip: str
    network: str = ""
    scope: Scope = Scope.LOCAL

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.ip).version


@dataclass(frozen=True, slots=True)
class Network:
    """A network a source knows: its name, address ranges (CIDRs) and gateways.

    A source address inside `subnets` is on this network (a container attached to it),
    except the gateways, which are the host's own addresses on it.
    """

    name: str
    subnets: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Port:
    """A service port; `name` becomes the SRV service label (`_http`), else `_<port>`.

    `host_port` (0: none) is where the host publishes it, bound to `host_ip`
    ('' or a wildcard: every host address).
    """

    port: int
    proto: str = "tcp"
    name: str = ""
    host_port: int = 0
    host_ip: str = ""

    @property
    def service_label(self) -> str:
        return f"_{self.name or self.port}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Something that answers on some addresses under some names.

    `source` names the producer that owns it ("docker", "file:/etc/x",
    "api"); `id` is unique within that source (a container id). `name` is the
    canonical relative name used as PTR and SRV target. `withdrawn`, when
    set, says why the source took it out of rotation (a Swarm task shutting
    down): like `paused`, it stays out whatever the unhealthy policy. `meta`
    holds source facts the explain view shows (service, mode, node, state).
    `client_addresses` identify the endpoint when it asks (a Swarm container's
    docker_gwbridge address, the source of its queries to the host) but are never
    answered: not in A/AAAA, PTR, SRV glue, the explain view's answers or the cluster
    codec. Local-only identity: remote endpoints do not carry them.
    """

    source: str
    id: str
    name: str
    claims: tuple[NameClaim, ...]
    addresses: tuple[Address, ...]
    ports: tuple[Port, ...] = ()
    health: Health = Health.NONE
    paused: bool = False
    project: str = ""
    networks: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = field(default=())
    withdrawn: str = ""
    meta: tuple[tuple[str, str], ...] = ()
    node: str = ""  # the cluster node it runs on; '' outside cluster mode
    client_addresses: tuple[Address, ...] = ()

    @property
    def ref(self) -> tuple[str, str]:
        return (self.source, self.id)

    @property
    def healthy(self) -> bool:
        """True when health does not keep it out of rotation."""
        return self.health in (Health.NONE, Health.HEALTHY)

    @property
    def suspended(self) -> bool:
        """Out of rotation whatever the unhealthy policy (paused or withdrawn)."""
        return self.paused or bool(self.withdrawn)

    @property
    def remote(self) -> bool:
        """True for an endpoint another cluster node published (source `cluster:<node>`)."""
        return self.source.startswith(CLUSTER_SOURCE_PREFIX)

    @property
    def reachable(self) -> bool:
        """False for a remote endpoint with no address this host's clients can reach."""
        return bool(self.addresses) or not self.remote

    @property
    def live(self) -> bool:
        """Neither suspended (paused, withdrawn) nor unreachable: health alone decides."""
        return not self.suspended and self.reachable

    def out_of_rotation_reason(self) -> str:
        """'' when in rotation, else a short human reason."""
        if not self.reachable:
            return UNREACHABLE
        if self.paused:
            return "paused"
        if self.withdrawn:
            return self.withdrawn
        if not self.healthy:
            return f"health is {self.health.value}"
        return ""
