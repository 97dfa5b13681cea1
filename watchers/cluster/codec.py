"""The cluster's key layout and value format: local endpoints out, remote endpoints in.

Keys: `/dnsd/v1/<zone>/nodes/<node>/<source>/<id>` (source and id percent-encoded), one per
endpoint; the value is compact JSON (`encode`). Everything read back is untrusted: `decode`
bounds the size and every list, checks every name, address and port, and raises
`BadValue` naming what is wrong; it never returns half a value. Pure: no I/O, no logging.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from registry import (
    Address,
    Endpoint,
    Event,
    Health,
    NameClaim,
    Origin,
    Port,
    Resync,
    Scope,
    Upsert,
)
from registry.model import CLUSTER_SOURCE_PREFIX, ip_text
from registry.names import is_absolute, name_key
from registry.reachability import ANY, remote_addresses

FORMAT = 1
MAX_VALUE_BYTES = 16 * 1024
MAX_KEY_TAIL = 512
MAX_NAMES, MAX_ADDRESSES, MAX_PORTS, MAX_TEXT = 64, 32, 64, 255
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
PROTOS = frozenset({"tcp", "udp", "sctp"})
ORIGINS = {o.value: o for o in Origin if o is not Origin.NODE}  # NODE is derived, never read
HEALTHS = {h.value: h for h in Health}
SCOPES = frozenset({Scope.LOCAL.value, Scope.OVERLAY.value, ANY})


class BadValue(ValueError):
    """A value read from etcd that dnsd will not use; str() says why."""


def prefix(zone: str) -> str:
    """Every node's keys live under this prefix."""
    return f"/dnsd/v{FORMAT}/{zone.rstrip('.').lower()}/nodes/"


def node_prefix(zone: str, node: str) -> str:
    return f"{prefix(zone)}{node}/"


def endpoint_key(zone: str, node: str, source: str, id_: str) -> str:
    return f"{node_prefix(zone, node)}{quote(source, safe='')}/{quote(id_, safe='')}"


def split_key(zone: str, key: str) -> tuple[str, str] | None:
    """(node, endpoint id within the node) for a key under the prefix, else None."""
    head = prefix(zone)
    if not key.startswith(head):
        return None
    node, _, tail = key[len(head) :].partition("/")
    return (node, tail) if node and tail else None


def cluster_source(node: str) -> str:
    return CLUSTER_SOURCE_PREFIX + node


# -- local endpoints -----------------------------------------------------------------


def with_node(ep: Endpoint, node: str) -> Endpoint:
    """`ep` as this node's endpoint: tagged with the node, and every relative name also as
    `<name>.<node>` (so `web.node-a.<zone>` reaches only node-a's `web`)."""
    claims = [c for c in ep.claims if c.origin is not Origin.NODE]
    return replace(ep, node=node, claims=tuple(dict.fromkeys(claims + _node_claims(claims, node))))


def _node_claims(claims: list[NameClaim], node: str) -> list[NameClaim]:
    return [
        NameClaim(f"{c.key}.{node}", Origin.NODE)
        for c in claims
        if not is_absolute(c.key) and len(c.key) + len(node) < 253  # both parts already valid
    ]


def stamp(event: Event, node: str) -> Event:
    """A local source's event with its endpoints tagged by `with_node`."""
    if isinstance(event, Upsert):
        return Upsert(with_node(event.endpoint, node), event.reason)
    if isinstance(event, Resync):
        endpoints = tuple(with_node(ep, node) for ep in event.endpoints)
        return Resync(event.source, endpoints, event.reason)
    return event


