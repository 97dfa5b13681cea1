"""Fast-path hits answered inside the C extension (dnsd/serve/_hits.c via batch.py), checked
against the Python path on real sockets: the same bursts to a C-hit server and a
`--udp-batch 0` server on one store must give byte-identical replies per client (IDs, name
case, round-robin order, views, ACL), the same metrics, and the C server must have served
most of them itself. Send failures: test_hits_sending.py; fuzz: test_hits_fuzz.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator

import dns.message
import dns.rcode
import pytest

from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from dnsd.ops.prometheus import render_metrics
from dnsd.serve.batch import BatchedDatagramTransport, binding
from dnsd.serve.entries import metric_key
from dnsd.serve.listeners import DnsServer
from registry import Resync, Store, Upsert
from tests.dnsd.core_support import answer_texts, crowd, endpoint, sample_endpoints
from tests.dnsd.forward.stub_upstream import StubUpstream
from tests.dnsd.serve.hits_support import (
    HOST,
    SENTINEL,
    SENTINEL_ID,
    Clock,
    Pair,
    client_socket,
    make_query,
    pair,
    read_until,
)
from tests.serve_process import ipv6_loopback

FACTORY = binding()
pytestmark = pytest.mark.skipif(FACTORY is None, reason="recvmmsg extension not built")
CLIENTS = {"a": "127.0.0.1", "b": "127.0.0.1", "outside": "127.0.0.2", "inside": "127.0.0.3"}
TOO_SHORT = b"\x00\x03\x01"
TWO_QUESTIONS = bytes.fromhex("00070000000200000000000000")  # FORMERR
POINTER = bytes.fromhex("0008 0100 0001 0000 0000 0000 c00c 0001 0001")  # compressed: FORMERR
RESPONSE = bytes.fromhex("0009 8100 0001 0000 0000 0000") + make_query("web.docker.", 9)[12:]


def store_with_views() -> Store:
    store = Store()
    store.apply(
        Resync(
            "test",
            (
                *sample_endpoints(),
                *crowd(5),
                endpoint("svc-a", "10.1.0.5", keys=("svc",), network="front"),
                endpoint("svc-b", "10.2.0.5", keys=("svc",), network="back"),
                endpoint("inside", "127.0.0.3", network="front"),
            ),
        )
    )
    return store


def local_burst(round_: int) -> list[tuple[str, bytes]]:
    """Hits, misses (a name new this round, then asked again), NXDOMAIN, malformed and view
    queries from four clients, interleaved."""
    new = ["db.docker.", "v6only.docker.", "web-2.docker."][round_ % 3]
    base = 100 * round_
    return [
        ("a", make_query("web.docker.", base + 1)),
        ("b", make_query("WEB.docker.", base + 2)),
        ("a", make_query(new, base + 3, "AAAA" if round_ >= 3 else "A")),
        ("a", TOO_SHORT),
        ("a", make_query("many.docker.", base + 4)),
        ("b", make_query("nope.docker.", base + 5)),
        ("a", make_query("MaNy.docker.", base + 6)),
        ("inside", make_query("svc.docker.", base + 7)),
        ("a", make_query("svc.docker.", base + 8)),
        ("b", TWO_QUESTIONS),
        ("a", make_query(new.upper(), base + 9)),
        ("b", POINTER),
        ("a", RESPONSE),
        ("outside", make_query("Svc.Docker.", base + 10)),
        ("a", make_query("web.docker.", base + 11)),
        ("a", make_query("many.docker.", base + 12, "SRV")),
    ]


def ids(replies: list[bytes]) -> list[int]:
    return [int.from_bytes(r[:2], "big") for r in replies]


def counters(metrics: Metrics) -> list[str]:
    """The /metrics lines of the query and cache-hit counters."""
    wanted = ("dnsd_queries_total{", "dnsd_cache_hits_total ", "dnsd_dropped")
    return [line for line in render_metrics(metrics) if line.startswith(wanted)]


def assert_same_as_python(p: Pair) -> None:
    assert p.c.replies == p.python.replies
    assert counters(p.c.metrics) == counters(p.python.metrics)
    assert p.c.metrics.queries == p.python.metrics.queries


def served(replies: dict[str, list[bytes]]) -> Counter[tuple[str, str, str]]:
    """(qtype, rcode, "local") of every reply the clients got: what the counter must say."""
    counted: Counter[tuple[str, str, str]] = Counter()
    for reply in (r for rs in replies.values() for r in rs):
        qtype = int.from_bytes(reply[reply.index(0, 12) + 1 :][:2], "big") if reply[5] else 0
        counted[metric_key(qtype, reply[3] & 0x0F, "local")] += 1
    return counted


async def test_bursts_of_hits_and_misses_match_the_python_path_byte_for_byte() -> None:
    async with pair(store_with_views(), CLIENTS) as p:
        for round_ in range(6):
            await p.burst(local_burst(round_))
        assert_same_as_python(p)
        hits_in_c = p.c.served_in_c
        assert p.c.metrics.queries == served(p.c.replies)  # exactly what was sent, hits too
    replies = p.c.replies
    # every client's immediate replies come in the order it asked, each with its own ID
    asked = [[100 * r + i for i in (1, 3, 4, 6, 8, 9, 11, 12)] + [SENTINEL_ID] for r in range(6)]
    assert ids(replies["a"]) == [qid for round_ in asked for qid in round_]
    by_id = {int.from_bytes(r[:2], "big"): dns.message.from_wire(r) for r in replies["b"]}
    assert by_id[502].question[0].name.to_text() == "WEB.docker."  # the query's own case
    assert by_id[505].rcode() == dns.rcode.NXDOMAIN
    assert by_id[7].rcode() == dns.rcode.FORMERR
    inside = [dns.message.from_wire(r) for r in replies["inside"] if r[:2] != SENTINEL[:2]]
    outside = [dns.message.from_wire(r) for r in replies["outside"] if r[:2] != SENTINEL[:2]]
    assert {tuple(answer_texts(m)) for m in inside} == {("10.1.0.5",)}  # its view only
    assert {tuple(sorted(answer_texts(m))) for m in outside} == {("10.1.0.5", "10.2.0.5")}
    many = [
        dns.message.from_wire(r)
        for r in replies["a"]
        if int.from_bytes(r[:2], "big") % 100 in (4, 6)
    ]
    assert len({answer_texts(m)[0] for m in many}) == 5  # the 5-address name: every leader
    assert hits_in_c >= 4 * 12  # from the second round on, most queries are C hits


async def test_a_registry_change_shows_on_the_very_next_burst() -> None:
    store = store_with_views()
    async with pair(store, CLIENTS) as p:
        await p.burst(local_burst(0))
        await p.burst(local_burst(1))
        store.apply(Upsert(endpoint("web-1", "10.0.0.99", keys=("web",))))
        before = [len(side.replies["a"]) for side in p.sides]
        await p.burst([("a", make_query("web-1.docker.", 777))])
        assert_same_as_python(p)
        for side, seen in zip(p.sides, before, strict=True):
            fresh = [dns.message.from_wire(r) for r in side.replies["a"][seen:]]
            assert answer_texts(fresh[0]) == ["10.0.0.99"]
            assert answer_texts(fresh[1]) == ["10.0.0.99"]  # the sentinel is web-1 too


@pytest.fixture
async def stub() -> AsyncIterator[StubUpstream]:
    upstream = StubUpstream().add("fwd.example. 60 IN A 192.0.2.7")
    for i in range(4):
        upstream.add(f"new-{i}.example. 60 IN A 192.0.2.{20 + i}")
    await upstream.start()
    yield upstream
    await upstream.close()


async def test_forwarded_local_and_malformed_in_one_burst_and_the_acl_per_client(
    stub: StubUpstream,
) -> None:
    clock = Clock()
    async with pair(store_with_views(), CLIENTS, upstream=stub.address, clock=clock) as p:
        await p.burst([("a", make_query("fwd.example.", 899))], upstream_ids=[899])
        upstream_ids: list[int] = [899]
        for round_ in range(4):
            fresh = 1000 + round_  # a name only upstream knows: answered later, in a task
            upstream_ids.append(fresh)
            burst = [
                ("a", make_query("fwd.example.", 900 + round_)),
                *local_burst(round_),
                ("a", make_query(f"new-{round_}.example.", fresh)),
                ("outside", make_query("fwd.example.", 950 + round_)),  # outside the ACL
                ("b", make_query("FWD.example.", 960 + round_)),
            ]
            await p.burst(burst, upstream_ids=[fresh])
            if round_ == 2:
                clock.now += 2.5  # the kept forwarded hit is out of date: the chain renews it
        for side in p.sides:  # upstream answers may come before or after the sentinel
            late = [r for r in side.replies["a"] if int.from_bytes(r[:2], "big") in upstream_ids]
            assert [answer_texts(dns.message.from_wire(r)) for r in late] == [
                ["192.0.2.7"],
                *([f"192.0.2.{20 + i}"] for i in range(4)),
            ]
            side.replies["a"] = [r for r in side.replies["a"] if r not in late]
        assert_same_as_python(p)
        assert p.c.served_in_c > 0
    refused = [dns.message.from_wire(r) for r in p.c.replies["outside"] if r[:2] != SENTINEL[:2]]
    assert {m.rcode() for m in refused if 950 <= m.id < 960} == {dns.rcode.REFUSED}
    b_replies = [dns.message.from_wire(r) for r in p.c.replies["b"]]
    fwd = [m for m in b_replies if 960 <= m.id < 1000]
    assert [m.question[0].name.to_text() for m in fwd] == ["FWD.example."] * 4
    assert [m.answer[0].ttl for m in fwd] == [60, 60, 60, 58]
    assert p.c.metrics.queries[("A", "NOERROR", "cache")] == 8
    assert p.c.metrics.queries[("A", "NOERROR", "upstream")] == 5
    assert stub.count("fwd.example.") == 2  # once per server


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_clients_get_c_hits() -> None:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    server = DnsServer(Config(), store, Metrics())
    await server.start([("::1", 0)])
    loop = asyncio.get_running_loop()
    try:
        port = server.bound[0][1]
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
            sock.setblocking(False)
            for qid in range(1, 5):  # one at a time: the first fills the table
                sock.sendto(make_query("Web-2.docker.", qid, "AAAA"), ("::1", port))
                reply = dns.message.from_wire(await asyncio.wait_for(loop.sock_recv(sock, 4096), 5))
                assert (reply.id, answer_texts(reply)) == (qid, ["fd00::2"])
                assert reply.question[0].name.to_text() == "Web-2.docker."
        transports = server.udp_transports
        assert [t.served for t in transports if isinstance(t, BatchedDatagramTransport)] == [3]
    finally:
        await server.close()


async def test_a_key_deleted_from_its_table_is_a_miss_in_c_on_the_next_datagram() -> None:
    """The contract per-name invalidation relies on: C reads the fast path's own dicts."""
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    server = DnsServer(Config(), store, Metrics())
    await server.start([(HOST, 0)])
    sock = client_socket(HOST)
    try:
        port = server.bound[0][1]
        got: list[bytes] = []
        for _ in range(2):  # the first fills the table, the second is a C hit
            sock.sendto(SENTINEL, (HOST, port))
            await read_until(sock, got, ())
        [transport] = server.udp_transports
        assert isinstance(transport, BatchedDatagramTransport) and transport.served == 1
        assert server.pipeline is not None
        table = server.pipeline.fast.hit_tables()[0][HOST]
        del table[SENTINEL[2:].lower()]  # the key: the query without its ID, name lower-cased
        for _ in range(2):  # a miss (Python fills the key again), then a C hit again
            sock.sendto(SENTINEL, (HOST, port))
            await read_until(sock, got, ())
        assert transport.served == 2 and ids(got) == [SENTINEL_ID] * 4
    finally:
        sock.close()
        await server.close()
