"""The bulk build (a first load: only endpoints that are new) gives exactly the snapshot that
change-by-change updates give, whatever the endpoints, the batches and the order."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from registry import (
    Address,
    Endpoint,
    NameClaim,
    Origin,
    Port,
    Resync,
    Scope,
    Snapshot,
    Upsert,
)
from registry.layered import DELETED, LayeredMap

NAMES = ["svc", "web", "db.shop", "api.shop", "x.y.z", "abs.example.", "*"]
IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "2001:db8::1", "2001:0db8::0001", "fd00::2"]


def endpoint(rng: random.Random, source: str, i: int) -> Endpoint:
    names = rng.sample(NAMES, rng.randrange(4))
    claims = [NameClaim(f"c{i}", Origin.CONTAINER_NAME)]
    claims += [NameClaim(n, Origin.LABEL, srv_only=rng.random() < 0.3) for n in names]
    addresses = [
        Address(rng.choice(IPS), rng.choice(["", "n1", "n2"]), rng.choice(list(Scope)))
        for _ in range(rng.randrange(3))
    ]
    ports = [
        Port(rng.choice([53, 80, 443]), rng.choice(["tcp", "udp"])) for _ in range(rng.randrange(3))
    ]
    clients = [Address(rng.choice(IPS), "gwbridge") for _ in range(rng.randrange(3) // 2)]
    return Endpoint(
        source=source,
        id=f"id{i}",
        name=rng.choice([f"c{i}", "same", "zz"]),  # ties on the name, too
        claims=tuple(claims),
        addresses=tuple(addresses),
        ports=tuple(ports),
        client_addresses=tuple(clients),
    )


def endpoint_set(seed: int, count: int) -> list[Endpoint]:
    rng = random.Random(seed)
    sources = ["docker", "cluster:a", "cluster:b"]
    return [endpoint(rng, rng.choice(sources), i) for i in range(count)]


def same(a: Snapshot, b: Snapshot) -> None:
    assert dict(a.endpoints) == dict(b.endpoints)
    assert dict(a.names()) == dict(b.names())
    assert dict(a.srv_names()) == dict(b.srv_names())
    keys = {k for key in [*a.names(), *a.srv_names()] for k in _suffixes(key)}
    for key in keys | {"shop", "y.z", "z", "nope"}:
        assert a.has_names_below(key) == b.has_names_below(key), key
    for ip in IPS:
        assert a.endpoint_at(ip) == b.endpoint_at(ip), ip
        assert a.client_at(ip) == b.client_at(ip), ip


def _suffixes(key: str) -> list[str]:
    labels = key.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def one_by_one(eps: list[Endpoint]) -> Snapshot:
    """Each endpoint first under another shape, then replaced: every step takes the
    per-change path (pairs with a `before`), never the bulk one."""
    snapshot = Snapshot()
    for ep in eps:
        decoy = replace(ep, claims=(NameClaim("decoy", Origin.LABEL),), addresses=(), ports=())
        snapshot = snapshot.apply(Upsert(decoy)).apply(Upsert(ep))
    return snapshot


SEEDS = st.integers(0, 2**32)


@settings(max_examples=100, deadline=None)
@given(SEEDS, st.integers(0, 60))
def test_a_bulk_build_equals_the_change_by_change_build(seed: int, count: int) -> None:
    eps = endpoint_set(seed, count)
    same(Snapshot({ep.ref: ep for ep in eps}), one_by_one(eps))


@settings(max_examples=100, deadline=None)
@given(SEEDS, st.integers(0, 60), st.integers(1, 5))
def test_resyncs_of_new_sources_in_batches_equal_the_change_by_change_build(
    seed: int, count: int, batches: int
) -> None:
    """Later batches merge into names earlier ones hold (appended, spliced or re-sorted)."""
    eps = endpoint_set(seed, count)
    snapshot = Snapshot()
    for b in range(batches):
        for source in ("docker", "cluster:a", "cluster:b"):
            batch = tuple(ep for i, ep in enumerate(eps) if i % batches == b)
            mine = tuple(replace(ep, source=f"{source}#{b}") for ep in batch if ep.source == source)
            snapshot = snapshot.apply(Resync(f"{source}#{b}", mine))
    expected = one_by_one(list(snapshot.endpoints.values()))
    same(snapshot, expected)


def test_many_joiners_and_few_joiners_are_both_merged_in_order() -> None:
    """A name with 400 claimants gets 3 more (binary search) and then 300 more (one sort)."""
    svc = (NameClaim("svc", Origin.LABEL),)

    def ep(source: str, i: int) -> Endpoint:
        return Endpoint(source, f"id{i}", f"c{i:04d}", svc, (), (Port(80),))

    first = tuple(ep("a", i) for i in range(0, 800, 2))
    few = tuple(ep("b", i) for i in (1, 401, 799))
    many = tuple(ep("c", i) for i in range(3, 900, 3))
    bulk = Snapshot().apply(Resync("a", first)).apply(Resync("b", few)).apply(Resync("c", many))
    same(bulk, one_by_one([*first, *few, *many]))
    names = [e.name for e in bulk.names()["svc"]]
    assert names == sorted(names) and len(names) == 400 + 3 + 299


def test_a_large_layered_update_equals_small_ones() -> None:
    base: LayeredMap[str, int] = LayeredMap({str(i): i for i in range(100)})
    big = base.update({**{str(i): -i for i in range(50, 600)}, "3": DELETED, "nope": DELETED})
    small = base
    for i in range(50, 600):
        small = small.update({str(i): -i})
    small = small.update({"3": DELETED, "nope": DELETED})
    assert dict(big) == dict(small) and len(big) == len(small) == 599
    assert dict(base) == {str(i): i for i in range(100)}


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.integers(0, 40), st.integers(0, 9)),
    st.lists(st.integers(0, 40)),
    st.dictionaries(st.integers(0, 80), st.integers(10, 19), max_size=400),
)
def test_joining_values_equals_updating_with_them(
    base: dict[int, int], gone: list[int], values: dict[int, int]
) -> None:
    """`joined` (a first load's map build, adopting the batch when the map is empty) and
    `held` give what `update` and membership give, with an overlay of changes and deletions."""
    layered = LayeredMap(base).update({k: DELETED for k in gone} | {41: 0})
    before = dict(layered)
    assert dict(layered.joined(dict(values))) == dict(layered.update(values))
    assert len(layered.joined(dict(values))) == len(layered.update(values))
    assert layered.held(values.keys()) == {k for k in values if k in layered}
    assert dict(layered) == before  # the old map is untouched
    assert dict(LayeredMap[int, int]().joined(dict(values))) == values
