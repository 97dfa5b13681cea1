"""The hot path: encoded replies cached by query bytes, so a repeated question costs a dict lookup.

On a hit there is no dnslib: the header is checked against a set of plain query headers, the
question name is walked in the bytes, and the key is the query without its ID (name lower-cased)
per client view: clients with the same `ClientView` (the isolation rule: networks and Compose
project) share one table, found from the client's address with one dict lookup, so a client
never gets a reply cached for another view. The reply is the cached bytes with the query's ID
and question case patched in; round-robin is a cycle over one slot per distinct order, each
filled by the full path the first time it is served. A store subscription drops everything on a
new snapshot, so a change is visible on the very next query. Misses, and anything unusual, go
through `dnsd.wire`. No sockets, no logging.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import cycle

from dnslib import QTYPE, RCODE

from dnsd.answer import ZoneSettings
from dnsd.wire import RD, Decision, Forward, Query, Reply, parse_query, respond, servfail
from registry import ClientView, Event, Snapshot, Store

MetricKey = tuple[str, str, str]
_CD_AD = (0x00, 0x10, 0x20, 0x30)
PLAIN_HEADERS = frozenset(
    bytes((flags, bits, 0, 1, 0, 0, 0, 0, 0, arcount))
    for flags in (0, RD)
    for bits in _CD_AD
    for arcount in (0, 1)
)
TC_BIT = 0x02
Rotation = tuple[int, int]  # (first step, distinct orders)


class _Entry:
    """Encoded replies for one key: fixed header bytes and one tail (the reply after the
    question) per round-robin slot. An empty slot holds its own index until the full path
    fills it; `tails` cycles over the slots, starting after slot 0."""

    __slots__ = ("base", "count", "head", "metric", "size", "slots", "tails")

    def __init__(
        self, head: bytes, first: bytes, slots: int, rotation: Rotation, metric: MetricKey
    ) -> None:
        self.head = head
        self.slots: list[bytes | int] = [first, *range(1, slots)]
        self.tails: Iterator[bytes | int] = cycle(self.slots[1:] + self.slots[:1])
        self.base, self.count = rotation
        self.metric = metric
        self.size = len(first)

    def rotation(self, slot: int) -> int:
        """The answer's rotation step for `slot`: slots spread evenly over `count` orders."""
        return self.base + (slot * self.count) // len(self.slots)

    def fill(self, slot: int, tail: bytes) -> None:
        """Keep `tail` in `slot`; the cycle goes on with the slot after it."""
        self.slots[slot] = tail
        self.size += len(tail)
        self.tails = cycle(self.slots[slot + 1 :] + self.slots[: slot + 1])


Table = dict[bytes, "_Entry | Forward"]


