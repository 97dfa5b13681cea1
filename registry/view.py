"""The isolation rule: which networks a client is on, and which addresses it may be given.

One rule in one place, used by DNS answers (A/AAAA, SRV and PTR) and by the explain view:

- A client that is a known container is on the networks its addresses are on. It is known
  by one of its addresses, or by a client-only address (`Endpoint.client_addresses`: a Swarm
  container asking the host's dnsd leaves through docker_gwbridge, so its queries come from
  its docker_gwbridge address, which Docker's inspect does not list and dnsd never answers).
- A client not registered (yet) whose address lies inside a known network's subnet is on
  that network: a container asking in its first milliseconds, before its start event has
  been processed, is scoped like one that has been.
- Anyone else (the host, including every network's gateway address, loopback, other
  machines) sees every network: the full view.

An address is visible to a scoped client when it is on one of the client's networks, or on
no particular network (static records, host networking: reachable from everywhere). A name
none of whose addresses is visible does not exist for that client. For a bare Compose
service name, the replicas of the client's own Compose project come first.

Pure: no I/O, no logging. It must not decide health or rotation (`registry.snapshot` does).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from registry.model import Address, Endpoint, Network, Origin, Scope

HOST_NETWORK = "host"
UNSCOPED_NETWORKS = frozenset({"", HOST_NETWORK})
"""Addresses on these 'networks' are reachable from any client."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientView:
    """What one client may see: `networks` None means every network (the full view).

    Hashable, so it can key a cache of encoded replies: clients with equal views get equal
    answers.
    """

    networks: frozenset[str] | None = None
    project: str = ""

    @property
    def scoped(self) -> bool:
        return self.networks is not None

    def sees(self, address: Address) -> bool:
        """True when this client may be given `address`.

        A remote container's overlay address (scope `overlay`, see `registry.reachability`)
        only to clients on that network, never to the full view: the host and unknown
        clients cannot route to an overlay.
        """
        networks = self.networks
        if address.scope is Scope.OVERLAY:
            return networks is not None and address.network in networks
        return networks is None or address.network in networks or not _scoped(address)


FULL_VIEW = ClientView()


def _scoped(address: Address) -> bool:
    return address.network not in UNSCOPED_NETWORKS


class NetworkIndex:
    """The networks every source knows, with their subnets parsed once (immutable)."""

    __slots__ = ("_by_source", "_gateways", "_ranges", "subnets")

    def __init__(self, by_source: Mapping[str, tuple[Network, ...]] | None = None) -> None:
        self._by_source: Mapping[str, tuple[Network, ...]] = MappingProxyType(dict(by_source or {}))
        ranges: list[tuple[IpNetwork, str]] = []
        gateways: set[IpAddress] = set()
        for network in self.networks():
            for cidr in network.subnets:
                ranges.append((ipaddress.ip_network(cidr, strict=False), network.name))
            gateways.update(ipaddress.ip_address(g) for g in network.gateways)
        self._ranges = tuple(ranges)
        self._gateways = frozenset(gateways)
        self.subnets: frozenset[str] = frozenset(str(net) for net, _ in ranges)
        """Every known subnet as a CIDR (the same object for as long as the index lives)."""

    def networks(self) -> tuple[Network, ...]:
        return tuple(n for nets in self._by_source.values() for n in nets)

    def by_source(self) -> Mapping[str, tuple[Network, ...]]:
        """Each source's networks, as its last `Networks` event gave them."""
        return self._by_source

    def replaced(self, source: str, networks: tuple[Network, ...]) -> NetworkIndex:
        """The index with `source`'s networks replaced (self when nothing changes)."""
        if self._by_source.get(source) == networks:
            return self
        by_source = dict(self._by_source)
        by_source[source] = networks
        return NetworkIndex(by_source)

    def networks_at(self, client_ip: str) -> frozenset[str]:
        """Names of the networks whose subnet holds `client_ip` (none for a gateway)."""
        address = parse_client_address(client_ip)
        if address is None or address in self._gateways:
            return frozenset()
        return frozenset(name for net, name in self._ranges if address in net)


def parse_client_address(client_ip: str) -> IpAddress | None:
    """The client's address with any zone dropped and IPv4-mapped IPv6 unwrapped."""
    try:
        address = ipaddress.ip_address(client_ip.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Recognised(StrEnum):
    """How a client address was recognised (the explain view says so)."""

    ADDRESS = "address"  # one of a container's own addresses
    CLIENT_ADDRESS = "client-address"  # a container's client-only address (docker_gwbridge)
    SUBNET = "subnet"  # no container has it (yet); it lies in known networks' subnets


@dataclass(frozen=True, slots=True)
class Recognition:
    """Who a client address is: the endpoint (None for SUBNET), how it was recognised, and
    the network(s) the address is on."""

    how: Recognised
    endpoint: Endpoint | None
    networks: tuple[str, ...]


def client_view(
    client_ip: str | None, client: Endpoint | None, networks: NetworkIndex
) -> ClientView:
    """The view of the client at `client_ip`; `client` is the endpoint at that address, if any."""
    if client_ip is None:
        return FULL_VIEW
    project = client.project if client is not None else ""
    on: frozenset[str] = frozenset()
    if client is not None:
        on = frozenset(a.network for a in client.addresses if _scoped(a))
    if not on:
        on = networks.networks_at(client_ip)
    return ClientView(on or None, project)


def recognition(
    client_ip: str, owner: Endpoint | None, client: Endpoint | None, networks: NetworkIndex
) -> Recognition | None:
    """How the client at `client_ip` is recognised, as `client_view` scopes it: `client` is
    the `owner` of the address or the endpoint holding it as a client-only address; one on no
    particular network (host networking) is not what scopes it. Else the subnets the address
    lies in; None for the full view."""
    wanted = parse_client_address(client_ip)
    if client is not None and any(_scoped(a) for a in client.addresses):
        if client is owner:
            return Recognition(Recognised.ADDRESS, client, _networks_of(client.addresses, wanted))
        on = _networks_of(client.client_addresses, wanted)
        return Recognition(Recognised.CLIENT_ADDRESS, client, on)
    around = networks.networks_at(client_ip)
    return Recognition(Recognised.SUBNET, None, tuple(sorted(around))) if around else None


def _networks_of(addresses: Iterable[Address], wanted: IpAddress | None) -> tuple[str, ...]:
    return tuple(a.network for a in addresses if parse_client_address(a.ip) == wanted)


def visible_endpoints(view: ClientView, endpoints: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    """The endpoints with at least one address the client may be given."""
    if view.networks is None:
        return endpoints
    return tuple(ep for ep in endpoints if any(view.sees(a) for a in ep.addresses))


def visible_addresses(view: ClientView, endpoints: Iterable[Endpoint]) -> tuple[str, ...]:
    """Every address of `endpoints` the client may be given, each once, in order."""
    out: dict[str, None] = {}
    for ep in endpoints:
        for address in ep.addresses:
            if view.sees(address):
                out.setdefault(address.ip)
    return tuple(out)


def prefer_project(
    view: ClientView, key: str, claimants: tuple[Endpoint, ...]
) -> tuple[Endpoint, ...]:
    """For a Compose service name, the replicas of the client's own project when it has any.

    Applies when a claimant claims `key` as its Compose service (whatever other origins
    the same name has on it, such as the network alias Compose always adds).
    """
    if not view.project:
        return claimants
    own = tuple(
        ep
        for ep in claimants
        if ep.project == view.project
        and any(c.key == key and c.origin is Origin.COMPOSE_SERVICE for c in ep.claims)
    )
    return own or claimants
