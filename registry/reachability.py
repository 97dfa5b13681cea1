"""Reachability across hosts: which addresses of a remote endpoint another host may use.

Remote endpoints (published by another cluster node) carry only addresses that can work from
another host: their addresses on multi-host (overlay) networks (scope `overlay`), which only
clients on that network may be given, and their node's advertised address (scope `host`) when
they publish ports on the host. A remote endpoint with neither is not reachable from other
hosts and is not answered. Which of these a given client gets is the isolation rule's job
(`registry.view`, the one place DNS answers and the explain view read). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.model import Address, Scope

MULTI_HOST_SCOPES = frozenset({"swarm", "global"})  # Docker network scopes that span hosts
ANY = "any"  # a published address meant for every client (records files, API records)


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
