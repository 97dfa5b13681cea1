"""The cluster's key layout and value format: local endpoints out, remote endpoints in.

Keys: `/dnsd/v1/<zone>/nodes/<node>/<source>/<id>` (source and id percent-encoded), one per
endpoint; the value is compact JSON (`encode`). Everything read back is untrusted: `decode`
(in `watchers.cluster.decode`, re-exported here) bounds the size and every list, checks every
name, address and port, and raises `BadValue` naming what is wrong; it never returns half a
value. Pure: no I/O, no logging.
"""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import quote

from registry import Address, Endpoint, Event, NameClaim, Origin, Resync, Upsert
from registry.names import is_absolute
from registry.reachability import ANY
from watchers.cluster.decode import (
    FORMAT,
    MAX_VALUE_BYTES,
    BadValue,
    cluster_source,
    decode,
    node_claim,
)

__all__ = [
    "MAX_VALUE_BYTES",
    "BadValue",
    "cluster_source",
    "decode",
    "encode",
    "endpoint_key",
    "node_prefix",
    "prefix",
    "split_key",
    "stamp",
    "with_node",
]


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


# -- local endpoints -----------------------------------------------------------------


def with_node(ep: Endpoint, node: str) -> Endpoint:
    """`ep` as this node's endpoint: tagged with the node, and every relative name also as
    `<name>.<node>` (so `web.node-a.<zone>` reaches only node-a's `web`)."""
    claims = [c for c in ep.claims if c.origin is not Origin.NODE]
    return replace(ep, node=node, claims=tuple(dict.fromkeys(claims + _node_claims(claims, node))))


def _node_claims(claims: list[NameClaim], node: str) -> list[NameClaim]:
    found = (node_claim(c.key, node) for c in claims if not is_absolute(c.key))
    return [c for c in found if c is not None]  # both parts already valid


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
