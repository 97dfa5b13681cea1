"""The registry's only inputs: events from sources.

`Upsert` adds or replaces one endpoint, `Remove` drops one, and `Resync`
replaces everything one source owns (how a reconnect reconciles what it
missed). `Networks` replaces the networks one source knows (names, subnets,
gateways), which is what lets answers be scoped to the client's networks.
Frozen values, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.model import Endpoint, Network


@dataclass(frozen=True, slots=True)
class Upsert:
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Remove:
    source: str
    id: str


@dataclass(frozen=True, slots=True)
class Resync:
    source: str
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class Networks:
    source: str
    networks: tuple[Network, ...]


Event = Upsert | Remove | Resync | Networks
