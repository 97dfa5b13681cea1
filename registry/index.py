"""The snapshot's lookup indexes, updated by what changed rather than rebuilt.

`Indexes.changed(pairs)` takes (before, after) endpoint pairs (None for absent) and returns
new indexes that share everything untouched with the old ones (see `registry.layered`):
names -> claimants, SRV names -> records, address -> owners, client-only address -> owners
(`Endpoint.client_addresses`: who asks, never answered), and the count of names below
each relative name (empty non-terminals). Cost is proportional to the names, ports and
addresses of the changed endpoints; pairs that only add endpoints (a first load) take
`Indexes.added`, one pass that merges each key once. Pure data: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from registry.layered import DELETED, LayeredMap, _Deleted
from registry.model import Endpoint, ip_text
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


EndpointChanges = dict[str, tuple[Endpoint, ...] | _Deleted]
SrvChanges = dict[str, tuple[SrvRecord, ...] | _Deleted]


class Indexes:
    """Immutable indexes over one set of endpoints."""

    __slots__ = ("below", "clients", "ips", "names", "srv")

    def __init__(self) -> None:
        self.names: LayeredMap[str, tuple[Endpoint, ...]] = LayeredMap()
        self.srv: LayeredMap[str, tuple[SrvRecord, ...]] = LayeredMap()
        self.ips: LayeredMap[str, tuple[Endpoint, ...]] = LayeredMap()
        self.clients: LayeredMap[str, tuple[Endpoint, ...]] = LayeredMap()
        self.below: LayeredMap[str, int] = LayeredMap()

    def changed(self, pairs: Iterable[Pair]) -> Indexes:
        """New indexes after `pairs`; each touched key is rebuilt once, however many pairs
        touch it (a resync of thousands of endpoints behind one name stays linear). Pairs
        that only add endpoints (a first load) take `added`, the one-pass bulk build."""
        pairs = pairs if isinstance(pairs, list) else list(pairs)
        if all(before is None for before, _ in pairs):
            return self.added([after for _, after in pairs if after is not None])
        names: Edits[Endpoint] = {}
        srv: Edits[SrvRecord] = {}
        ips: Edits[Endpoint] = {}
        clients: Edits[Endpoint] = {}
        for before, after in pairs:
            ref = (before or after).ref  # type: ignore[union-attr]
            place = order(before) if before else ("", "", "")
            for key in name_keys(before):
                _edit(names, key)[0][ref] = place
            for key in name_keys(after):
                _edit(names, key)[1][ref] = [after]  # type: ignore[list-item]
            for key in srv_keys(before):
                _edit(srv, key)[0][ref] = place
            for key, records in srv_records(after).items():
                _edit(srv, key)[1][ref] = records
            for ip in owned_ips(before):
                _edit(ips, ip)[0][ref] = place
            for ip in owned_ips(after):
                _edit(ips, ip)[1][ref] = [after]  # type: ignore[list-item]
            for ip in client_ips(before):
                _edit(clients, ip)[0][ref] = place
            for ip in client_ips(after):
                _edit(clients, ip)[1][ref] = [after]  # type: ignore[list-item]
        name_changes = _merged(names, self.names, lambda ep: ep)
        srv_changes = _merged(srv, self.srv, lambda r: r.endpoint)
        new = Indexes()
        new.below = self._below(name_changes, srv_changes)
        new.names = self.names.update(name_changes)
        new.srv = self.srv.update(srv_changes)
        new.ips = self.ips.update(_merged(ips, self.ips, lambda ep: ep))
        new.clients = self.clients.update(_merged(clients, self.clients, lambda ep: ep))
        return new

    def added(self, endpoints: list[Endpoint]) -> Indexes:
        """New indexes with `endpoints` added (none of them may be indexed yet): one pass
        collects every key's joiners, then each key is merged once with what it holds."""
        names: dict[str, list[Endpoint]] = {}
        srv: dict[str, list[SrvRecord]] = {}
        ips: dict[str, list[Endpoint]] = {}
        clients: dict[str, list[Endpoint]] = {}
        for ep in endpoints:
            for key in name_keys(ep):
                _group(names, key).append(ep)
            if ep.ports:
                for key, records in srv_records(ep).items():
                    _group(srv, key).extend(records)
            for ip in owned_ips(ep):
                _group(ips, ip).append(ep)
            for ip in client_ips(ep):
                _group(clients, ip).append(ep)
        name_changes = joined(names, self.names, _itself)
        srv_changes = joined(srv, self.srv, _owner)
        appeared = [k for k in names if k not in self.names]
        appeared += [k for k in srv if k not in self.srv]
        new = Indexes()
        new.below = self._counted_below((key, 1) for key in appeared)
        new.names = self.names.update(name_changes)
        new.srv = self.srv.update(srv_changes)
        new.ips = self.ips.update(joined(ips, self.ips, _itself))
        new.clients = self.clients.update(joined(clients, self.clients, _itself))
        return new

    def _below(self, names: EndpointChanges, srv: SrvChanges) -> LayeredMap[str, int]:
        appeared = [(k, not isinstance(v, _Deleted), k in self.names) for k, v in names.items()]
        appeared += [(k, not isinstance(v, _Deleted), k in self.srv) for k, v in srv.items()]
        return self._counted_below((key, int(now) - int(before)) for key, now, before in appeared)

    def _counted_below(self, deltas: Iterable[tuple[str, int]]) -> LayeredMap[str, int]:
        """`below` after keys appeared (+1) or went (-1)."""
        counts: dict[str, int] = {}
        for key, delta in deltas:
            for suffix in suffixes(key) if delta else ():
                counts[suffix] = counts.get(suffix, 0) + delta
        changes: dict[str, int | _Deleted] = {}
        for suffix, delta in counts.items():
            if delta:
                total = (self.below.get(suffix) or 0) + delta
                changes[suffix] = total if total > 0 else DELETED
        return self.below.update(changes)


