"""Per-name invalidation: which names a change alters, and that answers never go stale.

The property test is the strong check: over random upserts and removals on a small registry,
every cached reply (asked before and after each change, hits included) equals what the core
builds from the current snapshot, while most entries survive each change.
"""

from __future__ import annotations

from collections import Counter

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsd.core.request import Request
from dnsd.core.view import client_view
from dnsd.core.wire import Decision, Reply, decide
from dnsd.core.zone import ZoneSettings
from dnsd.serve.fastpath import FastPath, keep
from dnsd.serve.invalidation import (
    EntryIndex,
    carries_serial,
    change_of,
    endpoint_names,
    question_name,
    wire,
)
from registry import (
    Address,
    Endpoint,
    Event,
    NameClaim,
    Network,
    Networks,
    Origin,
    Port,
    Remove,
    Resync,
    Snapshot,
    Store,
    Unsynced,
    Upsert,
)
from tests.dnsd.core_support import SETTINGS, endpoint, query

HTTP = (Port(80, "tcp", "http"),)


@pytest.mark.parametrize(
    ("ep", "bare", "expected"),
    [
        (endpoint("web", "10.0.0.1"), True, {"web.docker.", "web.", "1.0.0.10.in-addr.arpa."}),
        (endpoint("web", "10.0.0.1"), False, {"web.docker.", "0.10.in-addr.arpa.", "arpa."}),
        (endpoint("db", keys=("db.shop",)), False, {"db.shop.docker.", "shop.docker."}),
        (endpoint("w", ports=HTTP), True, {"_http._tcp.w.docker.", "_http._tcp.w.",
                                           "_tcp.w.docker."}),
        (endpoint("api.internal."), True, {"api.internal."}),
        (endpoint("v6", "fd00::9"), False, {"9." + "0." * 29 + "d.f.ip6.arpa.", "ip6.arpa."}),
    ],
)  # fmt: skip
def test_the_names_an_endpoint_is_answered_under(
    ep: Endpoint, bare: bool, expected: set[str]
) -> None:
    names = endpoint_names(ep, ZoneSettings(zone="docker.", bare_names=bare))
    assert expected <= names
    assert bare or "web." not in names


def test_a_node_qualified_name_is_among_a_remote_endpoints_names() -> None:
    remote = Endpoint("cluster:n2", "1", "svc", (NameClaim("svc", Origin.CONTAINER_NAME),
                      NameClaim("svc.n2", Origin.NODE)), (Address("10.5.0.1", "ov"),))  # fmt: skip
    assert {"svc.docker.", "svc.n2.docker.", "n2.docker."} <= endpoint_names(remote, SETTINGS)


@pytest.mark.parametrize(
    ("name", "plain"),
    [("web.docker.", True), ("WEB.Docker.", True), ("_http._tcp.w.", True), ("a b.docker.", False)],
)
def test_question_names_come_from_the_key_in_wire_form(name: str, plain: bool) -> None:
    data = query(name)
    end = data.index(b"\x00", 12)
    key = data[2:end].lower() + data[end:]
    assert question_name(key) == (wire(name.lower()), plain)


def test_a_dot_inside_a_label_makes_a_name_opaque() -> None:
    key = b"\x00" * 10 + b"\x08web.shop\x06docker\x00\x00\x01\x00\x01"
    assert question_name(key) == (b"\x08web.shop\x06docker", False)


@pytest.mark.parametrize(
    ("name", "rdtype", "authority", "serial"),
    [("web.docker.", "A", 0, False), ("nope.docker.", "A", 1, True), ("docker.", "SOA", 0, True),
     ("docker.", "ANY", 0, True), ("docker.", "NS", 0, False)],
)  # fmt: skip
def test_which_replies_hold_the_serial(
    name: str, rdtype: str, authority: int, serial: bool
) -> None:
    data = query(name, rdtype)
    end = data.index(b"\x00", 12)
    head = b"\x84\x00\x00\x01\x00\x01" + authority.to_bytes(2) + b"\x00\x00"
    assert carries_serial(data[2:end] + data[end:], head) is serial


def snapshots(*events: Event) -> list[Snapshot]:
    out = [Snapshot(changed_at=100)]
    for event in events:
        out.append(out[-1].apply(event, 100))
    return out


@pytest.mark.parametrize(
    "event",
    [Resync("test", ()), Unsynced("test"), Networks("test", (Network("n", ("10.0.0.0/8",)),))],
)
def test_other_events_drop_everything(event: Event) -> None:
    first, second = snapshots(Upsert(endpoint("a", "10.0.0.1")))
    assert change_of(first, second, Upsert(endpoint("a", "10.0.0.1")), SETTINGS) is not None
    third = second.apply(event, 100)
    assert change_of(second, third, event, SETTINGS) is None
    assert change_of(first, third, Upsert(endpoint("a")), SETTINGS) is None  # a version skipped


def test_a_change_names_the_old_and_new_forms_and_owners() -> None:
    old, new = endpoint("a", "10.0.0.1"), endpoint("a", "10.0.0.2", keys=("b",))
    _, second, third = snapshots(Upsert(old), Upsert(new))
    change = change_of(second, third, Upsert(new), SETTINGS)
    assert change is not None and not change.serial
    assert {wire("a.docker."), wire("b.docker."), wire("1.0.0.10.in-addr.arpa."),
            wire("2.0.0.10.in-addr.arpa.")} <= change.names  # fmt: skip
    assert change.clients == {"10.0.0.1", "10.0.0.2"}
    later = third.apply(Remove("test", "a"), 101)
    removed = change_of(third, later, Remove("test", "a"), SETTINGS)
    assert removed is not None and removed.serial and wire("b.docker.") in removed.names


