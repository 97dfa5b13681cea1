"""A big resync applied in slices (`Upserts`, then the `Resync`) ends in exactly the snapshot
the `Resync` alone gives, keeps the source pending until the `Resync`, drops nothing early,
and its change records are the same ones."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from registry import Endpoint, History, Resync, Snapshot, Upserts
from tests.registry.test_bulk import endpoint, same

SOURCE = "cluster:a"


def endpoints(seed: int, count: int, generation: int = 0) -> list[Endpoint]:
    rng = random.Random(seed)
    out = [replace(endpoint(rng, SOURCE, i), source=SOURCE) for i in range(count)]
    return [replace(ep, project=f"g{generation}") if i % 3 else ep for i, ep in enumerate(out)]


def sliced(endpoints: list[Endpoint], size: int) -> list[Upserts | Resync]:
    events: list[Upserts | Resync] = [
        Upserts(SOURCE, tuple(endpoints[start : start + size]))
        for start in range(0, len(endpoints) - size, size)
    ]
    return [*events, Resync(SOURCE, tuple(endpoints))]


def replay(snapshot: Snapshot, events: list[Upserts | Resync], history: History) -> Snapshot:
    for event in events:
        new = snapshot.apply(event, 0)
        history.record(snapshot, new, event, 0.0)
        snapshot = new
    return snapshot


def kept(history: History) -> Counter[tuple[str, str, str, str]]:
    return Counter((c.name, c.kind.value, c.endpoint_id, c.detail) for c in history.query())


@pytest.mark.parametrize(
    ("before", "after", "size"),
    [
        (0, 50, 7),  # a first load
        (0, 50, 49),
        (0, 50, 50),  # no slice: the Resync alone
        (40, 60, 9),  # a reload: some kept, some changed, some new
        (60, 20, 6),  # a reload where most are gone
    ],
)
def test_slices_then_the_resync_give_what_the_resync_gives(
    before: int, after: int, size: int
) -> None:
    start = Snapshot(pending=[SOURCE]).apply(Resync(SOURCE, tuple(endpoints(1, before))), 0)
    wanted = endpoints(1, after, generation=1)
    whole, pieces = History(10_000), History(10_000)
    direct = replay(start, [Resync(SOURCE, tuple(wanted))], whole)
    stepped = replay(start, sliced(wanted, size), pieces)
    same(direct, stepped)
    assert stepped.pending == direct.pending == frozenset()
    assert kept(pieces) == kept(whole)


def test_a_slice_adds_and_replaces_but_drops_nothing_and_leaves_the_source_pending() -> None:
    old = endpoints(2, 10)
    start = Snapshot().apply(Resync(SOURCE, tuple(old)), 0)
    changed = replace(old[0], project="moved")
    fresh = endpoints(3, 13)[10:]  # ids the source does not hold yet
    after = start.apply(Upserts(SOURCE, (changed, *fresh)), 0)
    assert dict(after.source_endpoints(SOURCE)) == {ep.id: ep for ep in [changed, *old[1:], *fresh]}
    loading = Snapshot(pending=[SOURCE]).apply(Upserts(SOURCE, tuple(old)), 0)
    assert loading.pending == {SOURCE}  # synced only by the Resync
    assert len(loading.source_endpoints(SOURCE)) == len(old)


def test_a_slice_already_applied_changes_nothing() -> None:
    eps = tuple(endpoints(4, 12))
    snapshot = Snapshot().apply(Upserts(SOURCE, eps), 0)
    assert snapshot.apply(Upserts(SOURCE, eps), 0) is snapshot
