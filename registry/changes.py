"""Change records: what one registry event changed, name by name.

`changes(old, new, event, at, policy)` compares the endpoints an event touched
in two snapshots and returns one `Change` per (name, endpoint, aspect): the
endpoint started or stopped answering for the name, an address came or went,
it moved in or out of rotation, was paused, renamed, or its ports changed.
Each record carries the event's `reason` and what the name answers right
after the change. In steps: `aspects` (what differs; `counted_aspects` derives
only the last N and counts the rest), `unmade` (numbered records holding their
name's claimants) and `made` (the answers, derived from those claimants).
Pure: no I/O, no clock (the caller passes the time), and it decides nothing
about answers that `Snapshot.resolve` does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from registry.events import Event, Remove, Resync, Upsert, Upserts
from registry.index import Pair
from registry.model import Address, Endpoint
from registry.resolution import NOT_FOUND, UnhealthyPolicy, resolution
from registry.snapshot import Snapshot
from registry.view import FULL_VIEW


class ChangeKind(StrEnum):
    """What happened to one endpoint under one name."""

    ADDED = "added"  # the endpoint now answers for the name
    REMOVED = "removed"  # it no longer does
    ADDRESS_ADDED = "address-added"
    ADDRESS_REMOVED = "address-removed"
    IN_ROTATION = "in-rotation"  # health let it back in
    OUT_OF_ROTATION = "out-of-rotation"  # health took it out
    HEALTH = "health"  # health changed without moving it in or out
    PAUSED = "paused"
    UNPAUSED = "unpaused"
    RENAMED = "renamed"  # the endpoint's canonical (container) name changed
    PORTS = "ports"


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the change history. `seq` is given by `History` (0 until then)."""

    time: float
    name: str
    kind: ChangeKind
    detail: str
    endpoint: str
    endpoint_id: str
    source: str
    reason: str
    answer: tuple[str, ...]
    seq: int = 0


def default_reason(event: Event) -> str:
    """The event's own reason, or what kind of event it was when the source gave none."""
    if event.reason:
        return event.reason
    if isinstance(event, Upsert):
        return f"upsert from {event.endpoint.source}"
    if isinstance(event, Remove):
        return f"remove from {event.source}"
    return f"resync of {event.source}"


def touched(old: Snapshot, new: Snapshot, event: Event) -> list[Pair]:
    """(before, after) of every endpoint `event` can have changed (all of a source for a
    resync, by id; the endpoints of a slice of one)."""
    if isinstance(event, Upsert | Remove):
        source, id_ = event.endpoint.ref if isinstance(event, Upsert) else (event.source, event.id)
        return [(old.source_endpoints(source).get(id_), new.source_endpoints(source).get(id_))]
    if isinstance(event, Upserts):
        before, after = old.source_endpoints(event.source), new.source_endpoints(event.source)
        return [(before.get(ep.id), after.get(ep.id)) for ep in event.endpoints]
    if not isinstance(event, Resync):
        return []  # pending sources and networks change no endpoint
    before, after = old.source_endpoints(event.source), new.source_endpoints(event.source)
    ids = sorted({*before, *after}) if before else sorted(after)
    return [(before.get(id_), after.get(id_)) for id_ in ids]


def changes(
    old: Snapshot,
    new: Snapshot,
    event: Event,
    at: float,
    policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
    first_seq: int = 0,
) -> tuple[Change, ...]:
    """Every change from `old` to `new` among the endpoints `event` touched; numbered from
    `first_seq` on when given (else every `seq` is 0)."""
    return records(aspects(old, new, event), new, event, at, policy, first_seq)


Aspect = tuple[str, ChangeKind, str, Endpoint]
Found = tuple[Aspect, bool]  # an aspect, and whether its endpoint is gone


def aspects(old: Snapshot, new: Snapshot, event: Event) -> list[Found]:
    """What differs, in record order, before any record is made (cheap: no answers)."""
    found: list[Found] = []
    for before, after in touched(old, new, event):
        if before != after:
            found += [(aspect, after is None) for aspect in _aspects(before, after)]
    return found


def counted_aspects(
    old: Snapshot, new: Snapshot, event: Event, limit: int
) -> tuple[int, list[Found]]:
    """How many aspects `aspects` finds, and the last `limit` of them: only those are
    derived, the others are counted (an endpoint that came or went has one per key)."""
    total = 0
    tail: list[list[Found]] = []
    for before, after in reversed(touched(old, new, event)):
        if before == after:
            continue
        if limit > 0:
            found = [(aspect, after is None) for aspect in _aspects(before, after)]
            tail.append(found)
            limit -= len(found)
            total += len(found)
        elif before is None or after is None:
            total += len(_keys(before or after))
        else:
            total += len(_aspects(before, after))
    kept = [aspect for found in reversed(tail) for aspect in found]
    return total, kept[-limit:] if limit < 0 else kept


def records(
    found: Iterable[Found],
    new: Snapshot,
    event: Event,
    at: float,
    policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
    first_seq: int = 0,
) -> tuple[Change, ...]:
    """The change records of `found` aspects, each with what its name answers in `new`."""
    return tuple(made(unmade(found, new, event, at, first_seq), policy))


@dataclass(frozen=True, slots=True)
class Unmade:
    """A numbered change record whose answer is not derived yet: it keeps the endpoints that
    claimed its name right after the change (None: none did), all the answer depends on."""

    time: float
    aspect: Aspect
    reason: str
    claimants: tuple[Endpoint, ...] | None
    seq: int

    @property
    def name(self) -> str:
        return self.aspect[0]


