"""The explain view: what dnsd believes about each name, and why, as JSON-able dicts.

Pure: a `Snapshot` (plus the zone and the unhealthy policy) in, plain dicts and
lists out. The HTTP API serves these and the CLI prints them. It must not do
I/O, log, or decide anything the registry decides: who is in rotation comes from
`registry.in_rotation`, the rule `Snapshot.resolve` applies.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from registry import Endpoint, Snapshot, UnhealthyPolicy, in_rotation, name_key
from registry.names import qualify, user_key

FAIL_OPEN = "fail-open: every endpoint unhealthy"

Json = dict[str, object]


@dataclass(frozen=True, slots=True)
class Filters:
    """Optional filters; empty strings match everything. `name` may be a glob (`web*`)."""

    name: str = ""
    container: str = ""
    network: str = ""


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


def endpoint_view(ep: Endpoint, key: str | None = None) -> Json:
    """One endpoint: who it is, where it answers, and (for `key`) why it claims the name."""
    view: Json = {
        "source": ep.source,
        "id": ep.id,
        "container": ep.name,
        "addresses": [{"ip": a.ip, "network": a.network} for a in ep.addresses],
        "ports": [{"port": p.port, "proto": p.proto, "name": p.name} for p in ep.ports],
        "health": ep.health.value,
        "paused": ep.paused,
        "project": ep.project,
    }
    if key is not None:
        view["origins"] = [c.origin.value for c in ep.claims if c.key == key]
    return view


def record_view(
    snapshot: Snapshot, key: str, zone: str, policy: UnhealthyPolicy, filters: Filters = Filters()
) -> Json | None:
    """The explain view of one name key, or None if it has no (matching) endpoints."""
    claimants = tuple(ep for ep in snapshot.names().get(key, ()) if _matches_endpoint(ep, filters))
    if not claimants:
        return None
    every = snapshot.names()[key]
    reasons = rotation(every, policy)
    fail_open = _fail_open(every, policy)
    endpoints = []
    for ep in claimants:
        view = endpoint_view(ep, key)
        view["in_rotation"] = reasons[ep.ref] == ""
        view["reason"] = _reason(ep, reasons[ep.ref], fail_open)
        endpoints.append(view)
    return {
        "name": key,
        "fqdn": qualify(key, zone),
        "answer": list(snapshot.resolve(key, None, policy).addresses),
        "fail_open": fail_open,
        "endpoints": endpoints,
    }


def _reason(ep: Endpoint, out_reason: str, fail_open: bool) -> str:
    if out_reason:
        return out_reason
    if fail_open and not ep.healthy:
        return f"{FAIL_OPEN} (health is {ep.health.value})"
    return ""


def records_view(
    snapshot: Snapshot, zone: str, policy: UnhealthyPolicy, filters: Filters = Filters()
) -> list[Json]:
    """Every name (sorted) with its endpoints, narrowed by `filters`."""
    out = []
    for key in sorted(snapshot.names()):
        if filters.name and not _matches_name(key, zone, filters.name):
            continue
        view = record_view(snapshot, key, zone, policy, filters)
        if view is not None:
            out.append(view)
    return out


def explain_name(snapshot: Snapshot, text: str, zone: str, policy: UnhealthyPolicy) -> Json | None:
    """The explain view of the name a user typed (`web`, `web.docker.`), or None if unknown."""
    for key in lookup_keys(text, zone):
        view = record_view(snapshot, key, zone, policy)
        if view is not None:
            return view
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
        return fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(qualify(key, zone), pattern)
    return key in lookup_keys(pattern, zone)


def _matches_endpoint(ep: Endpoint, filters: Filters) -> bool:
    if filters.container:
        wanted = filters.container.strip().lower()
        if not (ep.id.lower().startswith(wanted) or ep.name.lower() == wanted):
            return False
    if filters.network:
        networks = set(ep.networks) | {a.network for a in ep.addresses}
        if filters.network not in networks:
            return False
    return True
