"""The explain view: what dnsd believes about each name, and why, as JSON-able dicts.

Pure: a `Snapshot` (plus the zone, the unhealthy policy and optionally one client's
`ClientView`) in, plain dicts and lists out. The HTTP API serves these and the CLI
prints them. It must not do I/O, log, or decide anything the registry decides: who
is in rotation comes from `registry.in_rotation`, the rule `Snapshot.resolve` applies,
and what a client may see from `registry.view` (the same rule DNS answers use).
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
from dataclasses import dataclass

from registry import (
    FULL_VIEW,
    Address,
    ClientView,
    Endpoint,
    Origin,
    Recognised,
    Scope,
    Snapshot,
    UnhealthyPolicy,
    in_rotation,
    name_key,
)
from registry.names import qualify, user_key
from registry.view import UNSCOPED_NETWORKS, visible_endpoints

EMBEDDED_ORIGINS = frozenset({Origin.CONTAINER_NAME, Origin.ALIAS, Origin.COMPOSE_SERVICE})
"""Origins Docker's embedded DNS (127.0.0.11) also answers: container names, network aliases
(Compose adds the service name as one)."""
DEFAULT_BRIDGE = "bridge"
HIDDEN = "not reachable from this client (no shared network)"
OVERLAY_ONLY = "answered only to clients on its overlay network"

FAIL_OPEN = "fail-open: every endpoint unhealthy"

Json = dict[str, object]


@dataclass(frozen=True, slots=True)
class Filters:
    """Optional filters; empty strings match everything. `name` may be a glob (`web*`)."""

    name: str = ""
    container: str = ""
    network: str = ""
    node: str = ""  # cluster node the endpoint runs on


def lookup_keys(text: str, zone: str) -> list[str]:
    """Keys a user may mean by `text`: `user_key` first, then the literal key (`web.shop`)."""
    try:
        return list(dict.fromkeys([user_key(text, zone), name_key(text)]))
    except ValueError:
        return []


def rotation(
    endpoints: tuple[Endpoint, ...], policy: UnhealthyPolicy
) -> dict[tuple[str, str], str]:
    """Each endpoint's reason to be out of rotation ('' = in), by the registry's own rule."""
    chosen = {ep.ref for ep in in_rotation(endpoints, policy)}
    return {ep.ref: "" if ep.ref in chosen else ep.out_of_rotation_reason() for ep in endpoints}


def _fail_open(endpoints: tuple[Endpoint, ...], policy: UnhealthyPolicy) -> bool:
    """True when endpoints are in rotation only because the policy fails open."""
    chosen = in_rotation(endpoints, policy)
    return bool(chosen) and not any(ep.healthy for ep in chosen)


def client_view_of(snapshot: Snapshot, text: str) -> ClientView | None:
    """The view of a client named by IP address, container name or id prefix.

    '' is the full view (nobody in particular); None when no such container is known.
    """
    text = text.strip().lower()
    if not text:
        return FULL_VIEW
    try:
        return snapshot.view_of(str(ipaddress.ip_address(text)))
    except ValueError:
        pass
    for ep in sorted(snapshot.endpoints.values(), key=lambda e: (e.name, e.source, e.id)):
        if ep.addresses and (ep.name == text or (len(text) >= 4 and ep.id.startswith(text))):
            scoped = [a for a in ep.addresses if a.network not in UNSCOPED_NETWORKS]
            return snapshot.view_of((scoped or list(ep.addresses))[0].ip)
    return None


def recognition_view(snapshot: Snapshot, text: str) -> Json | None:
    """Who the client at an IP address `text` is and how it was recognised, in words; None
    when `text` is not an address or the address is nobody in particular (the full view)."""
    try:
        ip = str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
    found = snapshot.recognise(ip)
    if found is None:
        return None
    networks = ", ".join(found.networks) or "no network"
    out: Json = {"address": ip, "how": found.how.value, "networks": list(found.networks)}
    ep = found.endpoint
    if ep is None or found.how is Recognised.SUBNET:
        out["text"] = f"no container has {ip}; it lies in the subnet of {networks}"
        return out
    out |= {"container": ep.name, "id": ep.id, "source": ep.source}
    if found.how is Recognised.CLIENT_ADDRESS:
        how = f"its {networks} address (identifies it as a client; never answered)"
    else:
        how = f"its address on {networks}"
    out["text"] = f"{ip} is container {ep.name} ({ep.source}), recognised by {how}"
    return out


def embedded_dns_networks(key: str, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """User-defined networks on which Docker's 127.0.0.11 answers the bare name `key` itself."""
    if "." in key:
        return []
    out = {
        address.network
        for ep in endpoints
        if ep.source == "docker"
        and any(c.key == key and c.origin in EMBEDDED_ORIGINS for c in ep.claims)
        for address in ep.addresses
        if address.network not in UNSCOPED_NETWORKS and address.network != DEFAULT_BRIDGE
    }
    return sorted(out)


def endpoint_view(ep: Endpoint, key: str | None = None, view: ClientView = FULL_VIEW) -> Json:
    """One endpoint: who it is, where it answers, and (for `key`) why it claims the name."""
    addresses: list[Json] = []
    for a in ep.addresses:
        entry = _address_view(a)
        if view.scoped:
            entry["visible"] = view.sees(a)
        addresses.append(entry)
    view_json: Json = {
        "source": ep.source,
        "id": ep.id,
        "container": ep.name,
        "addresses": addresses,
        "ports": [{"port": p.port, "proto": p.proto, "name": p.name} for p in ep.ports],
        "health": ep.health.value,
        "paused": ep.paused,
        "project": ep.project,
    }
    if ep.meta:
        view_json["details"] = dict(ep.meta)
    if ep.node:
        view_json["node"] = ep.node
    if key is not None:
        view_json["origins"] = [c.origin.value for c in ep.claims if c.key == key]
    return view_json


