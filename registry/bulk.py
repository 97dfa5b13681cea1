"""The bulk build: what a batch of new endpoints (a first load) adds to each index, in one pass.

`joiners(endpoints)` groups the endpoints under every key they join (names, SRV names with
their records, owned and client-only addresses); it takes the endpoints in the stable
claimant order (`registry.keys.order`), so every group comes out already in that order and
nothing is sorted per key. `joined(groups, index, place)` merges each group with what the
index holds under its key and says which keys are new; `suffix_counts(keys)` counts the
names below each relative name that new keys add (empty non-terminals). It gives exactly
what the change-by-change path gives (tests/registry/test_bulk.py). None of the endpoints
may be indexed yet. Pure data: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import TypeVar

from registry.keys import SrvRecord, client_ips, owned_ips
from registry.layered import LayeredMap
from registry.model import Endpoint

T = TypeVar("T")
Place = tuple[str, str, str]
Groups = dict[str, list[T]]

place_of: Callable[[Endpoint], Place] = attrgetter("name", "source", "id")  # keys.order


def record_place(record: SrvRecord) -> Place:
    return place_of(record.endpoint)


@dataclass(slots=True)
class Joiners:
    """Each key's joining endpoints (or SRV records), in stable order."""

    names: Groups[Endpoint]
    srv: Groups[SrvRecord]
    ips: Groups[Endpoint]
    clients: Groups[Endpoint]


def joiners(endpoints: Iterable[Endpoint]) -> Joiners:
    """Every key's joiners: one pass over the endpoints in claimant order."""
    found = Joiners({}, {}, {}, {})
    names, srv, ips = found.names, found.srv, found.ips
    for ep in sorted(endpoints, key=place_of):
        keys = dict.fromkeys([c.key for c in ep.claims])
        named = keys  # the keys it answers A/AAAA under: all but SRV-only claims'
        if any(c.srv_only for c in ep.claims):
            named = dict.fromkeys([c.key for c in ep.claims if not c.srv_only])
        for key in named:
            group = names.get(key)
            if group is None:
                names[key] = [ep]
            else:
                group.append(ep)
        for port in ep.ports:  # one record per port, shared by every SRV name it is under
            label = f"{port.service_label}._{port.proto}."
            record = SrvRecord(ep.name, port.port, ep)
            for key in keys:
                srv_key = label + key
                records = srv.get(srv_key)
                if records is None:
                    srv[srv_key] = [record]
                else:
                    records.append(record)
        if ep.addresses:
            for ip in owned_ips(ep):
                _group(ips, ip).append(ep)
        if ep.client_addresses:
            for ip in client_ips(ep):
                _group(found.clients, ip).append(ep)
    return found


def _group(groups: Groups[T], key: str) -> list[T]:
    found = groups.get(key)
    if found is None:
        found = groups[key] = []
    return found


def joined(
    groups: Groups[T], index: LayeredMap[str, tuple[T, ...]], place: Callable[[T], Place]
) -> tuple[dict[str, tuple[T, ...]], set[str]]:
    """Each key's new value (what `index` holds with its joiners merged in, in stable
    order) and the keys `index` did not hold."""
    out = {key: tuple(group) for key, group in groups.items()}
    held = index.held(groups.keys())
    for key in held:
        out[key] = merged_in(index[key], groups[key], place)
    return out, groups.keys() - held


def merged_in(
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


def suffix_counts(keys: Iterable[str]) -> dict[str, int]:
    """How many of `keys` lie below each relative name (see `registry.keys.suffixes`)."""
    counts: dict[str, int] = {}
    for key in keys:
        dot = key.find(".")
        if dot < 0 or key.endswith("."):  # one label, or absolute: nothing below counts
            continue
        while dot >= 0:
            suffix = key[dot + 1 :]
            counts[suffix] = counts.get(suffix, 0) + 1
            dot = key.find(".", dot + 1)
    return counts


def counted(below: LayeredMap[str, int], counts: dict[str, int]) -> LayeredMap[str, int]:
    """`below` with `counts` added (names that appeared)."""
    for suffix in below.held(counts.keys()):
        counts[suffix] += below[suffix]
    return below.joined(counts)
