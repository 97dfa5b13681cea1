"""Change records and the bounded history, as tables: event in, change lines out."""

from __future__ import annotations

import dataclasses

import pytest

from registry import (
    Address,
    Endpoint,
    Event,
    Health,
    NameClaim,
    Origin,
    Port,
    Remove,
    Resync,
    Snapshot,
    UnhealthyPolicy,
    Upsert,
)
from registry.changes import ChangeKind, changes
from registry.history import History


def api(
    cid: str = "c1",
    name: str = "shop-api-1",
    ips: tuple[str, ...] = ("10.0.3.7",),
    health: Health = Health.HEALTHY,
    paused: bool = False,
    aliases: tuple[str, ...] = ("api",),
    ports: tuple[Port, ...] = (),
) -> Endpoint:
    claims = (
        NameClaim(name, Origin.CONTAINER_NAME),
        *(NameClaim(a, Origin.ALIAS) for a in aliases),
    )
    return Endpoint(
        "docker", cid, name, claims, tuple(Address(ip, "shop") for ip in ips),
        ports=ports, health=health, paused=paused,
    )  # fmt: skip


BASE = Snapshot().apply(Upsert(api()))
FAIL_OPEN = "every endpoint of the name is unhealthy (fail-open)"
Line = tuple[str, ChangeKind, str]


def lines(old: Snapshot, event: Event) -> list[Line]:
    new = old.apply(event)
    return [(c.name, c.kind, c.detail) for c in changes(old, new, event, 100.0)]


K = ChangeKind
CASES: list[tuple[str, Snapshot, Event, list[Line]]] = [
    (
        "a new container under two names",
        Snapshot(),
        Upsert(api()),
        [("api", K.ADDED, "10.0.3.7 on shop"), ("shop-api-1", K.ADDED, "10.0.3.7 on shop")],
    ),
    (
        "a new container that is still starting",
        Snapshot(),
        Upsert(api(health=Health.STARTING, aliases=())),
        [
            (
                "shop-api-1",
                K.ADDED,
                "10.0.3.7 on shop; out of rotation: health is starting; still answered: "
                "every endpoint of the name is unhealthy (fail-open)",
            )
        ],
    ),
    (
        "a starting container beside a healthy one is not answered",
        BASE,
        Upsert(api("c2", "shop-api-2", ("10.0.3.8",), Health.STARTING, aliases=("api",))),
        [
            ("api", K.ADDED, "10.0.3.8 on shop; out of rotation: health is starting"),
            (
                "shop-api-2",
                K.ADDED,
                "10.0.3.8 on shop; out of rotation: health is starting; "
                "still answered: " + FAIL_OPEN,
            ),
        ],
    ),
    (
        "removed",
        BASE,
        Remove("docker", "c1", "docker container die"),
        [("api", K.REMOVED, "10.0.3.7 on shop"), ("shop-api-1", K.REMOVED, "10.0.3.7 on shop")],
    ),
    (
        "a network connect adds an address",
        BASE,
        Upsert(api(ips=("10.0.3.7", "10.0.4.2"), aliases=())),
        [
            ("api", K.REMOVED, "10.0.3.7 on shop"),
            ("shop-api-1", K.ADDRESS_ADDED, "10.0.4.2 on shop"),
        ],
    ),
    (
        "restart with a new address",
        BASE,
        Upsert(api(ips=("10.0.3.9",), aliases=())),
        [
            ("api", K.REMOVED, "10.0.3.7 on shop"),
            ("shop-api-1", K.ADDRESS_ADDED, "10.0.3.9 on shop"),
            ("shop-api-1", K.ADDRESS_REMOVED, "10.0.3.7 on shop"),
        ],
    ),
    (
        "unhealthy, another healthy endpoint keeps serving",
        BASE.apply(Upsert(api("c2", "shop-api-2", ("10.0.3.8",)))),
        Upsert(api(health=Health.UNHEALTHY, aliases=("api",))),
        [
            ("api", K.OUT_OF_ROTATION, "health healthy -> unhealthy"),
            (
                "shop-api-1",
                K.OUT_OF_ROTATION,
                "health healthy -> unhealthy; still answered: every endpoint of the name "
                "is unhealthy (fail-open)",
            ),
        ],
    ),
    (
        "back to healthy",
        Snapshot().apply(Upsert(api(health=Health.UNHEALTHY, aliases=()))),
        Upsert(api(aliases=())),
        [("shop-api-1", K.IN_ROTATION, "health unhealthy -> healthy")],
    ),
    (
        "starting to unhealthy stays out",
        Snapshot().apply(Upsert(api(health=Health.STARTING, aliases=()))),
        Upsert(api(health=Health.UNHEALTHY, aliases=())),
        [("shop-api-1", K.HEALTH, "health starting -> unhealthy; still answered: " + FAIL_OPEN)],
    ),
    (
        "paused",
        BASE,
        Upsert(api(paused=True, aliases=())),
        [("api", K.REMOVED, "10.0.3.7 on shop"), ("shop-api-1", K.PAUSED, "")],
    ),
    (
        "renamed keeps its alias",
        BASE,
        Upsert(api(name="shop-api-9")),
        [
            ("api", K.RENAMED, "shop-api-1 -> shop-api-9"),
            ("shop-api-1", K.REMOVED, "10.0.3.7 on shop; renamed to shop-api-9"),
            ("shop-api-9", K.ADDED, "10.0.3.7 on shop; renamed from shop-api-1"),
        ],
    ),
    (
        "ports",
        BASE,
        Upsert(api(aliases=("api",), ports=(Port(80),))),
        [("api", K.PORTS, "none -> 80/tcp"), ("shop-api-1", K.PORTS, "none -> 80/tcp")],
    ),
    ("an identical upsert changes nothing", BASE, Upsert(api()), []),
    ("removing an unknown endpoint changes nothing", BASE, Remove("docker", "nope"), []),
]


