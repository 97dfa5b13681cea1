"""Local answers: one question + a registry snapshot + zone settings -> the records to send.

Pure: no sockets, no logging, no clock, no wire bytes. It decides whether a name is local at all
(`None` means "not ours": the caller forwards or refuses) and, for local names, fills the
answer, authority and additional sections. Round-robin is the caller's `rotation` step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from dnslib import AAAA, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSLabel

from dnsd.core import reverse
from dnsd.core.zone import ZoneSettings
from registry import Endpoint, Snapshot
from registry.names import is_absolute, qualify

SOA_TIMERS = (3600, 600, 86400)  # refresh, retry, expire
SRV_PRIORITY = 0
SRV_WEIGHT = 10
ADDRESS_TYPES = (QTYPE.A, QTYPE.AAAA, QTYPE.ANY)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """A local answer. `rotations` is how many distinct round-robin orders exist."""

    rcode: int
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()
    rotations: int = 1


@dataclass(frozen=True, slots=True)
class _Ask:
    qname: DNSLabel
    qtype: int
    snapshot: Snapshot
    settings: ZoneSettings
    client_ip: str | None
    rotation: int


def answer(
    qname: DNSLabel,
    qtype: int,
    snapshot: Snapshot,
    settings: ZoneSettings,
    client_ip: str | None = None,
    rotation: int = 0,
) -> LocalAnswer | None:
    """The local answer for (qname, qtype), or None when the name is not local."""
    ask = _Ask(qname, qtype, snapshot, settings, client_ip, rotation)
    name = str(qname).lower()
    zone = settings.zone
    if name == zone:
        return _apex(ask)
    if name.endswith("." + zone):
        relative = name[: -len(zone) - 1]
        return _named(ask, relative) or _named(ask, name) or _in_zone_missing(ask, relative)
    if name.endswith(reverse.SUFFIXES):
        found = _reverse(ask, name)
        if found is not None:
            return found
    if settings.bare_names and _is_bare(name):
        found = _named(ask, name[:-1])
        if found is not None:
            return found
    return _named(ask, name)


# -- names ------------------------------------------------------------------


def _is_bare(name: str) -> bool:
    """A single label (`web.`), or an SRV name over one (`_http._tcp.web.`)."""
    labels = name[:-1].split(".")
    if len(labels) == 1:
        return True
    return len(labels) == 3 and labels[0].startswith("_") and labels[1].startswith("_")


def _named(ask: _Ask, key: str) -> LocalAnswer | None:
    resolution = ask.snapshot.resolve(key, ask.client_ip, ask.settings.unhealthy)
    if not resolution.exists:
        return None
    if ask.qtype == QTYPE.SRV:
        return _srv(ask, key)
    if ask.qtype in ADDRESS_TYPES:
        return _addresses(ask, resolution.addresses) or _nodata(ask)
    return _nodata(ask)


def _addresses(ask: _Ask, addresses: tuple[str, ...]) -> LocalAnswer | None:
    v4 = [ip for ip in addresses if ":" not in ip] if ask.qtype != QTYPE.AAAA else []
    v6 = [ip for ip in addresses if ":" in ip] if ask.qtype != QTYPE.A else []
    if not v4 and not v6:
        return None
    records = [_rr(ask.qname, QTYPE.A, A(ip), ask) for ip in _rotate(v4, ask.rotation)]
    records += [_rr(ask.qname, QTYPE.AAAA, AAAA(ip), ask) for ip in _rotate(v6, ask.rotation)]
    return LocalAnswer(RCODE.NOERROR, tuple(records), rotations=max(len(v4), len(v6)))


def _srv(ask: _Ask, key: str) -> LocalAnswer:
    records = ask.snapshot.resolve_srv(key, ask.client_ip, ask.settings.unhealthy)
    if not records:
        return _nodata(ask)
    answers, extra = [], []
    for record in _rotate(list(records), ask.rotation):
        target = qualify(record.target, ask.settings.zone)
        rdata = SRV(priority=SRV_PRIORITY, weight=SRV_WEIGHT, port=record.port, target=target)
        answers.append(_rr(ask.qname, QTYPE.SRV, rdata, ask))
        extra += _glue(ask, target, record.endpoint)
    return LocalAnswer(RCODE.NOERROR, tuple(answers), (), tuple(extra), rotations=len(records))


def _glue(ask: _Ask, target: str, endpoint: Endpoint) -> list[RR]:
    label = DNSLabel(target)
    glue = []
    for address in endpoint.addresses:
        rdata = AAAA(address.ip) if ":" in address.ip else A(address.ip)
        glue.append(_rr(label, QTYPE.AAAA if ":" in address.ip else QTYPE.A, rdata, ask))
    return glue


def _in_zone_missing(ask: _Ask, relative: str) -> LocalAnswer:
    if relative == "ns" and ask.settings.ns_addresses:
        if ask.qtype in ADDRESS_TYPES:
            found = _addresses(ask, ask.settings.ns_addresses)
            if found is not None:
                return found
        return _nodata(ask)
    if _is_empty_non_terminal(ask.snapshot, relative):
        return _nodata(ask)
    return _negative(ask, RCODE.NXDOMAIN, ask.settings.zone)


def _apex(ask: _Ask) -> LocalAnswer:
    soa = _soa(ask, ask.settings.zone, ask.settings.ttl)
    ns = _rr(ask.qname, QTYPE.NS, NS(ask.settings.ns_name), ask)
    if ask.qtype == QTYPE.SOA:
        return LocalAnswer(RCODE.NOERROR, (soa,))
    if ask.qtype == QTYPE.NS:
        return LocalAnswer(RCODE.NOERROR, (ns,), (), _ns_glue(ask))
    if ask.qtype == QTYPE.ANY:
        return LocalAnswer(RCODE.NOERROR, (soa, ns))
    return _nodata(ask)


def _ns_glue(ask: _Ask) -> tuple[RR, ...]:
    label = DNSLabel(ask.settings.ns_name)
    return tuple(
        _rr(label, QTYPE.AAAA, AAAA(ip), ask) if ":" in ip else _rr(label, QTYPE.A, A(ip), ask)
        for ip in ask.settings.ns_addresses
    )


# -- reverse names ------------------------------------------------------------


def _reverse(ask: _Ask, name: str) -> LocalAnswer | None:
    ip = reverse.address_of(name)
    local_zone = reverse.local_zone(name)
    endpoint = ask.snapshot.endpoint_at(ip) if ip is not None else None
    if endpoint is not None:
        if ask.qtype not in (QTYPE.PTR, QTYPE.ANY):
            return _negative(ask, RCODE.NOERROR, local_zone or name)
        target = PTR(qualify(endpoint.name, ask.settings.zone))
        return LocalAnswer(RCODE.NOERROR, (_rr(ask.qname, QTYPE.PTR, target, ask),))
    if local_zone is None:
        return None
    if name == local_zone and ask.qtype == QTYPE.SOA:
        return LocalAnswer(RCODE.NOERROR, (_soa(ask, local_zone, ask.settings.ttl),))
    if ip is None and (name == local_zone or _has_known_address_under(ask.snapshot, name)):
        return _negative(ask, RCODE.NOERROR, local_zone)
    return _negative(ask, RCODE.NXDOMAIN, local_zone)


def _has_known_address_under(snapshot: Snapshot, name: str) -> bool:
    tail = "." + name
    return any(
        reverse.reverse_name(address.ip).endswith(tail)
        for endpoint in snapshot.endpoints.values()
        for address in endpoint.addresses
    )


# -- building blocks ----------------------------------------------------------


def _nodata(ask: _Ask) -> LocalAnswer:
    return _negative(ask, RCODE.NOERROR, ask.settings.zone)


def _negative(ask: _Ask, rcode: int, soa_owner: str) -> LocalAnswer:
    return LocalAnswer(rcode, (), (_soa(ask, soa_owner, ask.settings.negative_ttl),))


def _soa(ask: _Ask, owner: str, ttl: int) -> RR:
    settings = ask.settings
    times = (settings.serial(ask.snapshot), *SOA_TIMERS, settings.negative_ttl)
    rdata = SOA(settings.ns_name, "hostmaster." + settings.zone, times)
    return RR(DNSLabel(owner), QTYPE.SOA, rdata=rdata, ttl=ttl)


def _rr(owner: DNSLabel, rtype: int, rdata: object, ask: _Ask) -> RR:
    return RR(owner, rtype, rdata=rdata, ttl=ask.settings.ttl)


def _rotate(items: list[_T], step: int) -> list[_T]:
    if len(items) < 2:
        return items
    step %= len(items)
    return items[step:] + items[:step]


def _is_empty_non_terminal(snapshot: Snapshot, relative: str) -> bool:
    return relative in _suffixes(snapshot)


@lru_cache(maxsize=2)
def _suffixes(snapshot: Snapshot) -> frozenset[str]:
    """Every proper suffix of every relative key of `snapshot` (names that exist, empty).

    A pure function of the snapshot, memoised for the current one (snapshots hash by identity).
    """
    keys = [*snapshot.names(), *snapshot.srv_names()]
    return frozenset(
        key.split(".", i)[-1]
        for key in keys
        if not is_absolute(key)
        for i in range(1, key.count(".") + 1)
    )
