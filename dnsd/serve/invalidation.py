"""Which cached replies a registry change can alter, and where the fast path keeps them.

One job: for one `Upsert` or `Remove`, the question names whose local answer may differ
(`Change`), and an index from a question name to the fast path's cached entries (`EntryIndex`),
so a change costs what it touched instead of every cached reply. A name's answer reads only
the endpoints that claim it (A/AAAA, SRV with its targets and glue), the names below it (an
empty non-terminal is NODATA, not NXDOMAIN), the owner of an address (PTR, and the partial
reverse names above it), the client's own endpoint (its view: by its addresses and its
client-only ones, such as a docker_gwbridge address) and the zone's SOA serial
(every negative answer carries it). Names are kept in wire form, lower-case, without the
final zero byte: the fast path's keys hold them so, and nothing needs decoding. A question
name the index cannot match to registry keys exactly (a label with a byte no registry label
has, such as a dot inside a label) is "opaque" and dropped on every change. Every other event
(resyncs, networks, pending sources) returns no `Change`: the caller drops everything.
It must not do I/O, build answers, or touch the cached entries themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from dnslib import QTYPE

from dnsd.core import reverse
from dnsd.core.zone import ZoneSettings
from registry import Endpoint, Event, Remove, Snapshot, Upsert
from registry.keys import canonical_ip, claim_keys, identity_ips, srv_keys, suffixes
from registry.names import is_absolute

QUESTION = 10  # the key's name starts here: the reply header without its ID comes first
PLAIN = b"abcdefghijklmnopqrstuvwxyz0123456789-_*"  # every byte a registry label may hold
SERIAL_TYPES = frozenset({QTYPE.SOA, QTYPE.ANY})  # positive answers that may hold the SOA
T = TypeVar("T")
Slot = tuple[int, bytes]  # (id of the table, key in it)


@dataclass(frozen=True, slots=True)
class Change:
    """What one change can alter: question names (wire form), the addresses whose owner
    changed (clients there need a fresh view), and whether the SOA serial moved."""

    names: frozenset[bytes]
    clients: frozenset[str]
    serial: bool


def change_of(
    before: Snapshot, after: Snapshot, event: Event, settings: ZoneSettings
) -> Change | None:
    """The `Change` from `before` to `after` by `event`, or None: anything may have changed."""
    if not isinstance(event, Upsert | Remove) or after.version != before.version + 1:
        return None
    if after.pending != before.pending or after.subnets() is not before.subnets():
        return None
    source, id_ = event.endpoint.ref if isinstance(event, Upsert) else (event.source, event.id)
    old = before.source_endpoints(source).get(id_)
    new = after.source_endpoints(source).get(id_)
    names: set[str] = set()
    clients: set[str] = set()
    for endpoint in (old, new):
        if endpoint is not None:
            names |= endpoint_names(endpoint, settings)
            clients.update(identity_ips(endpoint))  # client-only addresses too
    serial = settings.serial(before) != settings.serial(after)
    return Change(frozenset(map(wire, names)), frozenset(clients), serial)


def endpoint_names(endpoint: Endpoint, settings: ZoneSettings) -> set[str]:
    """Every absolute question name whose answer reads `endpoint` (lower-case)."""
    zone = settings.zone.lower()
    out: set[str] = set()
    for key in (*claim_keys(endpoint), *srv_keys(endpoint)):
        if is_absolute(key):
            out.add(key)
            continue
        out.add(f"{key}.{zone}")
        if settings.bare_names:
            out.add(f"{key}.")
        out.update(f"{above}.{zone}" for above in suffixes(key))
    for address in endpoint.addresses:
        out.update(reverse_names(address.ip))
    return out


def reverse_names(ip: str) -> list[str]:
    """The reverse name of `ip` and every name above it (partial names are NODATA while
    some address lies under them)."""
    try:
        name = reverse.reverse_name(canonical_ip(ip))
    except ValueError:
        return []
    labels = name[:-1].split(".")
    return [".".join(labels[i:]) + "." for i in range(len(labels))]


def wire(name: str) -> bytes:
    """`web.docker.` -> b'\\x03web\\x06docker' (the zero byte left off; ASCII names only)."""
    labels = [label.encode() for label in name[:-1].split(".") if label]
    return b"".join(bytes((len(label),)) + label for label in labels)


def question_name(key: bytes) -> tuple[bytes, bool]:
    """The question name of a fast-path key (wire form) and whether it is plain: every label
    made of bytes a registry label may hold, so that it matches a key only as `wire` spells it."""
    i = QUESTION
    plain = True
    while key[i]:
        end = i + 1 + key[i]
        plain = plain and not key[i + 1 : end].translate(None, PLAIN)
        i = end
    return key[QUESTION:i], plain


def carries_serial(key: bytes, head: bytes) -> bool:
    """Whether a cached local reply may hold the SOA serial: anything with an authority
    section (negative answers), and SOA or ANY questions. `head` is the reply's header
    without ID."""
    if head[6] or head[7]:
        return True
    name, _ = question_name(key)
    at = QUESTION + len(name) + 1
    return int.from_bytes(key[at : at + 2]) in SERIAL_TYPES


class EntryIndex(Generic[T]):
    """Where each cached entry is, by question name; plus the entries holding the serial and
    the opaque ones. Holds one slot per cached entry, so it is bounded by the cache."""

    __slots__ = ("_names", "_opaque", "_serial", "_tables")

    def __init__(self) -> None:
        self._names: dict[bytes, dict[Slot, None]] = {}
        self._serial: dict[Slot, None] = {}
        self._opaque: dict[Slot, None] = {}
        self._tables: dict[int, tuple[T, int]] = {}  # id -> (table, its indexed keys)

    def __len__(self) -> int:
        return sum(held[1] for held in self._tables.values())

    def add(self, table: T, key: bytes, serial: bool) -> None:
        """Index `key` of `table` (the index keeps the table alive while it has keys here)."""
        slot = (id(table), key)
        name, plain = question_name(key)
        slots = self._names.setdefault(name, {}) if plain else self._opaque
        if slot in slots:
            return
        slots[slot] = None
        if serial:
            self._serial[slot] = None
        held = self._tables.get(slot[0])
        self._tables[slot[0]] = (table, held[1] + 1 if held else 1)

    def discard(self, table: T, key: bytes) -> None:
        """Forget `key` of `table` (evicted or dropped); nothing if it is not indexed."""
        slot = (id(table), key)
        name, plain = question_name(key)
        slots = self._names.get(name) if plain else self._opaque
        if slots is None or slot not in slots:
            return
        del slots[slot]
        if plain and not slots:
            del self._names[name]
        self._serial.pop(slot, None)
        table_, count = self._tables[slot[0]]
        if count <= 1:
            del self._tables[slot[0]]
        else:
            self._tables[slot[0]] = (table_, count - 1)

    def take(self, change: Change) -> list[tuple[T, bytes]]:
        """Every indexed (table, key) that `change` can alter, each once, now unindexed."""
        slots: dict[Slot, None] = dict(self._opaque)
        if change.serial:
            slots.update(self._serial)
        for name in change.names:
            slots.update(self._names.get(name) or {})
        out = [(self._tables[slot[0]][0], slot[1]) for slot in slots]
        for table, key in out:
            self.discard(table, key)
        return out