@pytest.mark.parametrize(
    ("old", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_changes(old: Snapshot, event: Event, expected: list[Line]) -> None:
    assert lines(old, event) == expected


def test_a_resync_reports_only_what_differs_and_why() -> None:
    old = BASE.apply(Upsert(api("c2", "shop-web-1", aliases=())))
    event = Resync("docker", (api(),), "resync after reconnecting to the Docker engine")
    found = changes(old, old.apply(event), event, 5.0)
    assert [(c.name, c.kind, c.reason) for c in found] == [
        (
            "shop-web-1",
            K.REMOVED,
            "resync after reconnecting to the Docker engine (gone from the source)",
        )
    ]


def test_a_record_says_who_why_when_and_what_the_name_answers() -> None:
    two = BASE.apply(Upsert(api("c2", "shop-api-2", ("10.0.3.8",))))
    event = Remove("docker", "c2", "docker container die (exit code 137)")
    record = next(c for c in changes(two, two.apply(event), event, 42.5) if c.name == "api")
    assert (record.time, record.endpoint, record.endpoint_id, record.source) == (
        42.5, "shop-api-2", "c2", "docker",
    )  # fmt: skip
    assert record.reason == "docker container die (exit code 137)"
    assert record.answer == ("10.0.3.7",)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (Upsert(api()), "upsert from docker"),
        (Remove("docker", "c1"), "remove from docker"),
        (Resync("docker", ()), "resync of docker (gone from the source)"),
    ],
)
def test_events_without_a_reason_say_what_kind_they_were(event: Event, reason: str) -> None:
    old = Snapshot() if isinstance(event, Upsert) else BASE
    assert {c.reason for c in changes(old, old.apply(event), event, 1.0)} == {reason}


def test_empty_policy_answers_nothing_when_all_are_unhealthy() -> None:
    event = Upsert(api(health=Health.UNHEALTHY))
    found = changes(BASE, BASE.apply(event), event, 1.0, UnhealthyPolicy.EMPTY)
    assert [(c.name, c.kind, c.detail, c.answer) for c in found] == [
        ("api", K.OUT_OF_ROTATION, "health healthy -> unhealthy", ()),
        ("shop-api-1", K.OUT_OF_ROTATION, "health healthy -> unhealthy", ()),
    ]


def feed(history: History, count: int) -> Snapshot:
    snapshot = Snapshot()
    for i in range(count):
        event = Upsert(api(f"c{i}", f"web-{i}", (f"10.0.0.{i % 250}",), aliases=()))
        new = snapshot.apply(event)
        history.record(snapshot, new, event, float(i))
        snapshot = new
    return snapshot


