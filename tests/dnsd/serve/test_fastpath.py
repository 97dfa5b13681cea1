"""The hot path: cached replies equal the full path's, change on the next snapshot, stay bounded."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import dns.edns
import dns.flags
import dns.message
import pytest

from dnsd.core.request import Request
from dnsd.core.wire import Decision, Forward, Reply, decide
from dnsd.core.zone import ZoneSettings
from dnsd.serve import fastpath
from dnsd.serve.fastpath import FastPath, keep
from registry import Network, Networks, Port, Remove, Resync, Store, Upsert
from tests.dnsd.core_support import (
    SETTINGS,
    answer_texts,
    crowd,
    endpoint,
    parse,
    query,
    rcode_name,
    sample_endpoints,
)

CLIENT = "192.0.2.200"


def make(
    settings: ZoneSettings = SETTINGS, **limits: Any
) -> tuple[FastPath[Decision], Store, Counter]:  # type: ignore[type-arg]
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    counter: Counter[tuple[str, str, str]] = Counter()
    return FastPath(store, settings, counter, keep, **limits), store, counter


def reply_bytes(result: object) -> bytes:
    if isinstance(result, Reply):
        return result.data
    assert isinstance(result, bytes), result
    return result


def test_second_query_is_a_hit_with_the_same_answer_and_its_own_id() -> None:
    fast, _, counter = make()
    first = fast.udp(query("web-1.docker.", qid=1), CLIENT)
    second = fast.udp(query("web-1.docker.", qid=2), CLIENT)
    assert isinstance(first, Reply) and isinstance(second, bytes)
    assert parse(second).id == 2
    assert second[2:] == first.data[2:]
    assert counter[("A", "NOERROR", "local")] == 1  # hits are counted here; misses by the shell


def test_case_variants_share_one_entry_and_keep_their_own_case() -> None:
    fast, _, _ = make()
    fast.udp(query("web-1.docker."), CLIENT)
    hit = fast.udp(query("WeB-1.DoCKer."), CLIENT)
    assert isinstance(hit, bytes)
    message = parse(hit)
    assert message.question[0].name.to_text() == "WeB-1.DoCKer."
    assert answer_texts(message) == ["10.0.0.1"]
    assert fast.entries == 1


def test_consecutive_queries_lead_with_different_addresses() -> None:
    fast, store, _ = make()
    store.apply(Resync("test", crowd(5)))
    leaders = [answer_texts(parse(reply_bytes(fast.udp(query("many.docker."), CLIENT))))[0]
               for _ in range(10)]  # fmt: skip
    assert all(a != b for a, b in itertools.pairwise(leaders))
    assert len(set(leaders)) == 5
    assert all(len(answer_texts(parse(reply_bytes(fast.udp(query("many.docker."), CLIENT)))))
               == 5 for _ in range(3))  # fmt: skip


def test_a_registry_change_shows_on_the_very_next_query() -> None:
    fast, store, _ = make()
    for _ in range(2):
        fast.udp(query("web-1.docker."), CLIENT)
    store.apply(Upsert(endpoint("web-1", "10.0.0.77", keys=("web",))))
    assert answer_texts(parse(reply_bytes(fast.udp(query("web-1.docker."), CLIENT)))) == [
        "10.0.0.77"
    ]
    store.apply(Remove("test", "web-1"))
    gone = parse(reply_bytes(fast.udp(query("web-1.docker."), CLIENT)))
    assert rcode_name(gone) == "NXDOMAIN"


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"),
    [("nope.docker.", "A", "NXDOMAIN"), ("web-1.docker.", "MX", "NOERROR")],
)
def test_negative_answers_take_the_fast_path(name: str, rdtype: str, rcode: str) -> None:
    fast, _, counter = make()
    fast.udp(query(name, rdtype), CLIENT)
    hit = fast.udp(query(name, rdtype), CLIENT)
    assert isinstance(hit, bytes)
    message = parse(hit)
    assert rcode_name(message) == rcode and not message.answer and message.authority
    assert sum(counter.values()) == 1


def test_edns_queries_are_cached_per_size_and_keep_the_opt() -> None:
    fast, store, _ = make()
    store.apply(Resync("test", crowd(40)))
    for _ in range(2):
        small = parse(reply_bytes(fast.udp(query("many.docker."), CLIENT)))
        large = parse(reply_bytes(fast.udp(query("many.docker.", edns=True), CLIENT)))
    assert small.flags & dns.flags.TC and small.edns == -1
    assert not large.flags & dns.flags.TC and large.edns == 0
    assert len(answer_texts(large)) == 40


def test_tcp_and_udp_are_cached_apart() -> None:
    fast, store, _ = make()
    store.apply(Resync("test", crowd(100)))
    for _ in range(2):
        udp = parse(reply_bytes(fast.udp(query("many.docker."), CLIENT)))
        tcp = parse(reply_bytes(fast.tcp(query("many.docker."), CLIENT)))
    assert udp.flags & dns.flags.TC
    assert len(answer_texts(tcp)) == 100


def test_queries_with_edns_options_are_answered_but_not_cached() -> None:
    fast, _, _ = make()
    message = dns.message.make_query("web-1.docker.", "A", use_edns=0)
    message.use_edns(
        0, options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"12345678")]
    )  # a client cookie
    for _ in range(2):
        assert isinstance(fast.udp(message.to_wire(), CLIENT), Reply)
    assert fast.entries == 0


def test_unusual_headers_use_the_full_path() -> None:
    fast, _, _ = make()
    message = dns.message.make_query("web-1.docker.", "A")
    message.flags |= dns.flags.AA  # a query with AA: odd, still answerable
    for _ in range(2):
        result = fast.udp(message.to_wire(), CLIENT)
        assert isinstance(result, Reply)
        assert answer_texts(parse(result.data)) == ["10.0.0.1"]


@pytest.mark.parametrize("packet", [b"", b"\x00" * 11, b"\x00\x01\x00\x00\x00\x01" + b"\x00" * 6])
def test_malformed_packets_fall_through_to_the_full_path(packet: bytes) -> None:
    fast, _, _ = make()
    assert not isinstance(fast.udp(packet, CLIENT), bytes)


def test_not_local_names_cache_the_forward_decision() -> None:
    fast, _, _ = make(dataclasses.replace(SETTINGS, recursion=True))
    first = fast.udp(query("example.com."), CLIENT)
    second = fast.udp(query("example.com."), CLIENT)
    assert isinstance(first, Forward) and second == first


def test_known_clients_see_their_own_view() -> None:
    fast, store, _ = make()
    store.apply(
        Resync(
            "test",
            (
                endpoint("svc-a", "10.1.0.5", keys=("svc",), network="front"),
                endpoint("svc-b", "10.2.0.5", keys=("svc",), network="back"),
                endpoint("client", "10.1.0.9", network="front"),
            ),
        )
    )
    for _ in range(2):
        inside = answer_texts(parse(reply_bytes(fast.udp(query("svc.docker."), "10.1.0.9"))))
        outside = answer_texts(parse(reply_bytes(fast.udp(query("svc.docker."), CLIENT))))
    assert inside == ["10.1.0.5"]
    assert sorted(outside) == ["10.1.0.5", "10.2.0.5"]


@pytest.mark.parametrize("order", ["outsider-first", "newcomer-first"])
def test_a_cached_reply_never_crosses_views(order: str) -> None:
    """A client not registered yet is scoped by its network's subnet, and cached replies
    for one view are never served to another (in either order of asking)."""
    fast, store, _ = make()
    store.apply(
        Networks(
            "docker",
            (
                Network("front", ("10.1.0.0/16",), ("10.1.0.1",)),
                Network("back", ("10.2.0.0/16",), ("10.2.0.1",)),
            ),
        )
    )
    store.apply(
        Resync(
            "test",
            (
                endpoint("svc-a", "10.1.0.5", keys=("svc",), network="front"),
                endpoint("svc-b", "10.2.0.5", keys=("svc",), network="back"),
            ),
        )
    )
    clients = {"outsider": CLIENT, "newcomer": "10.2.0.77", "other newcomer": "10.2.0.78"}
    expected = {
        "outsider": ["10.1.0.5", "10.2.0.5"],
        "newcomer": ["10.2.0.5"],
        "other newcomer": ["10.2.0.5"],
        "front gateway (the host)": ["10.1.0.5", "10.2.0.5"],
    }
    clients["front gateway (the host)"] = "10.1.0.1"
    names = list(clients) if order == "outsider-first" else list(reversed(clients))
    for _ in range(3):
        for who in names:
            reply = parse(reply_bytes(fast.udp(query("svc.docker."), clients[who])))
            assert sorted(answer_texts(reply)) == expected[who], who
    on_front = parse(reply_bytes(fast.udp(query("svc-b.docker."), "10.1.0.50")))
    assert rcode_name(on_front) == "NXDOMAIN"


def test_the_cache_stays_bounded() -> None:
    fast, _, _ = make(max_entries=10)
    for i in range(50):
        fast.udp(query(f"n{i}.docker."), CLIENT)
    assert fast.entries <= 10
    assert rcode_name(parse(reply_bytes(fast.udp(query("web-1.docker."), CLIENT)))) == "NOERROR"


def test_rotations_are_capped_but_spread() -> None:
    fast, store, _ = make(max_rotations=4)
    store.apply(Resync("test", crowd(20)))
    leaders = {answer_texts(parse(reply_bytes(fast.tcp(query("many.docker."), CLIENT))))[0]
               for _ in range(12)}  # fmt: skip
    assert len(leaders) == 4


def leaders_of(send: Callable[[bytes, str], object], packet: bytes, count: int) -> list[str]:
    return [answer_texts(parse(reply_bytes(send(packet, CLIENT))))[0] for _ in range(count)]


@pytest.mark.parametrize(
    ("count", "transport", "edns"),
    [(40, "udp", True), (100, "tcp", False), (100, "tcp", True)],
)
def test_every_address_leads_once_in_n_consecutive_queries(
    count: int, transport: str, edns: bool
) -> None:
    fast, store, _ = make()
    store.apply(Resync("test", crowd(count)))
    send = fast.udp if transport == "udp" else fast.tcp
    packet = query("many.docker.", edns=edns)
    everyone = {f"10.9.{i // 250}.{i % 250 + 1}" for i in range(count)}
    for _ in range(3):  # filling, then from bytes: the same guarantee every round
        leaders = leaders_of(send, packet, count)
        assert len(leaders) == count and set(leaders) == everyone
    assert all(isinstance(send(packet, CLIENT), bytes) for _ in range(count))


def test_srv_answers_rotate_through_every_target() -> None:
    fast, store, _ = make()
    ports = (Port(80, "tcp", "http"),)
    store.apply(Resync("test", tuple(endpoint(f"s-{i}", f"10.3.0.{i + 1}", keys=("s",),
                                              ports=ports) for i in range(6))))  # fmt: skip
    packet = query("_http._tcp.s.docker.", "SRV")
    for _ in range(2):
        targets = [str(parse(reply_bytes(fast.udp(packet, CLIENT))).answer[0][0].target)
                   for _ in range(6)]  # fmt: skip
        assert sorted(targets) == sorted(f"s-{i}.docker." for i in range(6))


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rotations the full path was asked to build, in order."""
    seen: list[int] = []

    def counting(request: Request, *args: Any) -> Decision:
        seen.append(args[-1])
        return decide(request, *args)

    monkeypatch.setattr(fastpath, "decide", counting)
    return seen


