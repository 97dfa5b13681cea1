"""Snapshots built change by change equal snapshots built from scratch, and share what an
event did not touch (the persistent maps underneath)."""

from __future__ import annotations

import random

from registry import Address, Endpoint, NameClaim, Origin, Port, Remove, Resync, Snapshot, Upsert
from registry.layered import DELETED, LayeredMap


def endpoint(rng: random.Random, source: str, i: int) -> Endpoint:
    names = {f"svc{rng.randrange(6)}", f"c{i}", f"db.shop{rng.randrange(3)}"}
    return Endpoint(
        source=source,
        id=f"id{i}",
        name=f"c{i}",
        claims=tuple(NameClaim(n, Origin.LABEL) for n in sorted(names)),
        addresses=(
            Address(f"10.0.{rng.randrange(4)}.{rng.randrange(1, 9)}", f"n{rng.randrange(2)}"),
        ),
        ports=tuple(Port(p) for p in rng.sample([80, 443, 53], rng.randrange(3))),
    )


def fresh(snapshot: Snapshot) -> Snapshot:
    return Snapshot(dict(snapshot.endpoints))


def same_indexes(a: Snapshot, b: Snapshot) -> None:
    assert dict(a.names()) == dict(b.names())
    assert dict(a.srv_names()) == dict(b.srv_names())
    for key in [*list(a.names()), "shop0", "shop1", "shop2", "_tcp.svc1", "nope"]:
        assert a.has_names_below(key) == b.has_names_below(key), key
    for ep in b.endpoints.values():
        for address in ep.addresses:
            assert a.endpoint_at(address.ip) == b.endpoint_at(address.ip)


def test_incremental_snapshots_equal_rebuilt_ones_through_random_events() -> None:
    rng = random.Random(11)
    snapshot = Snapshot()
    for step in range(600):
        source = rng.choice(["docker", "cluster:a", "cluster:b"])
        roll = rng.random()
        if roll < 0.6:
            event: Upsert | Remove | Resync = Upsert(endpoint(rng, source, rng.randrange(40)))
        elif roll < 0.9:
            event = Remove(source, f"id{rng.randrange(40)}")
        else:
            event = Resync(
                source, tuple(endpoint(rng, source, i) for i in rng.sample(range(40), 8))
            )
        snapshot = snapshot.apply(event)
        if step % 50 == 0:
            same_indexes(snapshot, fresh(snapshot))
    same_indexes(snapshot, fresh(snapshot))


def test_an_event_that_changes_nothing_keeps_the_snapshot() -> None:
    rng = random.Random(3)
    ep = endpoint(rng, "docker", 1)
    one = Snapshot().apply(Upsert(ep))
    assert one.apply(Upsert(ep)) is one
    assert one.apply(Resync("docker", (ep,))) is one
    assert one.apply(Resync("other", ())) is one


def test_layered_map_updates_leave_the_old_map_alone() -> None:
    base: LayeredMap[str, int] = LayeredMap({str(i): i for i in range(1000)})
    current = base
    for i in range(2000):  # enough to fold the overlay into a new base several times
        current = current.update(
            {str(i % 1500): -i, str(i + 5000): i, str((i * 7) % 1000): DELETED}
        )
    assert dict(base) == {str(i): i for i in range(1000)}
    model: dict[str, int] = {str(i): i for i in range(1000)}
    for i in range(2000):
        model[str(i % 1500)] = -i
        model[str(i + 5000)] = i
        model.pop(str((i * 7) % 1000), None)
    assert dict(current) == model and len(current) == len(model)
