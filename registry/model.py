"""Frozen values that describe one endpoint: a container, or a static record.

Every endpoint is tagged with the `source` that owns it, so several sources
(Docker, a records file, the HTTP API, later Swarm or etcd) can feed one
registry without stepping on each other. No I/O and no behaviour beyond
derived properties.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class NameClaim:
    """One name (a key from `registry.names.name_key`) and why it is claimed."""

    key: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Address:
    """One IP address of an endpoint, on one network ('' when unknown)."""

    ip: str
    network: str = ""

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
    """A service port; `name` becomes the SRV service label (`_http`), else `_<port>`."""

    port: int
    proto: str = "tcp"
    name: str = ""

    @property
    def service_label(self) -> str:
        return f"_{self.name or self.port}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Something that answers on some addresses under some names.

    `source` names the producer that owns it ("docker", "file:/etc/x",
    "api"); `id` is unique within that source (a container id). `name` is the
    canonical relative name used as PTR and SRV target.
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

    @property
    def ref(self) -> tuple[str, str]:
        return (self.source, self.id)

    @property
    def healthy(self) -> bool:
        """True when health does not keep it out of rotation."""
        return self.health in (Health.NONE, Health.HEALTHY)

    def out_of_rotation_reason(self) -> str:
        """'' when in rotation, else a short human reason."""
        if self.paused:
            return "paused"
        if not self.healthy:
            return f"health is {self.health.value}"
        return ""
