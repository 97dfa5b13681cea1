"""Reachability: which of an endpoint's addresses a given client can use. One rule, one place.

Local endpoints follow the Docker rule: a client that is itself a known container gets only
the addresses on networks it shares with the answer, everyone else gets every address.
Remote endpoints (published by another cluster node) carry only addresses that can work from
another host: their addresses on multi-host (overlay) networks, which only clients on that
network may use, and their node's advertised address when they publish ports on the host.
A remote endpoint with neither is not reachable from other hosts and is not answered.
DNS answers and the explain view both read these functions. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.model import Address, Endpoint, Scope

MULTI_HOST_SCOPES = frozenset({"swarm", "global"})  # Docker network scopes that span hosts
ANY = "any"  # a published address meant for every client (records files, API records)


def visible_addresses(endpoints: Iterable[Endpoint], client: Endpoint | None) -> tuple[str, ...]:
    """The addresses of `endpoints` that `client` (None: not a known container) can reach."""
    mine = {a.network for a in client.addresses if a.network} if client is not None else set()
    usable = [
        address
        for ep in endpoints
        for address in ep.addresses
        if address.scope is not Scope.OVERLAY or address.network in mine
    ]
    shared = {a.network for a in usable if a.network in mine}
    out: dict[str, None] = {}
    for address in usable:
        if not shared or address.network in shared or not address.network:
            out.setdefault(address.ip)
    return tuple(out)


def identifies_client(address: Address) -> bool:
    """Whether a query from `address` comes from this endpoint (a node's shared host address
    belongs to no single container)."""
    return address.scope is not Scope.HOST


def remote_addresses(
    addresses: Iterable[tuple[str, str, str]], advertise_ip: str, publishes_ports: bool
) -> tuple[Address, ...]:
    """What another host may use of a remote endpoint, from its published (ip, network,
    scope) triples: addresses on multi-host networks (scope `overlay`), addresses declared
    for everyone (scope `any`: records files, API records), and the node's `advertise_ip`
    when it publishes host ports. Addresses on the node's own local networks are dropped."""
    out = [
        Address(ip, network, Scope.OVERLAY if scope == Scope.OVERLAY.value else Scope.HOST)
        for ip, network, scope in addresses
        if scope in (Scope.OVERLAY.value, ANY)
    ]
    if publishes_ports and advertise_ip:
        out.append(Address(advertise_ip, "", Scope.HOST))
    return tuple(out)
