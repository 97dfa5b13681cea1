"""The straightforward cluster value decoder, kept as the reference the fast one in
`watchers.cluster.decode` is compared against (tests/cluster/test_cluster_decode_diff.py) and
timed against (bench/cluster_decode.py). It is the decoder as it was before the caches, with one
deliberate difference: a value whose address or port item is not an object, or whose JSON is
nested too deeply, is a `BadValue` here too (it used to escape as AttributeError or
RecursionError and abort the whole load).
"""

from __future__ import annotations

import json
from typing import Any

from registry import Endpoint, Health, NameClaim, Origin, Port, Scope
from registry.model import CLUSTER_SOURCE_PREFIX, ip_text
from registry.names import is_absolute, name_key
from registry.reachability import ANY, remote_addresses
from watchers.cluster.decode import BadValue

FORMAT = 1
MAX_VALUE_BYTES = 16 * 1024
MAX_KEY_TAIL = 512
MAX_NAMES, MAX_ADDRESSES, MAX_PORTS, MAX_TEXT = 64, 32, 64, 255
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
PROTOS = frozenset({"tcp", "udp", "sctp"})
ORIGINS = {o.value: o for o in Origin if o is not Origin.NODE}
HEALTHS = {h.value: h for h in Health}
SCOPES = frozenset({Scope.LOCAL.value, Scope.OVERLAY.value, ANY})


def decode(raw: bytes, node: str, endpoint_id: str) -> Endpoint:
    """The registry endpoint for another node's value; raises `BadValue`."""
    if len(endpoint_id) > MAX_KEY_TAIL or not _is_label(node):
        raise BadValue("node name or endpoint id in the key is not usable")
    if len(raw) > MAX_VALUE_BYTES:
        raise BadValue(f"value of {len(raw)} bytes is over the limit of {MAX_VALUE_BYTES}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadValue(f"not JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("v") != FORMAT:
        raise BadValue(f"not a format-{FORMAT} endpoint object")
    try:
        return _endpoint(body, node, endpoint_id)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
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
        source=CLUSTER_SOURCE_PREFIX + node,
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


def _node_claims(claims: list[NameClaim], node: str) -> list[NameClaim]:
    return [
        NameClaim(f"{c.key}.{node}", Origin.NODE)
        for c in claims
        if not is_absolute(c.key) and len(c.key) + len(node) < 253
    ]


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