def _address_view(address: Address) -> Json:
    """An address; its scope is shown only in cluster mode (overlay, or a node's host address)."""
    view: Json = {"ip": address.ip, "network": address.network}
    if address.scope is not Scope.LOCAL:
        view["scope"] = address.scope.value
    return view


def record_view(
    snapshot: Snapshot,
    key: str,
    zone: str,
    policy: UnhealthyPolicy,
    filters: Filters = Filters(),
    view: ClientView = FULL_VIEW,
) -> Json | None:
    """The explain view of one name key as `view`'s client gets it, or None if it has no
    (matching) endpoints."""
    claimants = tuple(ep for ep in snapshot.names().get(key, ()) if _matches_endpoint(ep, filters))
    if not claimants:
        return None
    every = snapshot.names()[key]
    pool = visible_endpoints(view, every)
    reasons = rotation(pool, policy)
    fail_open = _fail_open(pool, policy)
    endpoints = []
    for ep in claimants:
        entry = endpoint_view(ep, key, view)
        reason = reasons.get(ep.ref, HIDDEN) or _unseen(ep, view)
        entry["in_rotation"] = reason == ""
        entry["reason"] = _reason(ep, reason, fail_open)
        endpoints.append(entry)
    resolution = snapshot.resolve(key, policy=policy, view=view)
    out: Json = {
        "name": key,
        "fqdn": qualify(key, zone),
        "answer": list(resolution.addresses),
        "fail_open": fail_open,
        "endpoints": endpoints,
        "docker_answers_bare_name_on": embedded_dns_networks(key, every),
    }
    if view.scoped:
        out["client"] = {"networks": sorted(view.networks or ()), "project": view.project}
        out["exists_for_client"] = not resolution.hidden
    return out


def _unseen(ep: Endpoint, view: ClientView) -> str:
    """Why an endpoint in rotation gives this client nothing: every address it has is on an
    overlay the client is not on (the full view: the host cannot route to an overlay)."""
    if not ep.addresses or any(view.sees(a) for a in ep.addresses):
        return ""
    networks = sorted({a.network for a in ep.addresses})
    plural = "s" if len(networks) > 1 else ""
    return f"{OVERLAY_ONLY}{plural} ({', '.join(networks)}); this client is on none of them"


def _reason(ep: Endpoint, out_reason: str, fail_open: bool) -> str:
    if out_reason:
        return out_reason
    if fail_open and not ep.healthy:
        return f"{FAIL_OPEN} (health is {ep.health.value})"
    return ""


def records_view(
    snapshot: Snapshot,
    zone: str,
    policy: UnhealthyPolicy,
    filters: Filters = Filters(),
    view: ClientView = FULL_VIEW,
) -> list[Json]:
    """Every name (sorted) with its endpoints, narrowed by `filters`, as `view` gets it."""
    out = []
    for key in sorted(snapshot.names()):
        if filters.name and not _matches_name(key, zone, filters.name):
            continue
        record = record_view(snapshot, key, zone, policy, filters, view)
        if record is not None:
            out.append(record)
    return out


def explain_name(
    snapshot: Snapshot,
    text: str,
    zone: str,
    policy: UnhealthyPolicy,
    view: ClientView = FULL_VIEW,
) -> Json | None:
    """The explain view of the name a user typed (`web`, `web.docker.`), or None if unknown."""
    for key in lookup_keys(text, zone):
        record = record_view(snapshot, key, zone, policy, view=view)
        if record is not None:
            return record
    return None


def containers_view(snapshot: Snapshot, filters: Filters = Filters()) -> list[Json]:
    """Every endpoint (sorted by name) with all the names it claims and why."""
    out = []
    for ep in sorted(snapshot.endpoints.values(), key=lambda e: (e.name, e.source, e.id)):
        if not _matches_endpoint(ep, filters):
            continue
        view = endpoint_view(ep)
        view["names"] = [{"name": c.key, "origin": c.origin.value} for c in ep.claims]
        view["networks"] = sorted(set(ep.networks) | {a.network for a in ep.addresses if a.network})
        view["reason"] = ep.out_of_rotation_reason()
        out.append(view)
    return out


def _matches_name(key: str, zone: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if any(ch in pattern for ch in "*?["):
        glob = _glob(pattern)
        return bool(glob.match(key) or glob.match(qualify(key, zone)))
    return key in lookup_keys(pattern, zone)


@functools.lru_cache(maxsize=64)
def _glob(pattern: str) -> re.Pattern[str]:
    """A compiled glob; a small cache of our own (fnmatch's keeps 32,768 client patterns)."""
    return re.compile(fnmatch.translate(pattern))


def _matches_endpoint(ep: Endpoint, filters: Filters) -> bool:
    if filters.node and ep.node != filters.node.strip().lower():
        return False
    if filters.container:
        wanted = filters.container.strip().lower()
        if not (ep.id.lower().startswith(wanted) or ep.name.lower() == wanted):
            return False
    if filters.network:
        networks = set(ep.networks) | {a.network for a in ep.addresses}
        if filters.network not in networks:
            return False
    return True
