"""Which keys an endpoint puts into the registry's indexes, and the order claimants are kept in.

One job: from one endpoint, the name keys it answers under (`name_keys`), every key it claims
(`claim_keys`, SRV-only claims included), its SRV names and records, the addresses it owns or
asks from (canonical text), the proper suffixes of a relative key (empty non-terminals), and
the stable order of claimants (`order`). Pure functions of values: no I/O, no index.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.model import Endpoint, ip_text
from registry.names import is_absolute
from registry.reachability import identifies_client


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """An SRV answer: `target` is the owning endpoint's canonical name key."""

    target: str
    port: int
    endpoint: Endpoint


def order(ep: Endpoint) -> tuple[str, str, str]:
    """The stable order of claimants: canonical name, then source, then id."""
    return (ep.name, ep.source, ep.id)


def canonical_ip(ip: str) -> str:
    try:
        return ip_text(ip)
    except ValueError:
        return ip


def claim_keys(ep: Endpoint | None) -> tuple[str, ...]:
    """Every key the endpoint claims, SRV-only claims included (they name its SRV records)."""
    return tuple(dict.fromkeys(c.key for c in ep.claims)) if ep else ()


def name_keys(ep: Endpoint | None) -> tuple[str, ...]:
    """The keys the endpoint answers A/AAAA under: those with a claim that is not SRV-only."""
    return tuple(dict.fromkeys(c.key for c in ep.claims if not c.srv_only)) if ep else ()


def srv_records(ep: Endpoint | None) -> dict[str, list[SrvRecord]]:
    out: dict[str, list[SrvRecord]] = {}
    for key in claim_keys(ep):
        assert ep is not None
        for port in ep.ports:
            srv_key = f"{port.service_label}._{port.proto}.{key}"
            out.setdefault(srv_key, []).append(SrvRecord(ep.name, port.port, ep))
    return out


def srv_keys(ep: Endpoint | None) -> list[str]:
    if ep is None or not ep.ports:
        return []
    labels = dict.fromkeys(f"{p.service_label}._{p.proto}" for p in ep.ports)
    return [f"{label}.{key}" for key in claim_keys(ep) for label in labels]


def owned_ips(ep: Endpoint | None) -> tuple[str, ...]:
    if ep is None:
        return ()
    return tuple(dict.fromkeys(canonical_ip(a.ip) for a in ep.addresses if identifies_client(a)))


def client_ips(ep: Endpoint | None) -> tuple[str, ...]:
    """The addresses that only identify the endpoint as a client (never answered)."""
    if ep is None or not ep.client_addresses:
        return ()
    return tuple(dict.fromkeys(canonical_ip(a.ip) for a in ep.client_addresses))


def identity_ips(ep: Endpoint | None) -> tuple[str, ...]:
    """Every address a query from this endpoint may come from: its own and its client ones."""
    return tuple(dict.fromkeys(owned_ips(ep) + client_ips(ep)))


def suffixes(key: str) -> list[str]:
    """Every proper suffix of a relative key (`db.shop` -> [`shop`]); none for absolute keys."""
    if is_absolute(key):
        return []
    out = []
    dot = key.find(".")
    while dot >= 0:
        out.append(key[dot + 1 :])
        dot = key.find(".", dot + 1)
    return out
