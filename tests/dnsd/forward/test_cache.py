"""The forwarding cache with a fake clock: TTLs count down, expiry, negative TTLs, stale, LRU."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from dnsd.forward.cache import STALE_TTL, ReplyCache
from dnsd.forward.message import CacheKey, analyze_reply

KEY: CacheKey = (b"\x03www\x07example\x00", QTYPE.A, 1, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def positive(ttl: int = 60) -> bytes:
    reply = DNSRecord.question("www.example.").reply()
    reply.add_answer(RR("www.example.", QTYPE.A, rdata=A("192.0.2.1"), ttl=ttl))
    return bytes(reply.pack())


def nxdomain(soa_ttl: int, minimum: int) -> bytes:
    reply = DNSRecord.question("nope.example.").reply()
    reply.header.rcode = RCODE.NXDOMAIN
    times = (1, 3600, 600, 86400, minimum)
    reply.add_auth(RR("example.", QTYPE.SOA, rdata=SOA("ns.", "h.", times), ttl=soa_ttl))
    return bytes(reply.pack())


def ttls(reply: bytes | None) -> list[int]:
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    return [rr.ttl for rr in parsed.rr + parsed.auth]


def store(cache: ReplyCache, reply: bytes, key: CacheKey = KEY) -> bool:
    return cache.put(key, reply, analyze_reply(reply))


def test_ttls_count_down_and_the_entry_expires() -> None:
    clock = Clock()
    cache = ReplyCache(10, 3600, clock=clock)
    assert store(cache, positive(60))
    assert ttls(cache.fresh(KEY)) == [60]
    clock.now += 25.5
    assert ttls(cache.fresh(KEY)) == [35]
    clock.now += 35
    assert cache.fresh(KEY) is None
    assert len(cache) == 0  # expired without serve-stale: dropped


def test_ttls_are_capped() -> None:
    cache = ReplyCache(10, 30, clock=Clock())
    store(cache, positive(3600))
    assert ttls(cache.fresh(KEY)) == [30]


def test_negative_answers_live_for_the_smaller_soa_ttl_and_minimum() -> None:
    clock = Clock()
    cache = ReplyCache(10, 3600, clock=clock)
    assert store(cache, nxdomain(soa_ttl=300, minimum=20))
    clock.now += 19
    assert cache.fresh(KEY) is not None
    clock.now += 1
    assert cache.fresh(KEY) is None


def test_errors_and_truncated_replies_are_not_cached() -> None:
    cache = ReplyCache(10, 3600, clock=Clock())
    servfail = DNSRecord.question("www.example.").reply()
    servfail.header.rcode = RCODE.SERVFAIL
    truncated = DNSRecord.parse(positive())
    truncated.header.tc = 1
    assert not store(cache, bytes(servfail.pack()))
    assert not store(cache, bytes(truncated.pack()))
    assert cache.fresh(KEY) is None


def test_stale_entries_are_served_only_with_serve_stale() -> None:
    clock = Clock()
    stale = ReplyCache(10, 3600, serve_stale=True, clock=clock)
    strict = ReplyCache(10, 3600, clock=clock)
    for cache in (stale, strict):
        store(cache, positive(60))
    clock.now += 600
    assert stale.fresh(KEY) is None and ttls(stale.stale(KEY)) == [STALE_TTL]
    assert strict.stale(KEY) is None


def test_least_recently_used_goes_first_and_size_zero_disables() -> None:
    cache = ReplyCache(2, 3600, clock=Clock())
    keys = [(b"\x01" + bytes([97 + i]) + b"\x00", QTYPE.A, 1, 0) for i in range(3)]
    store(cache, positive(), keys[0])
    store(cache, positive(), keys[1])
    assert cache.fresh(keys[0]) is not None  # keys[1] is now the least recently used
    store(cache, positive(), keys[2])
    assert cache.fresh(keys[1]) is None and cache.fresh(keys[0]) is not None
    off = ReplyCache(0, 3600, clock=Clock())
    assert not store(off, positive()) and off.fresh(KEY) is None and len(off) == 0