def unmade(
    found: Iterable[Found], new: Snapshot, event: Event, at: float, first_seq: int = 0
) -> list[Unmade]:
    """The records of `found` aspects, numbered from `first_seq` (0: all 0), answers not
    derived: a name lookup each, however many endpoints claim it."""
    reason = default_reason(event)
    gone = reason + " (gone from the source)" if isinstance(event, Resync) else reason
    names = new.names()
    claimants: dict[str, tuple[Endpoint, ...] | None] = {}
    out: list[Unmade] = []
    seq, step = first_seq, 1 if first_seq else 0
    for aspect, removed in found:
        key = aspect[0]
        held = claimants[key] if key in claimants else claimants.setdefault(key, names.get(key))
        out.append(Unmade(at, aspect, gone if removed else reason, held, seq))
        seq += step
    return out


def made(items: Iterable[Change | Unmade], policy: UnhealthyPolicy) -> list[Change]:
    """Every item as a `Change`: what an unmade record's name answers (the client-less view,
    as `Snapshot.resolve(key, None, policy)` gives it) is derived once per name and claimants."""
    answers: dict[tuple[str, int], tuple[str, ...]] = {}
    out: list[Change] = []
    for item in items:
        if isinstance(item, Change):
            out.append(item)
            continue
        key, kind, detail, ep = item.aspect
        claimants = item.claimants
        answer = answers.get((key, id(claimants)))
        if answer is None:
            found = resolution(FULL_VIEW, key, claimants, policy) if claimants else NOT_FOUND
            answer = answers[(key, id(claimants))] = found.addresses
        detail = _fail_open_note(kind, detail, ep, answer)
        out.append(
            Change(
                item.time,
                key,
                kind,
                detail,
                ep.name,
                ep.id,
                ep.source,
                item.reason,
                answer,
                item.seq,
            )
        )
    return out


def _aspects(before: Endpoint | None, after: Endpoint | None) -> list[Aspect]:
    """(name key, kind, detail, endpoint) for each thing that differs, sorted by name."""
    old_keys = _keys(before)
    new_keys = _keys(after)
    found: list[Aspect] = []
    added = new_keys - old_keys
    if added:  # one endpoint's summary is the same under each of its names: derived once
        assert after is not None
        renamed = f"; renamed from {before.name}" if before and before.name != after.name else ""
        summary = _summary(after) + renamed
        found += [(key, ChangeKind.ADDED, summary, after) for key in added]
    removed = old_keys - new_keys
    if removed:
        assert before is not None
        renamed = f"; renamed to {after.name}" if after and before.name != after.name else ""
        summary = _addresses(before.addresses) + renamed
        found += [(key, ChangeKind.REMOVED, summary, before) for key in removed]
    if before is not None and after is not None:
        updates = _updates(before, after)
        for key in sorted(old_keys & new_keys) if updates else ():
            found.extend((key, kind, detail, after) for kind, detail in updates)
    return sorted(found, key=lambda a: a[0])


def _updates(before: Endpoint, after: Endpoint) -> list[tuple[ChangeKind, str]]:
    found: list[tuple[ChangeKind, str]] = []
    if before.name != after.name:
        found.append((ChangeKind.RENAMED, f"{before.name} -> {after.name}"))
    for address in after.addresses:
        if address not in before.addresses:
            found.append((ChangeKind.ADDRESS_ADDED, _addresses((address,))))
    for address in before.addresses:
        if address not in after.addresses:
            found.append((ChangeKind.ADDRESS_REMOVED, _addresses((address,))))
    found.extend(_state(before, after))
    if before.ports != after.ports:
        found.append((ChangeKind.PORTS, f"{_ports(before)} -> {_ports(after)}"))
    return found


def _state(before: Endpoint, after: Endpoint) -> list[tuple[ChangeKind, str]]:
    """Pause first (it always decides rotation), then health."""
    health = f"health {before.health.value} -> {after.health.value}"
    if before.paused != after.paused:
        return [(ChangeKind.PAUSED if after.paused else ChangeKind.UNPAUSED, "")]
    if before.healthy != after.healthy:
        return [(ChangeKind.IN_ROTATION if after.healthy else ChangeKind.OUT_OF_ROTATION, health)]
    if before.health != after.health:
        return [(ChangeKind.HEALTH, health)]
    return []


_STILL_OUT = (ChangeKind.ADDED, ChangeKind.OUT_OF_ROTATION, ChangeKind.HEALTH)


def _fail_open_note(kind: ChangeKind, detail: str, ep: Endpoint, answer: tuple[str, ...]) -> str:
    """Say so when an endpoint out for health is still answered (fail-open)."""
    out_for_health = not ep.paused and not ep.healthy
    if kind in _STILL_OUT and out_for_health and any(a.ip in answer for a in ep.addresses):
        return detail + "; still answered: every endpoint of the name is unhealthy (fail-open)"
    return detail


def _keys(ep: Endpoint | None) -> set[str]:
    return {claim.key for claim in ep.claims} if ep is not None else set()


def _summary(ep: Endpoint) -> str:
    out = ep.out_of_rotation_reason()
    return _addresses(ep.addresses) + (f"; out of rotation: {out}" if out else "")


def _addresses(addresses: Iterable[Address]) -> str:
    text = ", ".join(f"{a.ip} on {a.network}" if a.network else a.ip for a in addresses)
    return text or "no addresses"


def _ports(ep: Endpoint) -> str:
    return ", ".join(f"{p.port}/{p.proto}" for p in ep.ports) or "none"
