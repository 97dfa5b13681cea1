"""An immutable view of every endpoint, with the indexes the DNS core reads.

`Snapshot.apply(event)` returns a new snapshot; nothing here mutates after
construction. Lookups take name keys (see `registry.names`) and a client (its
address or its `ClientView`; the isolation rule lives in `registry.view`), and
know nothing of zones or wire formats. No I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from registry.events import Event, Networks, Remove, Resync, Upsert
from registry.model import Endpoint, Network
from registry.view import (
    FULL_VIEW,
    ClientView,
    NetworkIndex,
    client_view,
    prefer_project,
    visible_addresses,
    visible_endpoints,
)

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
    """What a name resolves to for one client; `exists` is False for an unknown name.

    `hidden` is True when the name is registered but nothing behind it is visible to
    this client (the isolation rule): for that client it does not exist.
    """

    exists: bool
    addresses: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    hidden: bool = False


NOT_FOUND = Resolution(exists=False)
HIDDEN = Resolution(exists=False, hidden=True)
FOUND = Resolution(exists=True)


class Snapshot:
    """All endpoints at one version, indexed by name, SRV name and address."""

    __slots__ = ("_by_ip", "_endpoints", "_names", "_networks", "_srv", "version")

    def __init__(
        self,
        endpoints: Mapping[Ref, Endpoint] | None = None,
        version: int = 0,
        networks: NetworkIndex | None = None,
    ) -> None:
        self.version = version
        self._endpoints: Mapping[Ref, Endpoint] = MappingProxyType(dict(endpoints or {}))
        self._names, self._srv, self._by_ip = _index(self._endpoints.values())
        self._networks = networks or NetworkIndex()

    # -- events -------------------------------------------------------------
    def apply(self, event: Event) -> Snapshot:
        """Return the snapshot that follows this one after `event`."""
        if isinstance(event, Networks):
            index = self._networks.replaced(event.source, event.networks)
            if index is self._networks:
                return self
            return Snapshot(self._endpoints, self.version + 1, index)
        endpoints = dict(self._endpoints)
        if isinstance(event, Upsert):
            endpoints[event.endpoint.ref] = event.endpoint
        elif isinstance(event, Remove):
            if (event.source, event.id) not in endpoints:
                return self
            del endpoints[(event.source, event.id)]
        else:
            endpoints = _resync(endpoints, event)
        return Snapshot(endpoints, self.version + 1, self._networks)

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

    def networks(self) -> tuple[Network, ...]:
        """Every network the sources have published (names, subnets, gateways)."""
        return self._networks.networks()

    def subnets(self) -> frozenset[str]:
        """Every known network's subnet; the same object until the networks change."""
        return self._networks.subnets

    def endpoint_at(self, ip: str, view: ClientView = FULL_VIEW) -> Endpoint | None:
        """The endpoint that owns address `ip` (PTR, and who a client is).

        With a scoped `view`, None unless that client may be given the address.
        """
        canonical = _canonical_ip(ip)
        endpoint = self._by_ip.get(canonical)
        if endpoint is None or view.networks is None:
            return endpoint
        for address in endpoint.addresses:
            if _canonical_ip(address.ip) == canonical and view.sees(address):
                return endpoint
        return None

    def view_of(self, client_ip: str | None) -> ClientView:
        """The isolation rule's view of the client at `client_ip` (None: the full view)."""
        if client_ip is None:
            return FULL_VIEW
        return client_view(client_ip, self.endpoint_at(client_ip), self._networks)

    def resolve(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
        *,
        view: ClientView | None = None,
    ) -> Resolution:
        """Addresses for name `key` as seen by the client, in stable (unrotated) order.

        The client is `view` when given, else the view of `client_ip`.
        """
        if view is None:
            view = self.view_of(client_ip)
        claimants = self._names.get(key)
        if claimants is None:
            records = self._srv.get(key)
            if records is None:
                return NOT_FOUND
            seen = visible_endpoints(view, tuple(r.endpoint for r in records))
            return FOUND if seen else HIDDEN
        seen = visible_endpoints(view, claimants)
        if not seen:
            return HIDDEN
        chosen = in_rotation(prefer_project(view, key, seen), policy)
        return Resolution(True, visible_addresses(view, chosen), chosen)

    def resolve_srv(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
        *,
        view: ClientView | None = None,
    ) -> tuple[SrvRecord, ...]:
        """SRV records under `key` whose endpoints are visible to the client and in rotation."""
        if view is None:
            view = self.view_of(client_ip)
        records = self._srv.get(key, ())
        seen = visible_endpoints(view, tuple(r.endpoint for r in records))
        chosen = {e.ref for e in in_rotation(seen, policy)}
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


def in_rotation(claimants: tuple[Endpoint, ...], policy: UnhealthyPolicy) -> tuple[Endpoint, ...]:
    """The rotation rule: paused endpoints are out; unhealthy ones too, unless every live one
    is unhealthy and the policy fails open. The explain view uses this same function."""
    live = tuple(ep for ep in claimants if not ep.paused)
    healthy = tuple(ep for ep in live if ep.healthy)
    if healthy or policy is UnhealthyPolicy.EMPTY:
        return healthy
    return live
