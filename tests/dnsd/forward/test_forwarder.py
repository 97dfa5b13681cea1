"""Forwarder behaviour against stub upstreams on loopback (no real resolver is ever asked)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from dnsd.forward import Forwarder
from dnsd.ops.metrics import Metrics
from tests.dnsd.forward.stub_upstream import Behaviour, StubUpstream

ZONE = (
    "www.example.com. 300 IN A 192.0.2.10",
    "www.example.com. 300 IN AAAA 2001:db8::10",
    "example.com. 300 IN MX 10 mail.example.com.",
    'example.com. 300 IN TXT "v=spf1 -all"',
    "_sip._tcp.example.com. 300 IN SRV 10 60 5060 sip.example.com.",
    "short.example.com. 30 IN A 192.0.2.30",
)
FAST = {"timeout": 0.2, "deadline": 0.6}
CLIENT_TIMEOUT = 5.0  # what a stub resolver waits before giving up


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[..., Any]]:
    started: list[StubUpstream] = []

    async def make(behaviour: Behaviour | None = None, **kwargs: Any) -> StubUpstream:
        stub = StubUpstream(behaviour=behaviour or Behaviour(), **kwargs).add(*ZONE)
        started.append(await stub.start())
        return stub

    yield make
    for stub in started:
        await stub.close()


def forwarder(upstreams: Iterable[StubUpstream | tuple[str, int]], **kwargs: Any) -> Forwarder:
    addresses = [u.address if isinstance(u, StubUpstream) else u for u in upstreams]
    options: dict[str, Any] = {**FAST, **kwargs}
    metrics = options.pop("metrics", Metrics())
    return Forwarder(addresses, metrics, **options)


def query(name: str, qtype: str = "A", *, edns: bool = False, qid: int | None = None) -> bytes:
    q = DNSRecord.question(name, qtype)
    if edns:
        q.add_ar(EDNS0(udp_len=1232))
    if qid is not None:
        q.header.id = qid
    return bytes(q.pack())


async def ask(fwd: Forwarder, packet: bytes) -> DNSRecord:
    reply = await asyncio.wait_for(fwd.forward(packet, "127.0.0.1", False), CLIENT_TIMEOUT)
    assert reply is not None
    return DNSRecord.parse(reply)


def rdata(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


@pytest.mark.parametrize(
    ("name", "qtype", "expected"),
    [
        ("www.example.com", "A", ["192.0.2.10"]),
        ("www.example.com", "AAAA", ["2001:db8::10"]),
        ("example.com", "MX", ["10 mail.example.com."]),
        ("example.com", "TXT", ['"v=spf1 -all"']),
        ("_sip._tcp.example.com", "SRV", ["10 60 5060 sip.example.com."]),
    ],
)
async def test_answers_pass_through_with_the_client_id(
    stubs: Any, name: str, qtype: str, expected: list[str]
) -> None:
    fwd = forwarder([await stubs()])
    reply = await ask(fwd, query(name, qtype, qid=4242))
    assert reply.header.id == 4242
    assert reply.header.rcode == RCODE.NOERROR
    assert rdata(reply) == expected
    assert [QTYPE[rr.rtype] for rr in reply.rr] == [qtype]


async def test_nxdomain_passes_through_with_its_soa(stubs: Any) -> None:
    fwd = forwarder([await stubs()])
    reply = await ask(fwd, query("nope.example.com"))
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


async def test_question_keeps_the_clients_spelling(stubs: Any) -> None:
    fwd = forwarder([await stubs()])
    await ask(fwd, query("www.example.com"))
    reply = await ask(fwd, query("WWW.Example.COM"))  # served from cache
    assert str(reply.q.qname) == "WWW.Example.COM."
    assert rdata(reply) == ["192.0.2.10"]


async def test_edns_reaches_only_clients_that_used_it(stubs: Any) -> None:
    fwd = forwarder([await stubs()])
    with_edns = await ask(fwd, query("www.example.com", edns=True))
    without = await ask(fwd, query("www.example.com"))
    assert [QTYPE[r.rtype] for r in with_edns.ar] == ["OPT"]
    assert with_edns.ar[0].rclass == 4096  # the upstream's OPT, intact
    assert without.ar == []


async def test_truncated_udp_reply_is_retried_over_tcp(stubs: Any) -> None:
    stub = await stubs(Behaviour(truncate_udp=True))
    reply = await ask(forwarder([stub]), query("www.example.com"))
    assert not reply.header.tc
    assert rdata(reply) == ["192.0.2.10"]
    assert (stub.count(transport="udp"), stub.count(transport="tcp")) == (1, 1)


@pytest.mark.parametrize(
    "broken",
    [
        Behaviour(drop=True),
        Behaviour(rcode=RCODE.SERVFAIL),
        Behaviour(rcode=RCODE.REFUSED),
    ],
    ids=["timeout", "servfail", "refused"],
)
async def test_next_upstream_answers_when_the_first_fails(stubs: Any, broken: Behaviour) -> None:
    bad, good = await stubs(broken), await stubs()
    reply = await ask(forwarder([bad, good]), query("www.example.com"))
    assert reply.header.rcode == RCODE.NOERROR
    assert rdata(reply) == ["192.0.2.10"]
    assert bad.count() >= 1


async def test_closed_port_fails_over(stubs: Any) -> None:
    dead = await stubs()
    await dead.close()
    good = await stubs()
    reply = await ask(forwarder([dead.address, good]), query("www.example.com"))
    assert rdata(reply) == ["192.0.2.10"]


async def test_upstream_that_timed_out_is_asked_last_afterwards(stubs: Any) -> None:
    bad, good = await stubs(Behaviour(drop=True)), await stubs()
    fwd = forwarder([bad, good], cache_size=0)
    await ask(fwd, query("www.example.com"))
    asked_before = bad.count()
    reply = await ask(fwd, query("www.example.com", "AAAA"))
    assert rdata(reply) == ["2001:db8::10"]
    assert bad.count() == asked_before


async def test_servfail_before_the_client_gives_up_when_all_upstreams_are_dead(
    stubs: Any,
) -> None:
    dead = [await stubs(Behaviour(drop=True)), await stubs(Behaviour(drop=True))]
    metrics = Metrics()
    fwd = forwarder(dead, timeout=1.0, deadline=3.0, metrics=metrics)
    reply = await ask(fwd, query("www.example.com", qid=7))
    assert (reply.header.rcode, reply.header.id) == (RCODE.SERVFAIL, 7)
    assert metrics.upstream_errors[(f"127.0.0.1:{dead[0].port}", "timeout")] >= 1


async def test_all_upstreams_servfail_gives_servfail(stubs: Any) -> None:
    stubs_ = [await stubs(Behaviour(rcode=RCODE.SERVFAIL)) for _ in range(2)]
    reply = await ask(forwarder(stubs_), query("www.example.com"))
    assert reply.header.rcode == RCODE.SERVFAIL
    assert [s.count() for s in stubs_] == [1, 1]  # not hammered until the deadline


async def test_second_query_is_answered_from_cache(stubs: Any) -> None:
    stub = await stubs()
    metrics = Metrics()
    fwd = forwarder([stub], metrics=metrics)
    await ask(fwd, query("www.example.com"))
    assert fwd.cached_reply(query("www.example.com", qid=99)) is not None
    second = await ask(fwd, query("www.example.com"))
    assert rdata(second) == ["192.0.2.10"]
    assert stub.count() == 1
    assert metrics.cache_hits == 1
    assert fwd.stats()["cache_entries"] == 1


async def test_cached_reply_carries_the_new_id_and_counts_ttl_down(stubs: Any) -> None:
    clock = FakeClock()
    fwd = forwarder([await stubs()], clock=clock)
    assert fwd.cached_reply(query("www.example.com")) is None
    await ask(fwd, query("www.example.com"))
    clock.now += 100.4
    cached = fwd.cached_reply(query("www.example.com", qid=321))
    assert cached is not None
    reply = DNSRecord.parse(cached)
    assert reply.header.id == 321
    assert [rr.ttl for rr in reply.rr] == [200]
    clock.now += 200
    assert fwd.cached_reply(query("www.example.com")) is None


async def test_repeated_hits_keep_each_clients_id_spelling_and_rd_and_tick_each_second(
    stubs: Any,
) -> None:
    clock = FakeClock()
    metrics = Metrics()
    fwd = forwarder([await stubs()], clock=clock, metrics=metrics)
    await ask(fwd, query("www.example.com"))
    no_rd = DNSRecord.question("WWW.Example.com")
    no_rd.header.rd, no_rd.header.id = 0, 7
    seen = []
    for step in (0.2, 0.3, 0.4, 0.2):  # 1000.2, 1000.5, 1000.9, 1001.1
        clock.now += step
        for qid, packet in ((11, query("www.example.com", qid=11)), (7, bytes(no_rd.pack()))):
            cached = fwd.cached_reply(packet)
            assert cached is not None
            reply = DNSRecord.parse(cached)
            assert reply.header.id == qid and rdata(reply) == ["192.0.2.10"]
            assert reply.header.rd == (1 if qid == 11 else 0)
            assert str(reply.q.qname) == ("www.example.com." if qid == 11 else "WWW.Example.com.")
            seen.append(reply.rr[0].ttl)
    assert seen == [300] * 6 + [299] * 2
    assert metrics.cache_hits == 8


async def test_answers_are_cached_no_longer_than_the_cap(stubs: Any) -> None:
    clock = FakeClock()
    fwd = forwarder([await stubs()], clock=clock, cache_max_ttl=60)
    first = await ask(fwd, query("www.example.com"))
    assert [rr.ttl for rr in first.rr] == [300]  # the first client sees the upstream's TTL
    clock.now += 61
    assert fwd.cached_reply(query("www.example.com")) is None


async def test_negative_answers_are_cached_for_the_soa_minimum(stubs: Any) -> None:
    clock = FakeClock()
    stub = await stubs(soa_ttl=600, soa_minimum=60)
    fwd = forwarder([stub], clock=clock)
    await ask(fwd, query("nope.example.com"))
    await ask(fwd, query("www.example.com", "SRV"))  # NODATA
    clock.now += 59
    nx = fwd.cached_reply(query("nope.example.com"))
    nodata = fwd.cached_reply(query("www.example.com", "SRV"))
    assert nx is not None and DNSRecord.parse(nx).header.rcode == RCODE.NXDOMAIN
    assert nodata is not None and DNSRecord.parse(nodata).header.rcode == RCODE.NOERROR
    clock.now += 2
    assert fwd.cached_reply(query("nope.example.com")) is None
    assert stub.count() == 2


async def test_servfail_is_not_cached(stubs: Any) -> None:
    stub = await stubs(Behaviour(rcode=RCODE.SERVFAIL))
    fwd = forwarder([stub])
    assert (await ask(fwd, query("www.example.com"))).header.rcode == RCODE.SERVFAIL
    stub.behaviour = Behaviour()
    assert rdata(await ask(fwd, query("www.example.com"))) == ["192.0.2.10"]


async def test_identical_queries_in_flight_go_upstream_once(stubs: Any) -> None:
    stub = await stubs(Behaviour(delay=0.3))
    fwd = forwarder([stub], timeout=2.0, deadline=3.0)
    replies = await asyncio.gather(
        *(ask(fwd, query("www.example.com", qid=1000 + n)) for n in range(50))
    )
    assert stub.count() == 1
    assert sorted(r.header.id for r in replies) == list(range(1000, 1050))
    assert all(rdata(r) == ["192.0.2.10"] for r in replies)


@pytest.mark.parametrize(
    "lie",
    [Behaviour(wrong_id_first=True), Behaviour(wrong_question_first=True)],
    ids=["wrong-id", "wrong-question"],
)
async def test_spoofed_replies_are_ignored(stubs: Any, lie: Behaviour) -> None:
    metrics = Metrics()
    stub = await stubs(lie)
    reply = await ask(forwarder([stub], metrics=metrics), query("www.example.com"))
    assert rdata(reply) == ["192.0.2.10"]
    assert metrics.upstream_errors[(f"127.0.0.1:{stub.port}", "spoofed")] == 1


async def test_serve_stale_answers_expired_entries_when_upstreams_fail(stubs: Any) -> None:
    clock = FakeClock()
    stub = await stubs()
    stale = forwarder([stub], clock=clock, serve_stale=True)
    strict = forwarder([stub], clock=clock)
    await ask(stale, query("www.example.com"))
    await ask(strict, query("www.example.com"))
    clock.now += 1000
    stub.behaviour = Behaviour(drop=True)
    reply = await ask(stale, query("www.example.com"))
    assert rdata(reply) == ["192.0.2.10"]
    assert [rr.ttl for rr in reply.rr] == [30]
    assert (await ask(strict, query("www.example.com"))).header.rcode == RCODE.SERVFAIL


async def test_no_upstream_means_refused() -> None:
    fwd = forwarder([])
    assert not fwd.allows("127.0.0.1")
    reply = await ask(fwd, query("www.example.com"))
    assert reply.header.rcode == RCODE.REFUSED


async def test_own_listen_addresses_are_never_upstreams(stubs: Any) -> None:
    stub = await stubs()
    fwd = forwarder([("127.0.0.1", 53), stub], own_addresses=[("0.0.0.0", 53)])
    assert fwd.upstreams == [stub.address]


async def test_cache_is_bounded_and_evicts_least_recently_used(stubs: Any) -> None:
    stub = await stubs()
    fwd = forwarder([stub], cache_size=2)
    for qtype in ("A", "AAAA"):
        await ask(fwd, query("www.example.com", qtype))
    assert fwd.cached_reply(query("www.example.com", "A")) is not None  # A is now recent
    await ask(fwd, query("example.com", "MX"))
    assert fwd.cached_reply(query("www.example.com", "AAAA")) is None
    assert fwd.cached_reply(query("www.example.com", "A")) is not None
    assert fwd.stats()["cache_entries"] == 2


async def test_unreachable_upstream_is_not_hammered_until_the_deadline(stubs: Any) -> None:
    dead = await stubs()
    await dead.close()
    metrics = Metrics()
    reply = await ask(forwarder([dead.address], metrics=metrics), query("www.example.com"))
    assert reply.header.rcode == RCODE.SERVFAIL
    assert metrics.upstream_errors[(f"127.0.0.1:{dead.port}", "network")] == 1


@pytest.mark.parametrize("qtype", ["HTTPS", "SVCB", 67, 0x4A, 90])
async def test_types_with_a_letter_byte_are_forwarded(stubs: Any, qtype: str | int) -> None:
    """Issue 9, item 1: HTTPS (65) and types 67-90 used to be discarded as 'spoofed'."""
    stub = await stubs()
    metrics = Metrics()
    fwd = forwarder([stub], metrics=metrics)
    packet = query("www.example.com")
    number = qtype if isinstance(qtype, int) else getattr(QTYPE, qtype)
    packet = packet[:-4] + number.to_bytes(2, "big") + b"\x00\x01"
    reply = await ask(fwd, packet)
    assert reply.header.rcode == RCODE.NOERROR  # NODATA from the stub, not SERVFAIL
    assert reply.q.qtype == number
    assert not [kind for (_, kind) in metrics.upstream_errors if kind == "spoofed"]
    assert fwd.stats()["upstreams_healthy"] == 1


async def test_negative_answers_without_an_soa_are_cached_for_the_negative_ttl(
    stubs: Any,
) -> None:
    """systemd-resolved answers single labels NXDOMAIN with no SOA: cache it briefly anyway."""
    clock = FakeClock()
    stub = await stubs(Behaviour(negative_soa=False))
    fwd = forwarder([stub], clock=clock, negative_ttl=5)
    first = await ask(fwd, query("nosuch"))
    assert first.header.rcode == RCODE.NXDOMAIN and not first.auth
    clock.now += 4
    again = fwd.cached_reply(query("nosuch"))
    assert again is not None and DNSRecord.parse(again).header.rcode == RCODE.NXDOMAIN
    clock.now += 2
    assert fwd.cached_reply(query("nosuch")) is None
    assert stub.count() == 1
    plain = forwarder([stub], clock=clock)  # no negative TTL given: not cached (RFC 2308)
    await ask(plain, query("nosuch"))
    assert plain.cached_reply(query("nosuch")) is None
