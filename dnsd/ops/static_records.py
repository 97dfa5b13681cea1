"""Manual records from the HTTP API: a PUT body, validated, becomes one registry endpoint.

Pure: JSON values in, an `Endpoint` (source `api`) or a ValueError naming the user's mistake
out; the bounds come from `HttpBounds`. The handlers that apply them live in `http_api`.
"""

from __future__ import annotations

import ipaddress

from dnsd.ops.http_bounds import HttpBounds
from registry import Address, Endpoint, NameClaim, Origin, Port
from registry.names import user_key

API_SOURCE = "api"


def static_key(text: str, zone: str) -> str:
    """A manual record's key, as in records files: `web.docker.` -> `web`; raises ValueError."""
    return user_key(text, zone)


def parse_port(item: object) -> Port:
    if isinstance(item, int) and not isinstance(item, bool):
        item = {"port": item}
    if not isinstance(item, dict) or not isinstance(item.get("port"), int):
        raise ValueError('each port is a number or {"port": 80, "proto": "tcp", "name": "http"}')
    proto, label = item.get("proto", "tcp"), item.get("name", "")
    if not 1 <= item["port"] <= 65535 or proto not in ("tcp", "udp") or not isinstance(label, str):
        raise ValueError("port must be 1-65535, proto tcp or udp, name a string")
    return Port(item["port"], proto, label)


def static_endpoint(key: str, body: object, bounds: HttpBounds | None = None) -> Endpoint:
    """Validate a PUT body and build the endpoint; raises ValueError with the user's mistake."""
    bounds = bounds or HttpBounds()
    if not isinstance(body, dict):
        raise ValueError('expected a JSON object like {"addresses": ["10.1.2.3"]}')
    unknown = set(body) - {"addresses", "ports"}
    if "ttl" in unknown:
        raise ValueError('"ttl" is not supported: local answers use the server\'s --ttl')
    if unknown:
        raise ValueError(
            f"unknown fields: {', '.join(sorted(unknown))}; accepted: addresses, ports"
        )
    addresses = body.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        raise ValueError('"addresses" must be a non-empty list of IP addresses')
    if len(addresses) > bounds.max_addresses:
        raise ValueError(f'"addresses": at most {bounds.max_addresses} per record')
    try:
        ips = [str(ipaddress.ip_address(str(a))) for a in addresses]
    except ValueError as exc:
        raise ValueError(f'"addresses": {exc}') from None
    ports = body.get("ports", [])
    if not isinstance(ports, list) or len(ports) > bounds.max_ports:
        raise ValueError(f'"ports" must be a list of at most {bounds.max_ports}')
    return Endpoint(
        source=API_SOURCE,
        id=key,
        name=key,
        claims=(NameClaim(key, Origin.STATIC),),
        addresses=tuple(Address(ip) for ip in dict.fromkeys(ips)),
        ports=tuple(parse_port(p) for p in ports),
    )
