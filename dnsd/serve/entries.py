"""The fast path's table layout: what one cached question holds, shared with the C hit path.

One job: the shapes `dnsd/serve/fastpath.py` keeps and `dnsd/serve/_hits.c` reads — a table
(dict of key -> entry, one per transport and client view), a local entry (header bytes and one
tail per round-robin slot), a kept forwarding-cache hit, and the memoised metric keys. Entries
are lists so that C reads them by index; the index constants below are that layout, and
`_hits.c` must change with them. No lookups, no policy, no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from dnsd.core.wire import PLAIN_HEADERS, Forward
from dnsd.ops.metrics import OTHER, qtype_label, rcode_label

MetricKey = tuple[str, str, str]  # (qtype name, rcode name, source)
Rotation = tuple[int, int]  # (first step, distinct orders)
LOCAL = "local"
CACHE = "cache"  # the source of a forwarding-cache hit
PLAIN_HEADER_RUNS = b"".join(sorted(PLAIN_HEADERS))  # what C compares a query's header with


# An entry is a list so that the C hit path (dnsd/serve/_hits.c) reads it by index; the first
# four fields are its layout, the rest are Python's alone.
HEAD, SLOTS, NEXT, METRIC = 0, 1, 2, 3  # Entry: header bytes, tails, next slot, metric key
TAIL, UNTIL = 1, 2  # Cached: [HEAD, TAIL, UNTIL, METRIC, decision, size]


class Entry(list[Any]):
    """Encoded replies for one key: [head, slots, next, metric, base, count, size]. `head` is
    the fixed header bytes, `slots` one tail (the reply after the question name) per
    round-robin slot, an empty slot holding its own index until the core fills it; a hit
    serves `slots[next]` and moves `next` on round the list (the first hit serves slot 1)."""

    __slots__ = ()

    def __init__(
        self, head: bytes, first: bytes, slots: int, rotation: Rotation, metric: MetricKey
    ) -> None:
        tails: list[bytes | int] = [first, *range(1, slots)]
        super().__init__((head, tails, 1 % slots, metric, *rotation, len(first)))

    @property
    def size(self) -> int:
        return int(self[6])

    @size.setter
    def size(self, size: int) -> None:
        self[6] = size

    def rotation(self, slot: int) -> int:
        """The answer's rotation step for `slot`: slots spread evenly over `count` orders."""
        return int(self[4] + (slot * self[5]) // len(self[SLOTS]))

    def fill(self, slot: int, tail: bytes) -> None:
        """Keep `tail` in `slot`; the next hit serves the slot after it."""
        self[SLOTS][slot] = tail
        self.size += len(tail)
        self[NEXT] = (slot + 1) % len(self[SLOTS])


class Cached(list[Any]):
    """A forwarding-cache hit held in the table, so that it is served like a local hit:
    [head, tail, until, metric, decision, size], the reply around the question name, exactly
    right until `until` on the forwarder's clock (the cache re-renders TTLs each second). Past
    that, or for a client the recursion ACL refuses, the query goes on down the chain with
    `decision`, which refreshes the entry."""

    __slots__ = ()

    def __init__(self, decision: Forward, reply: bytes, end: int, until: float, metric: MetricKey):
        super().__init__((reply[2:12], reply[end:], float(until), metric, decision, len(reply)))

    @property
    def decision(self) -> Forward:
        found: Forward = self[4]
        return found

    @property
    def size(self) -> int:
        return int(self[5])


class Table(dict[bytes, "Entry | Forward | Cached"]):
    """The encoded replies of one (transport, view)."""

    __slots__ = ("udp", "view")

    def __init__(self, udp: bool, view: Hashable) -> None:
        super().__init__()
        self.udp = udp
        self.view = view


METRIC_KEYS: dict[tuple[int, int, str], MetricKey] = {}


def metric_key(qtype: int, rcode: int, source: str) -> MetricKey:
    """(qtype label, rcode label, source), memoised so counting costs one dict update.

    Labels come from fixed sets (unknown types and rcodes are 'other'), and only known
    types are memoised, so neither the series nor this memo grow with what clients send.
    """
    found = METRIC_KEYS.get((qtype, rcode, source))
    if found is None:
        found = (qtype_label(qtype), rcode_label(rcode), source)
        if found[0] != OTHER:
            METRIC_KEYS[(qtype, rcode, source)] = found
    return found