def test_the_history_is_bounded_and_numbered() -> None:
    history = History(size=3)
    feed(history, 5)
    assert [c.seq for c in history.query()] == [3, 4, 5]
    assert (len(history), history.first_seq, history.last_seq) == (3, 3, 5)


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ({}, [1, 2, 3, 4, 5, 6]),
        ({"since": 2.0}, [3, 4, 5, 6]),
        ({"until": 1.0}, [1, 2]),
        ({"since": 1.0, "until": 2.0}, [2, 3]),
        ({"after_seq": 4}, [5, 6]),
        ({"limit": 2}, [5, 6]),
        ({"name": lambda key: key == "web-3"}, [4]),
        ({"name": lambda key: key.startswith("web-"), "since": 4.0, "limit": 5}, [5, 6]),
    ],
)
def test_history_queries(query: dict[str, object], seqs: list[int]) -> None:
    history = History(size=100)
    feed(history, 6)
    assert [c.seq for c in history.query(**query)] == seqs  # type: ignore[arg-type]


def test_a_zero_size_history_keeps_nothing_but_still_numbers() -> None:
    history = History(size=0)
    feed(history, 2)
    assert (history.query(), history.last_seq, history.first_seq) == ([], 2, 3)


def test_numbered_records_are_otherwise_the_derived_ones() -> None:
    history = History()
    event = Upsert(api(aliases=()))
    [numbered] = history.record(Snapshot(), Snapshot().apply(event), event, 7.0)
    assert (
        dataclasses.replace(numbered, seq=0)
        == changes(Snapshot(), Snapshot().apply(event), event, 7.0)[0]
    )


@pytest.mark.parametrize("size", [0, 1, 5, 40, 1000])
def test_unfollowed_history_keeps_the_same_records_without_making_the_dropped_ones(
    size: int,
) -> None:
    """Nobody follows: a big resync's records beyond the kept ones are numbered, not made;
    what the history keeps and its numbering are exactly what every record would give."""
    many = tuple(api(f"c{i}", f"shop-api-{i}", (f"10.0.4.{i}",)) for i in range(1, 21))
    steps: list[Event] = [Resync("docker", many), Remove("docker", "c3"), Resync("docker", ())]
    every, kept = History(size), History(size)
    old = BASE
    for step in steps:
        new = old.apply(step)
        made = every.record(old, new, step, 9.0)
        made_kept = kept.record(old, new, step, 9.0, every=False)
        assert made_kept == made[len(made) - min(size, len(made)) :]
        old = new
    assert kept.last_seq == every.last_seq > 40
    assert kept.query() == every.query()


def _story() -> list[Event]:
    """Adds, a health change into fail-open, a resync that drops and adds, a removal."""
    many = tuple(api(f"c{i}", f"shop-api-{i}", (f"10.0.4.{i}",)) for i in range(1, 13))
    return [
        Upsert(api("c1", health=Health.UNHEALTHY)),
        Resync("docker", many),
        Upsert(api("c2", "shop-api-2", ("10.0.4.2", "10.0.5.2"), health=Health.STARTING)),
        Upsert(api("c9", "shop-api-9", ("10.0.4.9",), paused=True)),
        Resync("docker", many[4:]),
        Remove("docker", "c7", "docker container die"),
        Upsert(api("c5", aliases=("api", "web"), ports=(Port(80),))),
    ]


@pytest.mark.parametrize("size", [0, 1, 5, 13, 1000])
@pytest.mark.parametrize("read_every_step", [False, True])
def test_noted_records_read_the_same_as_recorded_ones(size: int, read_every_step: bool) -> None:
    """`note` makes a record (its answer, the fail-open note) only when the history is read,
    from the claimants its name had then: what a reader sees is exactly what `record` kept,
    whether it reads after every change or once at the end."""
    eager, lazy = History(size), History(size)
    old = Snapshot()
    after: list[Snapshot] = []
    for step, event in enumerate(_story()):
        new = old.apply(event)
        after.append(new)
        eager.record(old, new, event, float(step))
        lazy.note(old, new, event, float(step))
        assert lazy.last_seq == eager.last_seq
        if read_every_step:
            assert lazy.query() == eager.query()
            assert (lazy.first_seq, len(lazy)) == (eager.first_seq, len(eager))
        old = new
    assert lazy.query() == eager.query()
    assert lazy.query(name=lambda n: n == "api", limit=3) == eager.query(
        name=lambda n: n == "api", limit=3
    )
    assert (lazy.first_seq, lazy.last_seq, len(lazy)) == (
        eager.first_seq,
        eager.last_seq,
        len(eager),
    )
    assert eager.last_seq > 30
    for change in lazy.query():  # what the name answered right after its change
        assert change.answer == after[int(change.time)].resolve(change.name).addresses
    if size == 1000:  # the story covers fail-open notes and records of a resync's drops
        kept = eager.query()
        assert any(FAIL_OPEN in c.detail for c in kept)
        assert any(c.reason.endswith("(gone from the source)") for c in kept)
