"""The registry's only inputs: events from sources.

`Upsert` adds or replaces one endpoint, `Remove` drops one, and `Resync` replaces
everything one source owns (how a reconnect reconciles what it missed). `Upserts` adds
or replaces several endpoints of one source and drops none: a big resync arrives as
slices (`Upserts`) and then the `Resync` itself, so no single event holds the event loop
for long. Each event may carry a `reason`: a short human text saying what caused it (the
Docker event, a resync, a file change), kept in the change history. `Unsynced` says a
source's view is not known to be complete (never synced since start, or its connection
has been lost for a while) until its next `Resync`. `Networks` replaces the networks one
source knows (names, subnets, gateways), which is what lets answers be scoped to the
client's networks.
Frozen values, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.model import Endpoint, Network


@dataclass(frozen=True, slots=True)
class Upsert:
    endpoint: Endpoint
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Remove:
    source: str
    id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resync:
    source: str
    endpoints: tuple[Endpoint, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Upserts:
    source: str
    endpoints: tuple[Endpoint, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unsynced:
    source: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Networks:
    source: str
    networks: tuple[Network, ...]
    reason: str = ""


Event = Upsert | Remove | Resync | Upserts | Unsynced | Networks
