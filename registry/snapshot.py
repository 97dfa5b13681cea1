"""An immutable view of every endpoint, with the indexes the DNS core reads.

`Snapshot.apply(event)` returns a new snapshot; nothing here mutates after
construction. Lookups take name keys (see `registry.names`) and know nothing
of zones or wire formats. No I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from registry.events import Event, Remove, Resync, Upsert
from registry.model import Endpoint, Origin

Ref = tuple[str, str]


class UnhealthyPolicy(StrEnum):
    """What a name answers when every endpoint behind it is out for health.

    SERVE_ALL (fail open) answers the not-paused endpoints anyway, so a service
    whose replicas are all `starting` or `unhealthy` is still reachable;
    EMPTY answers no addresses (NOERROR, no data).
    """

    SERVE_ALL = "serve-all"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """An SRV answer: `target` is the owning endpoint's canonical name key."""

    target: str
    port: int
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name resolves to for one client; `exists` is False for an unknown name."""

    exists: bool
    addresses: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


class Snapshot:
    """All endpoints at one version, indexed by name, SRV name and address."""

    __slots__ = ("_by_ip", "_endpoints", "_names", "_srv", "version")

    def __init__(self, endpoints: Mapping[Ref, Endpoint] | None = None, version: int = 0) -> None:
        self.version = version
        self._endpoints: Mapping[Ref, Endpoint] = MappingProxyType(dict(endpoints or {}))
        self._names, self._srv, self._by_ip = _index(self._endpoints.values())

    # -- events -------------------------------------------------------------
    def apply(self, event: Event) -> Snapshot:
        """Return the snapshot that follows this one after `event`."""
        endpoints = dict(self._endpoints)
        if isinstance(event, Upsert):
            endpoints[event.endpoint.ref] = event.endpoint
        elif isinstance(event, Remove):
            if (event.source, event.id) not in endpoints:
                return self
            del endpoints[(event.source, event.id)]
        else:
            endpoints = _resync(endpoints, event)
        return Snapshot(endpoints, self.version + 1)

    # -- reads --------------------------------------------------------------
    @property
    def endpoints(self) -> Mapping[Ref, Endpoint]:
        return self._endpoints

    def names(self) -> Mapping[str, tuple[Endpoint, ...]]:
        """Every name key with the endpoints that claim it (in stable order)."""
        return self._names

    def srv_names(self) -> Mapping[str, tuple[SrvRecord, ...]]:
        return self._srv

    def has_name(self, key: str) -> bool:
        return key in self._names or key in self._srv

    def endpoint_at(self, ip: str) -> Endpoint | None:
        """The endpoint that owns address `ip` (PTR, and who a client is)."""
        return self._by_ip.get(_canonical_ip(ip))

    def resolve(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
    ) -> Resolution:
        """Addresses for name `key` as seen by `client_ip`, in stable (unrotated) order."""
        claimants = self._names.get(key)
        if claimants is None:
            return Resolution(exists=key in self._srv)
        client = self.endpoint_at(client_ip) if client_ip else None
        chosen = in_rotation(_prefer_project(claimants, key, client), policy)
        return Resolution(True, _addresses_for(chosen, client), chosen)

    def resolve_srv(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
    ) -> tuple[SrvRecord, ...]:
        """SRV records under `key` whose endpoints are in rotation."""
        records = self._srv.get(key, ())
        chosen = {e.ref for e in in_rotation(tuple(r.endpoint for r in records), policy)}
        return tuple(r for r in records if r.endpoint.ref in chosen)


def _resync(endpoints: dict[Ref, Endpoint], event: Resync) -> dict[Ref, Endpoint]:
    kept = {ref: ep for ref, ep in endpoints.items() if ref[0] != event.source}
    for endpoint in event.endpoints:
        if endpoint.source != event.source:
            raise ValueError(f"resync of {event.source!r} carries {endpoint.source!r}")
        kept[endpoint.ref] = endpoint
    return kept


def _index(
    endpoints: Iterable[Endpoint],
) -> tuple[dict[str, tuple[Endpoint, ...]], dict[str, tuple[SrvRecord, ...]], dict[str, Endpoint]]:
    names: dict[str, list[Endpoint]] = {}
    srv: dict[str, list[SrvRecord]] = {}
    by_ip: dict[str, Endpoint] = {}
    for ep in sorted(endpoints, key=lambda e: (e.name, e.source, e.id)):
        keys = dict.fromkeys(claim.key for claim in ep.claims)
        for key in keys:
            names.setdefault(key, []).append(ep)
            for port in ep.ports:
                srv_key = _join(f"{port.service_label}._{port.proto}", key)
                srv.setdefault(srv_key, []).append(SrvRecord(ep.name, port.port, ep))
        for address in ep.addresses:
            by_ip.setdefault(_canonical_ip(address.ip), ep)
    return (
        {k: tuple(v) for k, v in names.items()},
        {k: tuple(v) for k, v in srv.items()},
        by_ip,
    )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}"


def _canonical_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def _prefer_project(
    claimants: tuple[Endpoint, ...], key: str, client: Endpoint | None
) -> tuple[Endpoint, ...]:
    """For a bare Compose service name, keep the client's own project when it has one."""
    if client is None or not client.project:
        return claimants
    own = tuple(
        ep
        for ep in claimants
        if ep.project == client.project
        and any(c.key == key and c.origin is Origin.COMPOSE_SERVICE for c in ep.claims)
    )
    return own or claimants


def in_rotation(claimants: tuple[Endpoint, ...], policy: UnhealthyPolicy) -> tuple[Endpoint, ...]:
    """The rotation rule: paused endpoints are out; unhealthy ones too, unless every live one
    is unhealthy and the policy fails open. The explain view uses this same function."""
    live = tuple(ep for ep in claimants if not ep.paused)
    healthy = tuple(ep for ep in live if ep.healthy)
    if healthy or policy is UnhealthyPolicy.EMPTY:
        return healthy
    return live


def _addresses_for(endpoints: tuple[Endpoint, ...], client: Endpoint | None) -> tuple[str, ...]:
    """Every address, or only those on networks shared with a known client."""
    shared: set[str] = set()
    if client is not None:
        mine = {a.network for a in client.addresses if a.network}
        shared = {a.network for ep in endpoints for a in ep.addresses if a.network in mine}
    out: dict[str, None] = {}
    for ep in endpoints:
        for address in ep.addresses:
            if not shared or address.network in shared or not address.network:
                out.setdefault(address.ip)
    return tuple(out)
