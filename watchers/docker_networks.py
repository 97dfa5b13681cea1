"""Docker network listings to registry values: names, subnets, gateways; the default bridge;
each container's docker_gwbridge address.

Pure functions over the engine's `/networks` JSON (plain dicts). The Docker watcher
publishes the result as a `Networks` event, so the isolation rule (`registry.view`) and
the recursion ACL read subnets from the registry. A Swarm container's queries to the host
leave through docker_gwbridge, an endpoint its own inspect does not list: only the network's
inspect (`Containers`) says which address is whose. No I/O, no Docker SDK.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from registry import Network
from watchers.docker_translate import GWBRIDGE_NETWORK, Json


def networks_from_listing(networks: Iterable[Json]) -> tuple[Network, ...]:
    """Every network of a `/networks` listing with its subnets and gateways, sorted by name.

    A subnet listed without a gateway has Docker's default one, the subnet's first host.
    """
    out = []
    for network in networks:
        subnets, gateways = [], []
        for config in (network.get("IPAM") or {}).get("Config") or ():
            subnet = _subnet((config or {}).get("Subnet"))
            if subnet is None:
                continue
            subnets.append(str(subnet))
            gateway = _address(str((config or {}).get("Gateway") or "").split("/")[0])
            if not gateway and subnet.num_addresses > 2:
                gateway = str(next(subnet.hosts()))
            if gateway:
                gateways.append(gateway)
        out.append(Network(str(network.get("Name", "")), tuple(subnets), tuple(gateways)))
    return tuple(sorted(out, key=lambda n: n.name))


def has_gwbridge(networks: Iterable[Json]) -> bool:
    """Whether a `/networks` listing holds docker_gwbridge (a Swarm host)."""
    return any(n.get("Name") == GWBRIDGE_NETWORK for n in networks)


def gwbridge_addresses(network: Json) -> dict[str, tuple[str, ...]]:
    """Container id -> its addresses on docker_gwbridge, from the network's inspect JSON
    (`Containers`: id -> IPv4Address/IPv6Address in CIDR form). Entries without a usable
    address and sandboxes that are no container (`ingress-sbox`) are left out."""
    out: dict[str, tuple[str, ...]] = {}
    for cid, entry in (network.get("Containers") or {}).items():
        if not _CONTAINER_ID.fullmatch(str(cid)):
            continue
        found = (_address(str((entry or {}).get(key) or "").split("/")[0]) for key in _FAMILIES)
        ips = tuple(ip for ip in found if ip)
        if ips:
            out[str(cid)] = ips
    return out


_FAMILIES = ("IPv4Address", "IPv6Address")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def _subnet(text: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False) if text else None
    except ValueError:
        return None


def _address(text: str) -> str:
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def subnets_of(networks: Iterable[Json]) -> frozenset[str]:
    """CIDRs of every network in a `/networks` listing."""
    out: set[str] = set()
    for network in networks:
        for config in (network.get("IPAM") or {}).get("Config") or ():
            subnet = (config or {}).get("Subnet")
            if subnet:
                out.add(str(ipaddress.ip_network(subnet, strict=False)))
    return frozenset(out)


def bridge_gateway(networks: Iterable[Json]) -> str | None:
    """The default bridge's gateway: its IPAM gateway, else the subnet's first host."""
    for network in networks:
        if network.get("Name") != "bridge":
            continue
        for config in (network.get("IPAM") or {}).get("Config") or ():
            if config.get("Gateway"):
                return str(config["Gateway"])
            if config.get("Subnet"):
                subnet = ipaddress.ip_network(config["Subnet"], strict=False)
                return str(next(subnet.hosts()))
    return None
