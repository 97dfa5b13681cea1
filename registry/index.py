"""The snapshot's lookup indexes, updated by what changed rather than rebuilt.

`Indexes.changed(pairs)` takes (before, after) endpoint pairs (None for absent) and returns
new indexes that share everything untouched with the old ones (see `registry.layered`):
names -> claimants, SRV names -> records, address -> owners, client-only address -> owners
(`Endpoint.client_addresses`: who asks, never answered), and the count of names below
each relative name (empty non-terminals). Cost is proportional to the names, ports and
addresses of the changed endpoints; pairs that only add endpoints (a first load) take
`Indexes.added`, the bulk build of `registry.bulk`. Which keys an endpoint puts where is
`registry.keys`. Pure data: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from registry.bulk import counted, joined, joiners, place_of, record_place, suffix_counts
from registry.keys import (
    SrvRecord,
    client_ips,
    name_keys,
    order,
    owned_ips,
    srv_keys,
    srv_records,
    suffixes,
)
from registry.layered import DELETED, LayeredMap, _Deleted
from registry.model import Endpoint

Pair = tuple[Endpoint | None, Endpoint | None]
T = TypeVar("T")


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
        that only add endpoints (a first load) cost less through `added`, the bulk build."""
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

    def added(self, endpoints: Iterable[Endpoint]) -> Indexes:
        """New indexes with `endpoints` added (none of them may be indexed yet): one pass
        groups every key's joiners in order, then each key is merged once with what it holds
        (`registry.bulk`)."""
        groups = joiners(endpoints)
        names, appeared = joined(groups.names, self.names, place_of)
        srv, appeared_srv = joined(groups.srv, self.srv, record_place)
        counts = suffix_counts(appeared)
        for suffix, count in suffix_counts(appeared_srv).items():
            counts[suffix] = counts.get(suffix, 0) + count
        new = Indexes()
        new.below = counted(self.below, counts)
        new.names = self.names.joined(names)
        new.srv = self.srv.joined(srv)
        new.ips = self.ips.joined(joined(groups.ips, self.ips, place_of)[0])
        new.clients = self.clients.joined(joined(groups.clients, self.clients, place_of)[0])
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
