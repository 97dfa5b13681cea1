"""Another node's endpoint values in: untrusted JSON to a registry `Endpoint`, or `BadValue`.

Everything read from etcd is untrusted: `decode` bounds the size and every list, checks every
name, address and port, and raises `BadValue` naming what is wrong; it never returns half a
value. A first load decodes thousands of values whose parts repeat (service names, ports, the
node's address), so each part is checked once and remembered under its exact input, and the
endpoints share the frozen values made of it. Every cache is emptied when it reaches
`CACHE_ENTRIES` entries. Pure: no I/O, no logging.
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any, Final, TypeVar

from registry import Address, Endpoint, Health, NameClaim, Origin, Port, Scope
from registry.model import CLUSTER_SOURCE_PREFIX, ip_text
from registry.names import name_key
from registry.reachability import ANY, host_address, remote_address

FORMAT = 1
MAX_VALUE_BYTES = 16 * 1024
MAX_KEY_TAIL = 512
MAX_NAMES, MAX_ADDRESSES, MAX_PORTS, MAX_TEXT = 64, 32, 64, 255
CACHE_ENTRIES = 4096  # per cache; reaching it empties the cache
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
PROTOS = frozenset({"tcp", "udp", "sctp"})
ORIGINS = {o.value: o for o in Origin if o is not Origin.NODE}  # NODE is derived, never read
HEALTHS = {h.value: h for h in Health}
SCOPES = frozenset({Scope.LOCAL.value, Scope.OVERLAY.value, ANY})

_MISSING: Final[Any] = object()
_NODE, _OVERLAY = Origin.NODE, Scope.OVERLAY  # enum lookups cost
_LOCAL_TEXT = Scope.LOCAL.value
# What json.loads runs inside its wrapping: the scanner of a default decoder.
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
K = TypeVar("K")
V = TypeVar("V")

# The caches, each keyed by exactly what the value said (str never equals another JSON type;
# numbers are checked to be int before a port is looked up, since 1 == 1.0 == True).
_SOURCES: dict[str, str] = {}  # usable node name -> its source
_KEYS: dict[str, str] = {}  # name text -> relative key
_CLAIMS: dict[tuple[str, str, str], tuple[NameClaim, NameClaim | None]] = {}  # text, origin, node
_HOSTS: dict[str, Address] = {}  # advertised address text -> Address(canonical, "", HOST)
_ADDRESSES: dict[tuple[str, str, str], Address] = {}  # ip, network, scope other than local
_PORTS: dict[tuple[int, int, str, str, str, str], Port | None] = {}  # ..., host (None: unpublished)


class BadValue(ValueError):
    """A value read from etcd that dnsd will not use; str() says why."""


def cluster_source(node: str) -> str:
    return CLUSTER_SOURCE_PREFIX + node


def node_claim(key: str, node: str) -> NameClaim | None:
    """The `<name>.<node>` claim for a relative key, unless the name would be too long."""
    return NameClaim(f"{key}.{node}", _NODE) if len(key) + len(node) < 253 else None


def decode(raw: bytes, node: str, endpoint_id: str) -> Endpoint:
    """The registry endpoint for another node's value; raises `BadValue`."""
    source = _SOURCES.get(node)
    if source is None or len(endpoint_id) > MAX_KEY_TAIL:
        source = _source(node, endpoint_id)
    if len(raw) > MAX_VALUE_BYTES:
        raise BadValue(f"value of {len(raw)} bytes is over the limit of {MAX_VALUE_BYTES}")
    try:
        body = _json(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadValue(f"not JSON ({exc})") from None
    if type(body) is not dict or body.get("v") != FORMAT:
        raise BadValue(f"not a format-{FORMAT} endpoint object")
    try:
        return _endpoint(body, node, source, endpoint_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadValue(str(exc) or type(exc).__name__) from None


def _endpoint(body: dict[str, Any], node: str, source: str, endpoint_id: str) -> Endpoint:
    """One pass over the value; what fails a check raises ValueError, KeyError or TypeError."""
    text = body["name"]
    name = _relative(text)  # the endpoint's own name: unique to it, not worth remembering
    items = body.get("names")
    claims = _claims(items, text, name, node) if items is not None else ()
    host_text = body.get("host")
    host = (_HOSTS.get(host_text) or _host(host_text)) if host_text else None
    items = body.get("ports")
    ports = _ports(items, host.ip if host else "") if items is not None else ()
    items = body.get("addresses")
    addresses, networks = _addresses(items) if items is not None else ([], ())
    if ports and host:
        addresses.append(host)
    paused = body.get("paused", False)
    if paused is not True and paused is not False:
        raise ValueError("paused is not true or false")
    health_text = body.get("health", "none")
    health = HEALTHS.get(health_text) if type(health_text) is str else None
    if health is None:
        raise ValueError(f"{health_text!r} is not a valid Health")
    project = body.get("project", "")
    if type(project) is not str or len(project) > MAX_TEXT:
        raise ValueError(f"project: expected a string of at most {MAX_TEXT} characters")
    return Endpoint(
        source, endpoint_id, name, claims, tuple(addresses), ports, health, paused, project,
        networks, node=node,
    )  # fmt: skip


def _claims(items: object, text: str, name: str, node: str) -> tuple[NameClaim, ...]:
    """Every name claimed, then each also as `<name>.<node>`, each claim once."""
    if type(items) is not list or len(items) > MAX_NAMES:
        raise ValueError(f"expected a list of at most {MAX_NAMES} names")
    claims: list[NameClaim] = []
    in_node: list[NameClaim] = []
    for item in items:
        if type(item) is not dict:
            raise ValueError("a name is not an object")
        claimed, origin = item["name"], item["origin"]
        if claimed == text:  # the endpoint's own name, already checked
            claim, also = _claim(name, origin, node)
        else:
            ckey = (claimed, origin, node)
            claim, also = _CLAIMS.get(ckey) or _remember(
                _CLAIMS, ckey, _claim(_KEYS.get(claimed) or _key(claimed), origin, node)
            )
        claims.append(claim)
        if also is not None:
            in_node.append(also)
    count = len(claims)
    if count < 2 or (count == 2 and claims[0].key != claims[1].key):
        return (*claims, *in_node)
    if len({c.key for c in claims}) == count:
        return (*claims, *in_node)
    return tuple(dict.fromkeys(claims + in_node))  # a name claimed twice: each claim once


def _ports(items: object, host: str) -> tuple[Port, ...]:
    """The ports other hosts reach (`_port`), each remembered with the node's address."""
    if type(items) is not list or len(items) > MAX_PORTS:
        raise ValueError(f"expected a list of at most {MAX_PORTS} ports")
    found = []
    for item in items:
        if type(item) is not dict:
            raise ValueError("a port is not an object")
        number, host_port = item.get("port", 0), item.get("host_port", 0)
        if type(number) is not int or type(host_port) is not int:
            raise ValueError("port numbers must be 0-65535")
        pkey = (
            number, host_port, item.get("proto", "tcp"), item.get("name", ""),
            item.get("host_ip", ""), host,
        )  # fmt: skip
        port = _PORTS.get(pkey, _MISSING)
        if port is _MISSING:
            port = _port(pkey)
        if port is not None:
            found.append(port)
    return tuple(found)


def _addresses(items: object) -> tuple[list[Address], tuple[str, ...]]:
    """The addresses other hosts may use (overlay, any), and the overlay networks they are on;
    addresses on the node's own networks (scope local) are checked, then dropped."""
    if type(items) is not list or len(items) > MAX_ADDRESSES:
        raise ValueError(f"expected a list of at most {MAX_ADDRESSES} addresses")
    kept: list[Address] = []
    for item in items:
        if type(item) is not dict:
            raise ValueError("an address is not an object")
        scope = item.get("scope", _LOCAL_TEXT)
        if scope == _LOCAL_TEXT:
            ip, network = item["ip"], item.get("network", "")
            if type(ip) is not str or type(network) is not str or len(ip) > MAX_TEXT:
                raise ValueError("an address's ip and network must be strings")
            if len(network) > MAX_TEXT:
                raise ValueError(f"network: expected at most {MAX_TEXT} characters")
            ip_text(ip)
        else:
            akey = (item["ip"], item.get("network", ""), scope)
            kept.append(_ADDRESSES.get(akey) or _address(akey))
    if not kept:
        return kept, ()
    return kept, tuple(dict.fromkeys(a.network for a in kept if a.scope is _OVERLAY))


def _json(raw: bytes) -> Any:
    """json.loads(raw). A value that starts with `{"` (all that `encode` writes) is UTF-8 by
    json's own detection, and is scanned directly; anything else goes through json.loads."""
    if raw[:2] != b'{"':
        return json.loads(raw)
    text = raw.decode("utf-8", "surrogatepass")
    try:
        body, end = _scan(text, 0)
    except StopIteration:  # a value missing inside: json.loads says where
        return json.loads(raw)
    if end != len(text) and len(text.rstrip(" \t\n\r")) != end:  # json's whitespace
        return json.loads(raw)  # more than whitespace after the object: json.loads says so
    return body


def _source(node: str, endpoint_id: str) -> str:
    try:
        usable = "." not in node and name_key(node) == node
    except ValueError:
        usable = False
    if not usable or len(endpoint_id) > MAX_KEY_TAIL:
        raise BadValue("node name or endpoint id in the key is not usable")
    return _remember(_SOURCES, node, cluster_source(node))


def _text(value: object) -> str:
    if type(value) is not str or len(value) > MAX_TEXT:
        raise ValueError(f"expected a string of at most {MAX_TEXT} characters")
    return value


def _relative(value: object) -> str:
    text = _text(value)
    key = name_key(text)
    if key.endswith("."):
        raise ValueError(f"name {text!r} is outside the zone")
    return key


def _key(text: str) -> str:
    return _remember(_KEYS, text, _relative(text))


def _claim(key: str, origin_text: object, node: str) -> tuple[NameClaim, NameClaim | None]:
    """The claim of a checked relative key, and its `<name>.<node>` claim if any."""
    origin = ORIGINS.get(origin_text) if type(origin_text) is str else None
    if origin is None:
        if origin_text == _NODE.value:
            raise ValueError("origin 'node' is derived, never published")
        raise ValueError(f"{origin_text!r} is not a valid Origin")
    return NameClaim(key, origin), node_claim(key, node)


def _host(value: object) -> Address:
    text = _text(value)
    return _remember(_HOSTS, text, host_address(ip_text(text)))


def _address(akey: tuple[Any, Any, Any]) -> Address:
    """An address for everyone (scope `any`) or for one overlay network."""
    ip, network, scope = akey
    if _text(scope) not in SCOPES:
        raise ValueError(f"address scope {scope!r} is not local, overlay or any")
    address = remote_address(ip_text(_text(ip)), _text(network), scope)
    assert address is not None  # scope is overlay or any here: local ones never get this far
    return _remember(_ADDRESSES, akey, address)


def _port(pkey: tuple[int, int, Any, Any, Any, str]) -> Port | None:
    """The port as other hosts reach it (the published host port), or None if unpublished
    or bound to an address other than a wildcard or the node's advertised one."""
    number, host_port, proto, label, host_ip, host = pkey
    if not (0 <= number < 65536 and 0 <= host_port < 65536):
        raise ValueError("port numbers must be 0-65535")
    proto, label, host_ip = _text(proto), _text(label), _text(host_ip)
    if proto not in PROTOS or (label and not label.replace("-", "").isalnum()):
        raise ValueError(f"bad port protocol {proto!r} or name {label!r}")
    published = host_port and (host_ip in WILDCARDS or host_ip == host) and host
    port = Port(host_port, proto, label or str(number), host_port, host_ip) if published else None
    return _remember(_PORTS, pkey, port)


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[key] = value
    return value