Ref = tuple[str, str]
Place = tuple[str, str, str]
Edit = tuple[dict[Ref, Place], dict[Ref, list[T]]]
Edits = dict[str, Edit[T]]
FEW = 8  # edits of one key up to this many are spliced in by binary search


def _edit(edits: Edits[T], key: str) -> Edit[T]:
    """(refs leaving `key` with their old place in the order, items joining it by ref)."""
    found = edits.get(key)
    if found is None:
        found = edits[key] = ({}, {})
    return found


def _merged(
    edits: Edits[T], index: Mapping[str, tuple[T, ...]], owner: Callable[[T], Endpoint]
) -> dict[str, tuple[T, ...] | _Deleted]:
    """Each edited key's new value: the old items minus leavers plus joiners, in stable order."""
    out: dict[str, tuple[T, ...] | _Deleted] = {}
    for key, (gone, joining) in edits.items():
        current = index.get(key) or ()
        if len(gone) + len(joining) <= FEW:
            items = _spliced(list(current), gone, joining, owner)
        else:
            items = [item for item in current if owner(item).ref not in gone]
            items += [item for group in joining.values() for item in group]
            items.sort(key=lambda item: order(owner(item)))
        out[key] = tuple(items) if items else DELETED
    return out


def _spliced(
    items: list[T],
    gone: dict[Ref, Place],
    joining: dict[Ref, list[T]],
    owner: Callable[[T], Endpoint],
) -> list[T]:
    """A few leavers and joiners placed by binary search: O(log n) comparisons."""

    def place(item: T) -> Place:
        return order(owner(item))

    for ref, old in gone.items():
        i = bisect.bisect_left(items, old, key=place)
        while i < len(items) and owner(items[i]).ref == ref:
            del items[i]
    for group in joining.values():
        i = bisect.bisect_right(items, place(group[0]), key=place)
        items[i:i] = group
    return items


def _group(groups: dict[str, list[T]], key: str) -> list[T]:
    found = groups.get(key)
    if found is None:
        found = groups[key] = []
    return found


def _itself(ep: Endpoint) -> Endpoint:
    return ep


def _owner(record: SrvRecord) -> Endpoint:
    return record.endpoint


def joined(
    additions: dict[str, list[T]],
    index: Mapping[str, tuple[T, ...]],
    owner: Callable[[T], Endpoint],
) -> dict[str, tuple[T, ...] | _Deleted]:
    """Each key's new value: what `index` holds with the joiners (none of them held yet)
    merged in, in stable order; the same result as `_merged`, without per-pair bookkeeping."""

    def place(item: T) -> Place:
        return order(owner(item))

    out: dict[str, tuple[T, ...] | _Deleted] = {}
    for key, joining in additions.items():
        if len(joining) > 1:
            joining.sort(key=place)  # stable: one endpoint's SRV records stay in their order
        current = index.get(key)
        out[key] = _merged_in(current, joining, place) if current else tuple(joining)
    return out


def _merged_in(
    current: tuple[T, ...], joining: list[T], place: Callable[[T], Place]
) -> tuple[T, ...]:
    """Two sorted runs merged: appended when they do not overlap, one sort when there are
    many joiners, else each joiner placed by binary search (O(k log n) comparisons)."""
    if place(current[-1]) < place(joining[0]):
        return current + tuple(joining)
    if len(joining) * 16 > len(current):
        return tuple(sorted(current + tuple(joining), key=place))
    out: list[T] = []
    lo = 0
    for item in joining:
        i = bisect.bisect_right(current, place(item), lo=lo, key=place)
        out.extend(current[lo:i])
        out.append(item)
        lo = i
    out.extend(current[lo:])
    return tuple(out)