def test_the_first_query_after_a_change_builds_one_reply(builds: list[int]) -> None:
    fast, store, counter = make()
    store.apply(Resync("test", crowd(100)))
    packet = query("many.docker.")
    fast.tcp(packet, CLIENT)
    assert len(builds) == 1
    for _ in range(99):
        fast.tcp(packet, CLIENT)
    assert len(builds) == 100 and len({step % 100 for step in builds}) == 100
    for _ in range(100):
        fast.tcp(packet, CLIENT)
    assert len(builds) == 100  # every rotation now comes from bytes
    assert counter[("A", "NOERROR", "local")] == 100  # hits counted here, builds by the pipeline
    store.apply(Remove("test", "many-0"))
    fast.tcp(packet, CLIENT)
    assert len(builds) == 101


def test_a_truncated_reply_has_one_order_and_is_built_once(builds: list[int]) -> None:
    fast, store, _ = make()
    store.apply(Resync("test", crowd(100)))
    replies = [reply_bytes(fast.udp(query("many.docker."), CLIENT)) for _ in range(5)]
    assert all(parse(reply).flags & dns.flags.TC for reply in replies)
    assert len(builds) == 1


def test_a_full_byte_budget_still_rotates_without_storing(builds: list[int]) -> None:
    fast, store, _ = make(max_bytes=400)
    store.apply(Resync("test", crowd(8)))
    packet = query("many.docker.")
    leaders = leaders_of(fast.udp, packet, 16)
    assert leaders[:8] == leaders[8:] and len(set(leaders)) == 8
    assert 8 < len(builds) < 16  # the first slots fit, the rest are built each time