def encode(ep: Endpoint, advertise_ip: str) -> bytes:
    """The value published for a local endpoint (names relative to the zone only)."""
    body = {
        "v": FORMAT,
        "source": ep.source,
        "name": ep.name,
        "names": [
            {"name": c.key, "origin": c.origin.value}
            for c in ep.claims
            if c.origin is not Origin.NODE and not is_absolute(c.key)
        ],
        "addresses": [
            {"ip": a.ip, "network": a.network, "scope": _scope(ep, a)} for a in ep.addresses
        ],
        "ports": [
            {
                "port": p.port,
                "proto": p.proto,
                "name": p.name,
                "host_port": p.host_port,
                "host_ip": p.host_ip,
            }
            for p in ep.ports
        ],
        "health": ep.health.value,
        "paused": ep.paused,
        "project": ep.project,
        "host": advertise_ip,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _scope(ep: Endpoint, address: Address) -> str:
    """Docker addresses keep their scope; static records name addresses meant for anyone."""
    return address.scope.value if ep.source == "docker" else ANY


# -- remote endpoints ------------------------------------------------------------------


def decode(raw: bytes, node: str, endpoint_id: str) -> Endpoint:
    """The registry endpoint for another node's value; raises `BadValue`."""
    if len(endpoint_id) > MAX_KEY_TAIL or not _is_label(node):
        raise BadValue("node name or endpoint id in the key is not usable")
    if len(raw) > MAX_VALUE_BYTES:
        raise BadValue(f"value of {len(raw)} bytes is over the limit of {MAX_VALUE_BYTES}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadValue(f"not JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("v") != FORMAT:
        raise BadValue(f"not a format-{FORMAT} endpoint object")
    try:
        return _endpoint(body, node, endpoint_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadValue(str(exc) or type(exc).__name__) from None


def _endpoint(body: dict[str, Any], node: str, endpoint_id: str) -> Endpoint:
    name = _relative(_text(body["name"]))
    claims = [
        NameClaim(_relative(_text(c["name"])), _origin(c["origin"]))
        for c in _list(body.get("names"), MAX_NAMES)
    ]
    host = _ip(body.get("host") or "") if body.get("host") else ""
    ports = tuple(
        p for p in (_port(item, host) for item in _list(body.get("ports"), MAX_PORTS)) if p
    )
    triples = [_address(item) for item in _list(body.get("addresses"), MAX_ADDRESSES)]
    addresses = remote_addresses(triples, host, bool(ports))
    paused = body.get("paused", False)
    if not isinstance(paused, bool):
        raise ValueError("paused is not true or false")
    return Endpoint(
        source=cluster_source(node),
        id=endpoint_id,
        name=name,
        claims=tuple(dict.fromkeys(claims + _node_claims(claims, node))),
        addresses=addresses,
        ports=ports,
        health=_health(body.get("health", "none")),
        paused=paused,
        project=_text(body.get("project", "")),
        networks=tuple(dict.fromkeys(a.network for a in addresses if a.scope is Scope.OVERLAY)),
        node=node,
    )


def _is_label(node: str) -> bool:
    try:
        return "." not in node and name_key(node) == node
    except ValueError:
        return False


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"expected a string of at most {MAX_TEXT} characters")
    return value


def _relative(text: str) -> str:
    key = name_key(text)
    if is_absolute(key):
        raise ValueError(f"name {text!r} is outside the zone")
    return key


def _origin(value: object) -> Origin:
    text = _text(value)
    origin = ORIGINS.get(text)
    if origin is None:
        if text == Origin.NODE.value:
            raise ValueError("origin 'node' is derived, never published")
        raise ValueError(f"{text!r} is not a valid Origin")
    return origin


def _health(value: object) -> Health:
    health = HEALTHS.get(value) if isinstance(value, str) else None
    if health is None:
        raise ValueError(f"{value!r} is not a valid Health")
    return health


def _list(value: object, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"expected a list of at most {limit} items")
    return value


def _ip(value: object) -> str:
    return ip_text(_text(value))


def _address(item: Any) -> tuple[str, str, str]:
    scope = _text(item.get("scope", Scope.LOCAL.value))
    if scope not in SCOPES:
        raise ValueError(f"address scope {scope!r} is not local, overlay or any")
    return (_ip(item["ip"]), _text(item.get("network", "")), scope)


def _port(item: Any, host: str) -> Port | None:
    """The port as other hosts reach it (the published host port), or None if unpublished
    or bound to an address other than a wildcard or the node's advertised one."""
    numbers = [item.get(k, 0) for k in ("port", "host_port")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 65536 for n in numbers):
        raise ValueError("port numbers must be 0-65535")
    proto, label = _text(item.get("proto", "tcp")), _text(item.get("name", ""))
    if proto not in PROTOS or (label and not label.replace("-", "").isalnum()):
        raise ValueError(f"bad port protocol {proto!r} or name {label!r}")
    host_ip = _text(item.get("host_ip", ""))
    if not numbers[1] or not (host_ip in WILDCARDS or host_ip == host) or not host:
        return None
    return Port(numbers[1], proto, label or str(numbers[0]), numbers[1], host_ip)