def test_the_index_stays_as_large_as_the_cache() -> None:
    index: EntryIndex[dict[bytes, int]] = EntryIndex()
    table: dict[bytes, int] = {}
    keys = [b"\x00" * 10 + b"\x01a" * 100 + bytes([0, 0, i, 0, 1]) for i in range(5)]
    for key in keys:
        index.add(table, key, serial=True)
        index.add(table, key, serial=True)
    assert len(index) == 5
    for key in keys[:3]:
        index.discard(table, key)
    assert len(index) == 2


# -- the property: per-name invalidation answers exactly like dropping everything ----------

CLIENTS = ("192.0.2.200", "10.1.0.1", "10.2.0.2")
IPS = ("10.1.0.1", "10.1.0.2", "10.2.0.2", "fd00::1")
KEYS = ("a", "b", "a.x", "b.x", "api.internal.")
QUESTIONS = [
    *((f"{n}.docker.", t) for n in ("a", "b", "x", "a.x", "a.n2", "nope") for t in ("A", "AAAA")),
    ("a.docker.", "TXT"), ("_http._tcp.a.docker.", "SRV"), ("_http._tcp.a.x.docker.", "SRV"),
    ("_tcp.a.docker.", "A"), ("a.", "A"), ("_http._tcp.b.", "SRV"), ("api.internal.", "A"),
    ("docker.", "SOA"), ("1.0.1.10.in-addr.arpa.", "PTR"), ("2.0.2.10.in-addr.arpa.", "PTR"),
    ("1.10.in-addr.arpa.", "PTR"), ("2.10.in-addr.arpa.", "A"),
    ("1." + "0." * 29 + "d.f.ip6.arpa.", "PTR"),
]  # fmt: skip
FRONT_BACK = Networks("docker", (Network("front", ("10.1.0.0/16",), ("10.1.0.254",)),
                                 Network("back", ("10.2.0.0/16",), ("10.2.0.254",))))  # fmt: skip


@st.composite
def upserts(draw: st.DrawFn) -> Upsert:
    source = draw(st.sampled_from(("test", "cluster:n2")))
    id_ = draw(st.sampled_from(("e0", "e1", "e2")))
    name = draw(st.sampled_from(KEYS))
    keys = [name, *draw(st.lists(st.sampled_from(KEYS), max_size=2))]
    claims = [NameClaim(k, Origin.STATIC) for k in dict.fromkeys(keys)]
    if source != "test" and not name.endswith("."):
        claims.append(NameClaim(f"{name}.n2", Origin.NODE))
    ips = draw(st.lists(st.sampled_from(IPS), max_size=2, unique=True))
    network = draw(st.sampled_from(("", "front", "back")))
    addresses = tuple(Address(ip, network) for ip in ips)
    ports = HTTP if draw(st.booleans()) else ()
    paused = draw(st.booleans())
    return Upsert(Endpoint(source, id_, name, tuple(claims), addresses, ports, paused=paused))


events = st.one_of(
    upserts(),
    st.builds(Remove, st.sampled_from(("test", "cluster:n2")), st.sampled_from(("e0", "e1"))),
)


def normal(reply: bytes) -> tuple[object, ...]:
    """A reply up to round-robin order: rcode, flags and each section's records, sorted."""
    message = dns.message.from_wire(reply)
    sections = [sorted(f"{r.name} {r.ttl} {r.rdtype} {rd.to_text()}" for r in s for rd in r)
                for s in (message.answer, message.authority, message.additional)]  # fmt: skip
    return (message.rcode(), message.flags, *map(tuple, sections))


def fresh(store: Store, data: bytes, client: str) -> bytes:
    view = client_view(store.snapshot, client)
    decision = decide(Request(data, client, udp=True, view=view), store.snapshot, SETTINGS, 0)
    assert isinstance(decision, Reply)
    return decision.data


def served(fast: FastPath[Decision], data: bytes, client: str) -> bytes:
    result = fast.udp(data, client)
    return result.data if isinstance(result, Reply) else result  # type: ignore[return-value]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(events, st.integers(0, 1)), min_size=1, max_size=6))
def test_cached_answers_equal_fresh_ones_after_any_changes(steps: list[tuple[Event, int]]) -> None:
    clock = [1000.0]
    store = Store(clock=lambda: clock[0])
    store.apply(FRONT_BACK)
    fast: FastPath[Decision] = FastPath(store, SETTINGS, Counter(), keep)
    packets = [query(name, rdtype) for name, rdtype in QUESTIONS]
    for event, seconds in [(None, 0), *steps]:
        clock[0] += seconds
        if event is not None:
            store.apply(event)
        for data in packets:
            for client in CLIENTS:
                expected = normal(fresh(store, data, client))
                assert normal(served(fast, data, client)) == expected  # a fill or a stale hit
                assert normal(served(fast, data, client)) == expected  # a hit
    assert fast.entries > 0
