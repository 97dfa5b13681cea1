"""The sans-IO wire helpers: tables of messages built with dnslib, no sockets."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, A, DNSRecord

from dnsd.forward.message import (
    analyze_reply,
    cache_ttl,
    error_reply,
    for_client,
    mixed_case,
    parse_query,
    reply_matches,
    upstream_query,
)


def q(name: str = "www.example.com", qtype: str = "A", **edns: int | str) -> bytes:
    record = DNSRecord.question(name, qtype)
    if edns:
        record.add_ar(EDNS0(**edns))
    return bytes(record.pack())


def reply_to(query: bytes, rcode: int = RCODE.NOERROR, tc: bool = False) -> DNSRecord:
    record = DNSRecord.parse(query).reply()
    record.header.rcode = rcode
    record.header.tc = int(tc)
    return record


def soa(ttl: int, minimum: int) -> RR:
    rdata = SOA("ns.example.com.", "h.example.com.", (1, 2, 3, 4, minimum))
    return RR("example.com.", QTYPE.SOA, ttl=ttl, rdata=rdata)


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (q(), ("www.example.com", QTYPE.A, False, False)),
        (q("X.Org", "MX"), ("X.Org", QTYPE.MX, False, False)),
        (q(udp_len=1232), ("www.example.com", QTYPE.A, True, False)),
        (q(udp_len=1232, flags="do"), ("www.example.com", QTYPE.A, True, True)),
    ],
)
def test_parse_query_reads_question_and_edns(packet: bytes, expected: tuple[object, ...]) -> None:
    question = parse_query(packet)
    assert question is not None
    name = str(DNSRecord.parse(packet).q.qname).rstrip(".")
    got = (name, question.qtype, question.edns, question.dnssec_ok)
    assert got == expected


@pytest.mark.parametrize("packet", [b"", b"\x00" * 11, q()[:-3], q()[:12] + b"\xc0\x0c\x00\x01"])
def test_parse_query_rejects_malformed(packet: bytes) -> None:
    assert parse_query(packet) is None


def test_key_ignores_case_but_not_edns() -> None:
    lower, upper, edns = (
        parse_query(q()),
        parse_query(q("WWW.EXAMPLE.COM")),
        parse_query(q(udp_len=512)),
    )
    assert lower is not None and upper is not None and edns is not None
    assert lower.key == upper.key != edns.key


def one_answer(ttl: int) -> DNSRecord:
    record = reply_to(q())
    record.add_answer(RR("www.example.com.", QTYPE.A, ttl=ttl, rdata=A("192.0.2.1")))
    return record


def with_auth(record: DNSRecord, rr: RR) -> DNSRecord:
    record.add_auth(rr)
    return record


@pytest.mark.parametrize(
    ("record", "ttl"),
    [
        (one_answer(300), 300),
        (one_answer(9000), 3600),  # capped
        (one_answer(0), 0),
        (with_auth(reply_to(q(), RCODE.NXDOMAIN), soa(600, 60)), 60),
        (with_auth(reply_to(q(), RCODE.NXDOMAIN), soa(20, 60)), 20),
        (with_auth(reply_to(q()), soa(600, 45)), 45),  # NODATA
        (reply_to(q(), RCODE.NXDOMAIN), 0),  # no SOA: not cached
        (reply_to(q(), RCODE.SERVFAIL), 0),
        (reply_to(q(), RCODE.REFUSED), 0),
        (reply_to(q(), tc=True), 0),
    ],
)
def test_cache_ttl(record: DNSRecord, ttl: int) -> None:
    assert cache_ttl(analyze_reply(bytes(record.pack())), 3600) == ttl


def test_opt_record_ttl_field_is_not_a_ttl() -> None:
    record = one_answer(300)
    record.add_ar(EDNS0(udp_len=4096, flags="do"))
    facts = analyze_reply(bytes(record.pack()))
    assert facts.ttls == (300,)


def test_reply_must_answer_our_id_and_question() -> None:
    question = parse_query(q())
    assert question is not None
    packet = upstream_query(question, 777, mixed_case(question.name))
    good = DNSRecord.parse(packet).reply()
    wrong_name = DNSRecord.question("evil.example.com").reply()
    wrong_name.header.id = 777
    query_itself = DNSRecord.parse(packet)
    assert reply_matches(bytes(good.pack()), 777, question)
    assert not reply_matches(bytes(good.pack()), 778, question)
    assert not reply_matches(bytes(wrong_name.pack()), 777, question)
    assert not reply_matches(bytes(query_itself.pack()), 777, question)  # QR clear


def test_for_client_restores_id_rd_and_spelling() -> None:
    client = DNSRecord.question("WwW.Example.com")
    client.header.id, client.header.rd = 4321, 0
    question = parse_query(bytes(client.pack()))
    assert question is not None
    upstream = one_answer(300)
    out = DNSRecord.parse(for_client(bytes(upstream.pack()), bytes(client.pack()), question))
    assert (out.header.id, out.header.rd) == (4321, 0)
    assert str(out.q.qname) == "WwW.Example.com."
    assert [str(r.rdata) for r in out.rr] == ["192.0.2.1"]


@pytest.mark.parametrize("rcode", [RCODE.SERVFAIL, RCODE.REFUSED])
def test_error_reply_echoes_question_and_edns(rcode: int) -> None:
    packet = q(udp_len=1232)
    question = parse_query(packet)
    assert question is not None
    out = DNSRecord.parse(error_reply(packet, question, rcode, recursion=True))
    assert out.header.rcode == rcode and out.header.qr == 1
    assert out.header.id == DNSRecord.parse(packet).header.id
    assert [QTYPE[r.rtype] for r in out.ar] == ["OPT"]


@pytest.mark.parametrize(
    ("name", "changes"),
    [(b"\x03www\x07example\x03com\x00", True), (b"\x011\x012\x00", False), (b"\x00", False)],
)
def test_mixed_case_only_changes_case(name: bytes, changes: bool) -> None:
    spelled = mixed_case(name)
    assert spelled.lower() == name.lower()
    assert (spelled not in (name.lower(), name.upper())) is changes


# Issue 9, item 1: a qtype or qclass byte in 0x41-0x5A ('A'-'Z') must not be case-folded.
@pytest.mark.parametrize(
    ("asked", "answered", "matches"),
    [
        (("www.example.com", 65), ("WWW.EXAMPLE.COM", 65), True),  # HTTPS: 0x0041
        (("www.example.com", 64), ("www.example.com", 64), True),  # SVCB
        (("a.example", 0x4A), ("A.Example", 0x4A), True),
        (("a.example", 90), ("a.example", 90), True),
        (("a.example", 0x4142), ("a.example", 0x4142), True),  # both bytes in A-Z
        (("a.example", 65), ("a.example", 97), False),  # 'A' vs 'a': a different type
        (("a.example", 0x4142), ("a.example", 0x6162), False),
        (("a.example", 1), ("b.example", 1), False),
    ],
)
def test_reply_matches_folds_only_the_name(
    asked: tuple[str, int], answered: tuple[str, int], matches: bool
) -> None:
    packet = bytes(DNSRecord.question(asked[0], "A").pack())
    packet = packet[:-4] + asked[1].to_bytes(2, "big") + b"\x00\x01"
    question = parse_query(packet)
    assert question is not None
    reply = bytes(DNSRecord.question(answered[0], "A").reply().pack())
    reply = reply[:-4] + answered[1].to_bytes(2, "big") + b"\x00\x01"
    reply = b"\x03\x09" + reply[2:]
    assert reply_matches(reply, 0x0309, question) is matches
