"""The wire layer as tables: hostile headers, EDNS0, truncation and the SERVFAIL catch-all."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import pytest

import dnsd.core.wire
from dnsd.core.packet import fit_udp
from dnsd.core.wire import Drop, Reply, handle_wire
from tests.dnsd.core_support import (
    SETTINGS,
    answer_texts,
    crowd,
    parse,
    query,
    rcode_name,
    sample_endpoints,
    snapshot_of,
)

SNAP = snapshot_of(*sample_endpoints())
BIG = snapshot_of(*crowd(100))
GOOD = query("web.docker.")


def header(*, qid: int = 7, flags: int = 0x0100, qd: int = 1, an: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, 0, ar)


def reply_of(data: bytes, udp: bool = True) -> Reply:
    decision = handle_wire(data, SNAP, SETTINGS, udp=udp)
    assert isinstance(decision, Reply), decision
    return decision


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"", "short"),
        (b"\x00" * 11, "short"),
        (b"\x12\x34\x81\x00" + GOOD[4:], "qr"),  # a response: never answer it (reflection)
        (header(flags=0x8000) + GOOD[12:], "qr"),
    ],
)
def test_packets_that_are_dropped(packet: bytes, reason: str) -> None:
    assert handle_wire(packet, SNAP, SETTINGS) == Drop(reason)


@pytest.mark.parametrize(
    ("packet", "rcode"),
    [
        (header(qd=0), "FORMERR"),
        (header(qd=2) + GOOD[12:] + GOOD[12:], "FORMERR"),
        (header() + b"\xff\xfe\xfd", "FORMERR"),  # garbage after a valid header
        (header() + b"\x03web", "FORMERR"),  # name cut short
        (GOOD + b"trailing", "FORMERR"),
        (header(an=1) + GOOD[12:], "FORMERR"),  # claims an answer it does not carry
        (header(flags=0x1000) + GOOD[12:], "NOTIMP"),  # opcode STATUS
        (header(flags=0x2000) + GOOD[12:], "NOTIMP"),  # opcode NOTIFY
        (header(flags=0x2800) + GOOD[12:], "NOTIMP"),  # opcode UPDATE
    ],
)
def test_bad_queries_get_an_error_rcode_with_their_id(packet: bytes, rcode: str) -> None:
    decision = reply_of(packet)
    message = parse(decision.data)
    assert rcode_name(message) == rcode
    assert message.id == struct.unpack("!H", packet[:2])[0]
    assert message.flags & dns.flags.QR


def test_two_opt_records_are_formerr() -> None:
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    packet = header(ar=2) + GOOD[12:] + opt + opt
    assert rcode_name(parse(reply_of(packet).data)) == "FORMERR"


def test_an_exception_in_the_answer_path_is_servfail_with_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(dnsd.core.wire, "answer", explode)
    decision = reply_of(query("web.docker.", edns=True, qid=99))
    message = parse(decision.data)
    assert rcode_name(message) == "SERVFAIL"
    assert message.id == 99
    assert message.question[0].name.to_text() == "web.docker."
    assert message.edns == 0
    assert isinstance(decision.error, RuntimeError)


def test_opt_is_echoed_only_when_the_query_had_one() -> None:
    assert parse(reply_of(query("web.docker.", edns=True)).data).edns == 0
    assert parse(reply_of(query("web.docker.")).data).edns == -1


def test_reply_opt_advertises_our_size_and_copies_do() -> None:
    message = parse(reply_of(query("web.docker.", edns=True, want_dnssec=True)).data)
    assert message.payload == SETTINGS.max_udp_size
    assert message.ednsflags & dns.flags.DO


def test_unknown_edns_version_is_badvers() -> None:
    message = dns.message.make_query("web.docker.", "A", use_edns=1)
    reply = parse(reply_of(message.to_wire()).data)
    assert dns.rcode.to_text(reply.rcode()) == "BADVERS"
    assert not reply.answer


@pytest.mark.parametrize(
    ("edns", "payload"),
    [
        (False, 0),  # plain DNS: 512 bytes
        (True, 512),
        (True, 100),  # below 512 counts as 512
        (True, 4096),  # capped at max_udp_size (1232)
        (True, 1232),
    ],
)
def test_a_udp_reply_that_does_not_fit_is_truncated(edns: bool, payload: int) -> None:
    decision = handle_wire(query("many.docker.", edns=edns, payload=payload), BIG, SETTINGS)
    assert isinstance(decision, Reply)
    message = parse(decision.data)
    assert message.flags & dns.flags.TC
    assert message.question[0].name.to_text() == "many.docker."
    assert not message.answer
    assert (message.edns == 0) == edns
    limit = 512 if not edns else max(512, min(payload, SETTINGS.max_udp_size))
    assert len(decision.data) <= limit


def test_the_same_query_over_tcp_returns_every_record() -> None:
    decision = handle_wire(query("many.docker.", edns=True), BIG, SETTINGS, udp=False)
    assert isinstance(decision, Reply)
    message = parse(decision.data)
    assert not message.flags & dns.flags.TC
    assert len(answer_texts(message)) == 100


def test_a_larger_client_size_fits_more() -> None:
    small = snapshot_of(*crowd(40))
    plain = handle_wire(query("many.docker."), small, SETTINGS)
    bigger = handle_wire(query("many.docker.", edns=True, payload=1232), small, SETTINGS)
    assert isinstance(plain, Reply) and isinstance(bigger, Reply)
    assert parse(plain.data).flags & dns.flags.TC
    assert len(answer_texts(parse(bigger.data))) == 40


def test_fit_udp_keeps_short_replies_and_truncates_long_ones() -> None:
    decision = handle_wire(query("many.docker."), BIG, SETTINGS, udp=False)
    assert isinstance(decision, Reply)
    assert fit_udp(decision.data, 65535, None) == decision.data
    cut = fit_udp(decision.data, 512, 1232)
    message = parse(cut)
    assert message.flags & dns.flags.TC and message.edns == 0 and message.id == 4242
    assert message.flags & dns.flags.AA  # the original flags stay


def test_class_chaos_is_refused() -> None:
    message = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
    assert rcode_name(parse(reply_of(message.to_wire()).data)) == "REFUSED"


def test_rd_and_cd_are_copied_ad_is_not() -> None:
    message = dns.message.make_query("web.docker.", "A")
    message.flags |= dns.flags.CD | dns.flags.AD
    reply = parse(reply_of(message.to_wire()).data)
    assert reply.flags & dns.flags.RD and reply.flags & dns.flags.CD
    assert not reply.flags & dns.flags.AD
