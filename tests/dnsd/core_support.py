"""Shared helpers for the DNS core tests: a small registry, queries and replies via dnspython."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from dnsd.core.zone import ZoneSettings
from registry import Address, Endpoint, NameClaim, Origin, Port, Resync, Snapshot

PUBLIC_IP = "93.184.216.34"


def endpoint(
    name: str,
    *ips: str,
    keys: tuple[str, ...] = (),
    ports: tuple[Port, ...] = (),
    network: str = "",
    source: str = "test",
) -> Endpoint:
    claims = tuple(NameClaim(k, Origin.STATIC) for k in (name, *keys))
    return Endpoint(
        source=source,
        id=name,
        name=name,
        claims=claims,
        addresses=tuple(Address(ip, network) for ip in ips),
        ports=ports,
    )


def sample_endpoints() -> tuple[Endpoint, ...]:
    http = (Port(80, "tcp", "http"),)
    return (
        endpoint("web-1", "10.0.0.1", keys=("web",), ports=http),
        endpoint("web-2", "10.0.0.2", "fd00::2", keys=("web",), ports=http),
        endpoint("db", "10.0.1.5", keys=("db.shop",)),
        endpoint("v6only", "fd00::9"),
        endpoint("api.internal.", PUBLIC_IP),
    )


def snapshot_of(*endpoints: Endpoint) -> Snapshot:
    return Snapshot().apply(Resync("test", tuple(endpoints)))


def crowd(count: int = 100, name: str = "many") -> tuple[Endpoint, ...]:
    """`count` endpoints behind one name (for truncation tests)."""
    return tuple(
        endpoint(f"{name}-{i}", f"10.9.{i // 250}.{i % 250 + 1}", keys=(name,))
        for i in range(count)
    )


SETTINGS = ZoneSettings(zone="docker.", ttl=5, negative_ttl=7, serial_base=1000)


def query(
    name: str,
    rdtype: str = "A",
    *,
    edns: int | bool = False,
    payload: int = 1232,
    want_dnssec: bool = False,
    qid: int = 4242,
) -> bytes:
    if edns is False:
        message = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        message = dns.message.make_query(
            name, rdtype, use_edns=0, payload=payload, want_dnssec=want_dnssec
        )
    message.id = qid
    return bytes(message.to_wire())


def parse(reply: bytes) -> dns.message.Message:
    return dns.message.from_wire(reply)


def answer_texts(message: dns.message.Message) -> list[str]:
    """Rdata texts of the answer section in wire order."""
    return [rd.to_text() for rrset in message.answer for rd in rrset]


def rcode_name(message: dns.message.Message) -> str:
    return dns.rcode.to_text(message.rcode())


def has_aa(message: dns.message.Message) -> bool:
    return bool(message.flags & dns.flags.AA)


def soa_in_authority(message: dns.message.Message) -> tuple[str, int] | None:
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset.name.to_text(), rrset.ttl
    return None
