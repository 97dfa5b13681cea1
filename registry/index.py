"""The snapshot's lookup indexes, updated by what changed rather than rebuilt.

`Indexes.changed(pairs)` takes (before, after) endpoint pairs (None for absent) and returns
new indexes that share everything untouched with the old ones (see `registry.layered`):
names -> claimants, SRV names -> records, address -> owners, and the count of names below
each relative name (empty non-terminals). Cost is proportional to the names, ports and
addresses of the changed endpoints. Pure data: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from registry.layered import DELETED, LayeredMap, _Deleted
from registry.model import Endpoint
from registry.names import is_absolute
from registry.reachability import identifies_client

Pair = tuple[Endpoint | None, Endpoint | None]
T = TypeVar("T")


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
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def name_keys(ep: Endpoint | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.key for c in ep.claims)) if ep else ()


def srv_records(ep: Endpoint | None) -> dict[str, list[SrvRecord]]:
    out: dict[str, list[SrvRecord]] = {}
    for key in name_keys(ep):
        assert ep is not None
        for port in ep.ports:
            srv_key = f"{port.service_label}._{port.proto}.{key}"
            out.setdefault(srv_key, []).append(SrvRecord(ep.name, port.port, ep))
    return out


def owned_ips(ep: Endpoint | None) -> tuple[str, ...]:
    if ep is None:
        return ()
    return tuple(dict.fromkeys(canonical_ip(a.ip) for a in ep.addresses if identifies_client(a)))


def suffixes(key: str) -> list[str]:
    """Every proper suffix of a relative key (`db.shop` -> [`shop`]); none for absolute keys."""
    if is_absolute(key):
        return []
    return [key.split(".", i)[-1] for i in range(1, key.count(".") + 1)]


EndpointChanges = dict[str, tuple[Endpoint, ...] | _Deleted]
SrvChanges = dict[str, tuple[SrvRecord, ...] | _Deleted]


class Indexes:
    """Immutable indexes over one set of endpoints."""

    __slots__ = ("below", "ips", "names", "srv")

    def __init__(self) -> None:
        self.names: LayeredMap[str, tuple[Endpoint, ...]] = LayeredMap()
        self.srv: LayeredMap[str, tuple[SrvRecord, ...]] = LayeredMap()
        self.ips: LayeredMap[str, tuple[Endpoint, ...]] = LayeredMap()
        self.below: LayeredMap[str, int] = LayeredMap()

    def changed(self, pairs: Iterable[Pair]) -> Indexes:
        names: EndpointChanges = {}
        srv: SrvChanges = {}
        ips: EndpointChanges = {}
        for before, after in pairs:
            self._names(names, before, after)
            self._srv(srv, before, after)
            self._ips(ips, before, after)
        new = Indexes()
        new.below = self._below(names, srv)
        new.names = self.names.update(names)
        new.srv = self.srv.update(srv)
        new.ips = self.ips.update(ips)
        return new

    def _names(
        self, pending: EndpointChanges, before: Endpoint | None, after: Endpoint | None
    ) -> None:
        ref = (before or after).ref  # type: ignore[union-attr]
        added = set(name_keys(after))
        for key in dict.fromkeys((*name_keys(before), *added)):
            current = _current(pending, self.names, key)
            kept = [ep for ep in current if ep.ref != ref]
            if key in added and after is not None:
                kept.append(after)
                kept.sort(key=order)
            pending[key] = tuple(kept) if kept else DELETED

    def _srv(self, pending: SrvChanges, before: Endpoint | None, after: Endpoint | None) -> None:
        ref = (before or after).ref  # type: ignore[union-attr]
        new = srv_records(after)
        for key in dict.fromkeys((*srv_records(before), *new)):
            current = _current(pending, self.srv, key)
            kept = [r for r in current if r.endpoint.ref != ref] + new.get(key, [])
            kept.sort(key=lambda r: order(r.endpoint))
            pending[key] = tuple(kept) if kept else DELETED

    def _ips(
        self, pending: EndpointChanges, before: Endpoint | None, after: Endpoint | None
    ) -> None:
        ref = (before or after).ref  # type: ignore[union-attr]
        added = set(owned_ips(after))
        for ip in dict.fromkeys((*owned_ips(before), *added)):
            current = _current(pending, self.ips, ip)
            kept = [ep for ep in current if ep.ref != ref]
            if ip in added and after is not None:
                kept.append(after)
                kept.sort(key=order)
            pending[ip] = tuple(kept) if kept else DELETED

    def _below(self, names: EndpointChanges, srv: SrvChanges) -> LayeredMap[str, int]:
        counts: dict[str, int] = {}
        appeared = [(k, not isinstance(v, _Deleted), k in self.names) for k, v in names.items()]
        appeared += [(k, not isinstance(v, _Deleted), k in self.srv) for k, v in srv.items()]
        for key, now, before in appeared:
            delta = int(now) - int(before)
            for suffix in suffixes(key) if delta else ():
                counts[suffix] = counts.get(suffix, 0) + delta
        changes: dict[str, int | _Deleted] = {}
        for suffix, delta in counts.items():
            if delta:
                total = (self.below.get(suffix) or 0) + delta
                changes[suffix] = total if total > 0 else DELETED
        return self.below.update(changes)


def _current(
    pending: Mapping[str, tuple[T, ...] | _Deleted], index: Mapping[str, tuple[T, ...]], key: str
) -> tuple[T, ...]:
    if key not in pending:
        return index.get(key) or ()
    value = pending[key]
    return () if isinstance(value, _Deleted) else value
