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
    scope) triples (`remote_address` each), and the node's `advertise_ip` when it publishes
    host ports (`host_address`)."""
    out = [a for a in (remote_address(*triple) for triple in addresses) if a is not None]
    if publishes_ports and advertise_ip:
        out.append(host_address(advertise_ip))
    return tuple(out)


def remote_address(ip: str, network: str, scope: str) -> Address | None:
    """One published address as another host may use it: on a multi-host network (scope
    `overlay`), or declared for everyone (scope `any`: records files, API records); None for
    an address on the node's own local networks."""
    if scope == Scope.OVERLAY.value:
        return Address(ip, network, Scope.OVERLAY)
    return Address(ip, network, Scope.HOST) if scope == ANY else None


def host_address(advertise_ip: str) -> Address:
    """A node's advertised address: where its containers' published host ports are reached."""
    return Address(advertise_ip, "", Scope.HOST)
