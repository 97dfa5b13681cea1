"""Which sources have synced (`pending`) and when the registry last changed (`changed_at`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from registry import (
    Address,
    Endpoint,
    Health,
    NameClaim,
    Origin,
    Remove,
    Resync,
    Snapshot,
    Store,
    Unsynced,
    Upsert,
)


def ep(id: str, source: str = "docker", health: Health = Health.NONE) -> Endpoint:
    return Endpoint(
        source=source,
        id=id,
        name=id,
        claims=(NameClaim(id, Origin.CONTAINER_NAME),),
        addresses=(Address("10.0.0.1", "net"),),
        health=health,
    )


def clock(*readings: float) -> Callable[[], float]:
    values: Iterator[float] = iter(readings)
    return lambda: next(values)


def test_a_store_starts_with_its_sources_pending_until_each_resyncs() -> None:
    store = Store(pending={"docker", "file:/r"})
    assert store.snapshot.pending == {"docker", "file:/r"}
    store.apply(Upsert(ep("web")))  # an event is not a sync
    assert store.snapshot.pending == {"docker", "file:/r"}
    store.apply(Resync("file:/r", (ep("db", "file:/r"),)))
    assert store.snapshot.pending == {"docker"}
    store.apply(Resync("docker", ()))
    assert store.snapshot.pending == frozenset()


def test_unsynced_marks_a_source_pending_and_keeps_its_endpoints() -> None:
    store = Store()
    store.apply(Resync("docker", (ep("web"),)))
    seen: list[Snapshot] = []
    store.subscribe(lambda snapshot, event: seen.append(snapshot))
    store.apply(Unsynced("docker"))
    assert store.snapshot.pending == {"docker"}
    assert store.snapshot.resolve("web").addresses == ("10.0.0.1",)
    assert len(seen) == 1  # a new snapshot: cached answers built on the old one are dropped
    store.apply(Unsynced("docker"))
    assert len(seen) == 1  # already pending: nothing changes
    store.apply(Resync("docker", (ep("web"),)))
    assert store.snapshot.pending == frozenset()


def test_changed_at_is_the_wall_clock_second_and_never_goes_back() -> None:
    store = Store(clock=clock(1000.7, 1001.2, 1001.9, 990.0, 1005.0))
    assert store.snapshot.changed_at == 1000
    store.apply(Upsert(ep("a")))
    assert store.snapshot.changed_at == 1001
    store.apply(Upsert(ep("b")))
    assert store.snapshot.changed_at == 1001  # the same second: the same stamp
    store.apply(Upsert(ep("c")))  # the clock stepped back
    assert store.snapshot.changed_at == 1001
    store.apply(Remove("docker", "a"))
    assert store.snapshot.changed_at == 1005


def test_a_restarted_store_never_starts_below_the_last_stamp() -> None:
    """Thousands of changes in one second leave the stamp at that second, so a store started
    a moment later (a restart: nothing is persisted) starts at or above it."""
    first = Store(clock=lambda: 2_000_000_000.5)
    for i in range(3000):
        first.apply(Upsert(ep("churn", health=Health.HEALTHY if i % 2 else Health.UNHEALTHY)))
    restarted = Store(clock=lambda: 2_000_000_000.9)
    assert restarted.snapshot.changed_at >= first.snapshot.changed_at


def test_a_pure_apply_without_a_clock_keeps_the_stamp() -> None:
    snapshot = Snapshot(changed_at=7).apply(Upsert(ep("web")))
    assert snapshot.changed_at == 7 and snapshot.version == 1
    assert Snapshot(changed_at=7).apply(Upsert(ep("web")), now=9).changed_at == 9