class FastPath:
    """Answers repeated questions from encoded bytes; falls back to `dnsd.wire` otherwise."""

    def __init__(
        self,
        store: Store,
        settings: ZoneSettings,
        queries: Counter[MetricKey],
        *,
        max_entries: int = 50_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_rotations: int = 1024,
        max_views: int = 65_536,
    ) -> None:
        self.settings = settings
        self._store = store
        self._queries = queries
        self._limits = (max_entries, max_bytes, max(1, max_rotations), max_views)
        self._fills = 0
        self._entries = 0
        self._bytes = 0
        self._udp: dict[str, Table] = {}
        self._tcp: dict[str, Table] = {}
        self._shared: dict[tuple[bool, ClientView], Table] = {}
        self._unsubscribe = store.subscribe(self._invalidate)

    def close(self) -> None:
        """Stop following the store (idempotent)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, _nothing
        unsubscribe()

    @property
    def entries(self) -> int:
        return self._entries

    def udp(self, data: bytes, client_ip: str) -> bytes | Decision:
        """Reply bytes for a UDP query (hit, already counted), or the full path's decision."""
        if type(data) is not bytes:
            data = bytes(data)
        return self._lookup(data, client_ip, self._udp, True)

    def tcp(self, data: bytes, client_ip: str) -> bytes | Decision:
        if type(data) is not bytes:
            data = bytes(data)
        return self._lookup(data, client_ip, self._tcp, False)

    def _lookup(
        self, data: bytes, client_ip: str, views: dict[str, Table], udp: bool
    ) -> bytes | Decision:
        if data[2:12] not in PLAIN_HEADERS:
            return self._full(data, client_ip, udp)
        size = len(data)
        end = 12
        while end < size:
            length = data[end]
            if length == 0 or length > 63:
                break
            end += length + 1
        if end >= size or data[end] != 0:
            return self._full(data, client_ip, udp)
        key = data[2:end].lower() + data[end:]
        table = views.get(client_ip)
        if table is None:
            table = self._table_for(client_ip, views, udp)
        entry = table.get(key)
        if entry is None:
            return self._fill(data, client_ip, udp, table, key, end)
        if entry.__class__ is Forward:
            return entry
        tail = next(entry.tails)  # type: ignore[union-attr]
        if tail.__class__ is int:  # an empty slot: its index
            return self._fill_slot(entry, tail, data, client_ip, udp, end)  # type: ignore[arg-type]
        self._queries[entry.metric] += 1  # type: ignore[union-attr]
        return data[:2] + entry.head + data[12:end] + tail  # type: ignore[union-attr, operator]

    def _table_for(self, client_ip: str, views: dict[str, Table], udp: bool) -> Table:
        """The table for this client's view (computed once per client and snapshot)."""
        if len(views) >= self._limits[3]:
            views.clear()
        view = self._store.snapshot.view_of(client_ip)
        table = self._shared.setdefault((udp, view), {})
        views[client_ip] = table
        return table

    def _full(self, data: bytes, client_ip: str, udp: bool) -> Decision:
        parsed = parse_query(data)
        if not isinstance(parsed, Query):
            return parsed
        return self._respond(parsed, data, client_ip, udp, 0)

    def _respond(
        self, query: Query, data: bytes, client_ip: str, udp: bool, rotation: int
    ) -> Reply | Forward:
        snapshot = self._store.snapshot
        try:
            return respond(query, snapshot, self.settings, client_ip, udp=udp, rotation=rotation)
        except Exception as exc:  # the catch-all of the cached path
            return servfail(data, query, self.settings, exc)

    def _fill(
        self, data: bytes, client_ip: str, udp: bool, table: Table, key: bytes, end: int
    ) -> Decision:
        parsed = parse_query(data)
        if not isinstance(parsed, Query):
            return parsed
        self._fills += 1
        first = self._respond(parsed, data, client_ip, udp, self._fills)
        if parsed.edns is not None and parsed.edns.has_options:
            return first  # options (cookies...) differ per client: not worth caching
        if isinstance(first, Forward):
            self._store_entry(table, key, first, len(key))
        elif first.cacheable:
            self._store_rotations(first, table, key, end)
        return first

    def _store_rotations(self, first: Reply, table: Table, key: bytes, end: int) -> None:
        """Cache `first` as slot 0 of its key; the other rotations fill as they are served."""
        count = first.rotations if not first.data[2] & TC_BIT else 1
        slots = max(1, min(count, self._limits[2]))
        metric = metric_key(first.qtype, first.rcode, "local")
        entry = _Entry(first.data[2:12], first.data[end:], slots, (self._fills, count), metric)
        entry.size += len(key)
        self._store_entry(table, key, entry, entry.size)

    def _fill_slot(
        self, entry: _Entry, slot: int, data: bytes, client_ip: str, udp: bool, end: int
    ) -> Decision:
        """Serve an empty slot through the full path and keep its tail if the budget allows."""
        parsed = parse_query(data)
        if not isinstance(parsed, Query):
            return parsed
        reply = self._respond(parsed, data, client_ip, udp, entry.rotation(slot))
        if isinstance(reply, Reply) and reply.cacheable and reply.data[2:12] == entry.head:
            tail = reply.data[end:]
            if self._bytes + len(tail) <= self._limits[1]:
                entry.fill(slot, tail)
                self._bytes += len(tail)
        return reply

    def _store_entry(self, table: Table, key: bytes, entry: _Entry | Forward, size: int) -> None:
        max_entries, max_bytes = self._limits[0], self._limits[1]
        while table and (self._entries >= max_entries or self._bytes + size > max_bytes):
            old_key = next(iter(table))
            old = table.pop(old_key)
            self._entries -= 1
            self._bytes -= old.size if isinstance(old, _Entry) else len(old_key)
        if self._entries >= max_entries or self._bytes + size > max_bytes:
            return  # other tables hold the budget; this one stays uncached until the next change
        table[key] = entry
        self._entries += 1
        self._bytes += size

    def _invalidate(self, snapshot: Snapshot, event: Event) -> None:
        self._udp = {}
        self._tcp = {}
        self._shared = {}
        self._entries = 0
        self._bytes = 0


def _nothing() -> None:
    pass


_METRIC_KEYS: dict[tuple[int, int, str], MetricKey] = {}


def metric_key(qtype: int, rcode: int, source: str) -> MetricKey:
    """(qtype name, rcode name, source), memoised so counting costs one dict update."""
    found = _METRIC_KEYS.get((qtype, rcode, source))
    if found is None:
        qname = QTYPE.get(qtype, f"TYPE{qtype}")
        rname = RCODE.get(rcode, "BADVERS" if rcode == 16 else f"RCODE{rcode}")
        found = _METRIC_KEYS[(qtype, rcode, source)] = (str(qname), str(rname), source)
    return found
