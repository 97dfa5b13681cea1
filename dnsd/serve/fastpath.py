"""The fast path: encoded replies cached by query bytes, so a repeated question costs a dict lookup.

Only a cache. On a hit there is no dnslib: the header must be one of `wire.PLAIN_HEADERS`, the
question's extent comes from `packet.question_end`, and the key is the query without its ID
(name lower-cased) in the table of the client's view (`dnsd.core.view`). The reply is the
cached bytes with the query's ID and question case patched in; round-robin is a cycle over one
slot per distinct order, each filled by the core the first time it is served. A hit is counted
here, where it is served (the chain ends at a hit; counting it elsewhere would cost a second
lookup). On a miss it makes the query's `Request` and asks the core (`wire.decide`, the only
bytes -> decision path), keeping what is cacheable, including "forward" decisions. A store
subscription drops, on a new snapshot, the entries the change can alter (`invalidation`: per
question name for an upsert or removal, everything otherwise), so a change shows on the very
next query. The C extension serves UDP hits from these same tables (`hit_tables`,
dnsd/serve/_hits.c), so entries are lists in the layout it reads and everything it may serve
stays in these dicts.
It must not do I/O, log, forward or build replies itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from dnsd.core.packet import TC, name_end
from dnsd.core.request import Request
from dnsd.core.view import client_view
from dnsd.core.wire import PLAIN_HEADERS, Decision, Forward, Reply, decide
from dnsd.core.zone import ZoneSettings
from dnsd.ops.metrics import Metrics
from dnsd.serve.entries import (
    CACHE,
    HEAD,
    LOCAL,
    METRIC,
    METRIC_KEYS,
    NEXT,
    PLAIN_HEADER_RUNS,
    SLOTS,
    TAIL,
    UNTIL,
    Cached,
    Entry,
    MetricKey,
    Table,
    metric_key,
)
from dnsd.serve.invalidation import EntryIndex, carries_serial, change_of
from registry import Event, Snapshot, Store
from registry.keys import canonical_ip

MAX_ENTRIES = 50_000
MAX_BYTES = 64 * 1024 * 1024
MAX_ROTATIONS = 1024
MAX_CLIENTS = 65_536  # client -> table memo entries per transport before it is cleared
T = TypeVar("T")
Next = Callable[[Decision, bytes, str, bool], T]  # the next link: (decision, query, client, udp)
# What the C hit path reads per batch (dnsd/serve/_hits.c): client -> table memo, recursion
# decisions, the forwarder's clock now, the query counter, metrics, entry types, plain headers.
HitTables = tuple[dict[str, Any], dict[str, bool], float, Counter[Any], Any, type, type, bytes]


def keep(decision: Decision, data: bytes, client: str, udp: bool) -> Decision:
    """The last link when nothing follows the fast path: the decision itself."""
    return decision


class ForwardedHits(Protocol):
    """What serving forwarding-cache hits from the table needs (the forwarder has it)."""

    @property
    def clock(self) -> Callable[[], float]: ...

    def allows(self, client_ip: str) -> bool: ...

    def recursion_decisions(self) -> dict[str, bool]: ...  # allows()'s memo, current


class FastPath(Generic[T]):
    """The chain's first link: answers repeated questions from encoded bytes, asks the core
    (`wire.decide`) otherwise, and passes every decision that is not a hit to `after`."""

    def __init__(
        self,
        store: Store,
        settings: ZoneSettings,
        queries: Counter[MetricKey],
        after: Next[T],
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        max_rotations: int = MAX_ROTATIONS,
        max_views: int = MAX_CLIENTS,
        forwarded: ForwardedHits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self._allows = forwarded.allows if forwarded is not None else _refuse
        self._decisions = forwarded.recursion_decisions if forwarded is not None else _none
        self._clock = forwarded.clock if forwarded is not None else _never
        self._metrics = metrics or Metrics()
        self._store = store
        self._queries = queries
        self._after = after
        self._limits = (max_entries, max_bytes, max(1, max_rotations), max_views)
        self._fills = 0
        self._entries = 0
        self._bytes = 0
        self._clients: tuple[dict[str, Table], dict[str, Table]] = ({}, {})  # tcp, udp
        self._tables: dict[tuple[bool, Hashable], Table] = {}
        self._index: EntryIndex[Table] = EntryIndex()  # question name -> cached entries
        self._aliases: dict[str, list[str]] = {}  # canonical address -> clients spelled otherwise
        self._seen = store.snapshot  # the snapshot the tables answer for
        self._unsubscribe = store.subscribe(self._invalidate)

    def close(self) -> None:
        """Stop following the store (idempotent)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, _nothing
        unsubscribe()

    @property
    def entries(self) -> int:
        return self._entries

    def hit_tables(self) -> HitTables:
        """What the C hit path reads for one batch of UDP queries: this fast path's own UDP
        client -> table memo (so a drop or clear here is a miss there on the next datagram), the
        recursion ACL's decisions per client, and the forwarder's clock once per batch."""
        return (
            self._clients[1],
            self._decisions(),
            self._clock(),
            self._queries,
            self._metrics,
            Entry,
            Cached,
            PLAIN_HEADER_RUNS,
        )

    @property
    def fills(self) -> int:
        """How many replies the core has built for a missing key (each a cache miss)."""
        return self._fills

    def udp(self, data: bytes, client: str) -> bytes | T:
        return self.lookup(data, client, True)

    def tcp(self, data: bytes, client: str) -> bytes | T:
        return self.lookup(data, client, False)

    def lookup(self, data: bytes, client: str, udp: bool) -> bytes | T:
        """Reply bytes (a hit, counted), or what `after` makes of the core's decision."""
        if type(data) is not bytes:
            data = bytes(data)
        if data[2:12] not in PLAIN_HEADERS:
            return self._after(self._full(data, client, udp), data, client, udp)
        end = name_end(data)  # the key is the query from the name's zero byte on, ID aside
        if end is None:
            return self._after(self._full(data, client, udp), data, client, udp)
        table = self._clients[udp].get(client)
        if table is None:
            table = self._table_for(client, udp)
        key = data[2:end].lower() + data[end:]
        entry = table.get(key)
        if entry is None:
            return self._after(self._fill(data, client, table, key, end), data, client, udp)
        if entry.__class__ is not Entry:  # a name to forward: a kept cache hit, or the chain
            if entry.__class__ is Cached:
                if self._clock() < entry[UNTIL] and self._allows(client):
                    self._queries[entry[METRIC]] += 1
                    self._metrics.cache_hits += 1
                    return data[:2] + entry[HEAD] + data[12:end] + entry[TAIL]  # type: ignore[no-any-return]
                entry = entry.decision
            return self._after(entry, data, client, udp)  # type: ignore[arg-type]
        slots = entry[SLOTS]
        slot = entry[NEXT]
        entry[NEXT] = slot + 1 if slot + 1 < len(slots) else 0
        tail = slots[slot]
        if tail.__class__ is int:  # an empty slot: the core fills it
            decision = self._fill_slot(entry, slot, data, client, table, end)
            return self._after(decision, data, client, udp)
        self._queries[entry[METRIC]] += 1
        return data[:2] + entry[HEAD] + data[12:end] + tail  # type: ignore[no-any-return]

    def keep_forwarded(
        self, data: bytes, client: str, udp: bool, reply: bytes, until: float, decision: Forward
    ) -> None:
        """Serve `reply`, a forwarding-cache hit just sent for `data`, from the table until
        `until`; only where the table already says "forward" for this question."""
        end = name_end(data)
        if (
            end is None
            or data[2:12] not in PLAIN_HEADERS
            or reply[12:end].lower() != data[12:end].lower()
        ):
            return
        table = self._clients[udp].get(client)
        if table is None:
            table = self._table_for(client, udp)
        key = data[2:end].lower() + data[end:]
        current = table.get(key)
        if current is None or current.__class__ is Entry:
            return
        old = current.size if current.__class__ is Cached else 0
        if self._bytes - old + len(reply) > self._limits[1]:
            return
        metric = METRIC_KEYS.get((decision.qtype, reply[3] & 0x0F, CACHE)) or metric_key(
            decision.qtype, reply[3] & 0x0F, CACHE
        )
        table[key] = Cached(decision, reply, end, until, metric)
        self._bytes += len(reply) - old

    def view(self, client: str) -> Hashable:
        """The view `client` gets now (the seam for client-scoped answers)."""
        return client_view(self._store.snapshot, client)

    def _table_for(self, client: str, udp: bool) -> Table:
        """The table for this client's view, remembered per client until the next change."""
        clients = self._clients[udp]
        if len(clients) >= self._limits[3]:
            for memo in self._clients:  # both, with the aliases that name their clients
                memo.clear()
            self._aliases = {}
        if ":" in client and (canonical := canonical_ip(client)) != client:
            self._aliases.setdefault(canonical, []).append(client)  # cleared with `clients`
        view = self.view(client)
        table = self._tables.get((udp, view))
        if table is None:
            table = self._tables[(udp, view)] = Table(udp, view)
        clients[client] = table
        return table

    def _decide(self, data: bytes, client: str, udp: bool, view: Hashable, step: int) -> Decision:
        request = Request(data, client, udp=udp, view=view)
        return decide(request, self._store.snapshot, self.settings, step)

    def _full(self, data: bytes, client: str, udp: bool) -> Decision:
        return self._decide(data, client, udp, self.view(client), 0)

    def _fill(self, data: bytes, client: str, table: Table, key: bytes, end: int) -> Decision:
        self._fills += 1
        first = self._decide(data, client, table.udp, table.view, self._fills)
        if isinstance(first, Forward):
            if first.cacheable:
                self._store_entry(table, key, first, len(key))
        elif isinstance(first, Reply) and first.cacheable:
            self._store_rotations(first, table, key, end)
        return first

    def _store_rotations(self, first: Reply, table: Table, key: bytes, end: int) -> None:
        """Cache `first` as slot 0 of its key; the other rotations fill as they are served."""
        count = first.rotations if not first.data[2] & TC else 1
        slots = max(1, min(count, self._limits[2]))
        metric = metric_key(first.qtype, first.rcode, LOCAL)
        entry = Entry(first.data[2:12], first.data[end:], slots, (self._fills, count), metric)
        entry.size += len(key)
        self._store_entry(table, key, entry, entry.size)

    def _fill_slot(
        self, entry: Entry, slot: int, data: bytes, client: str, table: Table, end: int
    ) -> Decision:
        """Serve an empty slot through the core and keep its tail if the budget allows."""
        reply = self._decide(data, client, table.udp, table.view, entry.rotation(slot))
        if isinstance(reply, Reply) and reply.cacheable and reply.data[2:12] == entry[HEAD]:
            tail = reply.data[end:]
            if self._bytes + len(tail) <= self._limits[1]:
                entry.fill(slot, tail)
                self._bytes += len(tail)
        return reply

    def _store_entry(self, table: Table, key: bytes, entry: Entry | Forward, size: int) -> None:
        max_entries, max_bytes = self._limits[0], self._limits[1]
        while table and (self._entries >= max_entries or self._bytes + size > max_bytes):
            self._drop(table, next(iter(table)))
        if self._entries >= max_entries or self._bytes + size > max_bytes:
            return  # other tables hold the budget; this one stays uncached until the next change
        table[key] = entry
        self._entries += 1
        self._bytes += size
        serial = isinstance(entry, Entry) and carries_serial(key, entry[HEAD])
        self._index.add(table, key, serial)

    def _drop(self, table: Table, key: bytes) -> None:
        """Remove one entry from its table, the index and the budget."""
        old = table.pop(key, None)
        if old is None:
            return
        self._index.discard(table, key)
        self._entries -= 1
        self._bytes -= len(key) if old.__class__ is Forward else old.size  # type: ignore[union-attr]
        if old.__class__ is Cached:
            self._bytes -= len(key)

    def _invalidate(self, snapshot: Snapshot, event: Event) -> None:
        """Drop what the change can alter: per name for an upsert or removal, else all."""
        before, self._seen = self._seen, snapshot
        change = change_of(before, snapshot, event, self.settings)
        if change is None:
            return self._drop_all()
        for ip in change.clients:  # a client whose own endpoint changed gets a fresh view
            for client in (ip, *self._aliases.pop(ip, ())):
                self._clients[0].pop(client, None)
                self._clients[1].pop(client, None)
        for table, key in self._index.take(change):
            self._drop(table, key)
        return None

    def _drop_all(self) -> None:
        self._clients = ({}, {})
        self._tables = {}
        self._index = EntryIndex()
        self._aliases = {}
        self._entries = 0
        self._bytes = 0


def _nothing() -> None:
    pass


def _refuse(client: str) -> bool:
    return False


def _none() -> dict[str, bool]:
    return {}


def _never() -> float:
    return float("inf")
