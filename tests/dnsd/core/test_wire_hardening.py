"""Issue 9's wire defects as tables: hostile or unusual query bytes in, the decision out.

Names over the limits, OPT in the wrong section, unknown opcodes, TSIG, zone transfers, ANY
over UDP, answers before the first sync, and the SOA serial. No sockets.
"""

from __future__ import annotations

import dataclasses
import struct

import dns.message
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from dnsd.core.wire import Decision, Forward, Reply, handle_wire
from registry import Resync, Snapshot
from tests.dnsd.core_support import (
    SETTINGS,
    answer_texts,
    crowd,
    endpoint,
    has_aa,
    parse,
    query,
    rcode_name,
    sample_endpoints,
    snapshot_of,
)

SNAP = snapshot_of(*sample_endpoints(), *crowd(70))
FORWARDING = dataclasses.replace(SETTINGS, recursion=True)
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
KEYRING = dns.tsigkeyring.from_text({"key.example.": "MTIzNDU2Nzg5MDEyMzQ1Ng=="})


def name(*labels: bytes) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def packet(
    qname: bytes,
    qtype: int = 1,
    *,
    flags: int = 0x0100,
    answer: bytes = b"",
    authority: bytes = b"",
    additional: bytes = b"",
    counts: tuple[int, int, int] = (0, 0, 0),
    qid: int = 0x1234,
) -> bytes:
    header = struct.pack("!HHHHHH", qid, flags, 1, *counts)
    return header + qname + struct.pack("!HH", qtype, 1) + answer + authority + additional


def decide(
    data: bytes, *, forwarding: bool = False, udp: bool = True, snap: Snapshot = SNAP
) -> Decision:
    settings = FORWARDING if forwarding else SETTINGS
    return handle_wire(data, snap, settings, udp=udp)


def reply(data: bytes, **kw: object) -> Reply:
    decision = decide(data, **kw)  # type: ignore[arg-type]
    assert isinstance(decision, Reply), decision
    return decision


# -- item 5: labels over 63 octets, names over 255 octets ---------------------


def name_of_length(octets: int, *tail: bytes) -> bytes:
    """A name of exactly `octets` octets on the wire, ending in `tail`, labels <= 63."""
    room = octets - len(name(*tail))
    labels = []
    while room > 0:
        size = min(63, room - 1) if room != 65 else 62  # never leave a 1-octet remainder
        labels.append(b"b" * size)
        room -= size + 1
    return name(*labels, *tail)


LONG_LABEL = b"a" * 64
NAME_256 = name_of_length(256, b"docker")
NAME_255_IN_ZONE = name_of_length(255, b"docker")
A_RR = struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)


def test_the_boundary_names_have_the_lengths_they_claim() -> None:
    assert [len(NAME_256), len(NAME_255_IN_ZONE), len(name_of_length(256, b"com"))] == [
        256,
        255,
        256,
    ]
    assert max(NAME_256[i] for i in range(0, 200, 64)) <= 63


@pytest.mark.parametrize("forwarding", [False, True])
@pytest.mark.parametrize(
    "data",
    [
        packet(name(LONG_LABEL, b"docker")),  # in the zone
        packet(name(b"web", LONG_LABEL, b"docker"), 28),
        packet(name(LONG_LABEL, b"example", b"com")),  # outside: was forwarded or dropped
        packet(name(LONG_LABEL)),  # a bare name
        packet(name(b"x" * 191, b"docker")),  # the largest length byte before a pointer
        packet(NAME_256),  # in the zone
        packet(name_of_length(256, b"com")),  # outside
        packet(name(b"web", b"docker"), additional=name(LONG_LABEL) + A_RR, counts=(0, 0, 1)),
        packet(name(b"web", b"docker"), answer=NAME_256 + A_RR, counts=(1, 0, 0)),
        packet(b"\xc0\x0d"),  # a compression pointer in the question: nothing before it
    ],
    ids=[
        "label64-in-zone",
        "label64-middle",
        "label64-outside",
        "label64-bare",
        "label191",
        "name256-in-zone",
        "name256-outside",
        "label64-additional",
        "name256-answer",
        "pointer-in-question",
    ],
)
def test_names_over_the_limits_are_formerr(data: bytes, forwarding: bool) -> None:
    decision = reply(data, forwarding=forwarding)
    assert decision.error is None
    message = parse(decision.data)
    assert rcode_name(message) == "FORMERR"
    assert message.id == 0x1234
    assert len(decision.data) <= 512


@pytest.mark.parametrize(
    ("data", "rcode"),
    [
        (packet(NAME_255_IN_ZONE), "NXDOMAIN"),
        (packet(name(b"a" * 63, b"docker")), "NXDOMAIN"),
    ],
)
def test_names_at_the_limits_are_answered(data: bytes, rcode: str) -> None:
    assert rcode_name(parse(reply(data).data)) == rcode


# -- item 7: OPT outside the additional section ------------------------------


@pytest.mark.parametrize(
    "data",
    [
        packet(name(b"web", b"docker"), answer=OPT, counts=(1, 0, 0)),
        packet(name(b"web", b"docker"), authority=OPT, counts=(0, 1, 0)),
        packet(name(b"example", b"com"), answer=OPT, counts=(1, 0, 0)),
    ],
    ids=["answer", "authority", "answer-outside-zone"],
)
def test_opt_outside_the_additional_section_is_formerr(data: bytes) -> None:
    assert rcode_name(parse(reply(data, forwarding=True).data)) == "FORMERR"


def test_opt_in_the_additional_section_is_edns() -> None:
    data = packet(name(b"web", b"docker"), additional=OPT, counts=(0, 0, 1))
    message = parse(reply(data).data)
    assert rcode_name(message) == "NOERROR" and message.edns == 0


# -- item 8: unknown opcodes ---------------------------------------------------

RD, TC, AA, AD, CD = 0x0100, 0x0200, 0x0400, 0x0020, 0x0010


@pytest.mark.parametrize("opcode", [1, 2, 3, 4, 5, 6, 9, 15])
@pytest.mark.parametrize("bits", [0, RD, RD | CD | AD, RD | TC | AA | CD | AD])
def test_notimp_carries_only_id_opcode_and_qr(opcode: int, bits: int) -> None:
    data = packet(name(b"web", b"docker"), flags=(opcode << 11) | bits, qid=0xBEEF)
    decision = reply(data)
    assert decision.data == b"\xbe\xef" + bytes((0x80 | opcode << 3, 4)) + bytes(8)


# -- item 9: TSIG -------------------------------------------------------------


def signed(qname: str, rdtype: str = "A", *, edns: bool = False) -> dns.message.Message:
    message = dns.message.make_query(qname, rdtype, use_edns=0 if edns else None)
    message.use_tsig(KEYRING, keyname="key.example.")
    return message


@pytest.mark.parametrize("qname", ["web.docker.", "nope.docker.", "example.com.", "docker."])
@pytest.mark.parametrize("edns", [False, True])
def test_a_signed_query_gets_notauth_badkey(qname: str, edns: bool) -> None:
    message = signed(qname, edns=edns)
    decision = reply(message.to_wire(), forwarding=True)
    assert decision.data[3] & 0x0F == 9  # NOTAUTH
    assert decision.data[:2] == message.to_wire()[:2]
    with pytest.raises(dns.tsig.PeerBadKey):  # unsigned, with TSIG error BADKEY
        dns.message.from_wire(decision.data, keyring=KEYRING, request_mac=message.mac)


def test_the_badkey_reply_is_unsigned_and_echoes_key_algorithm_and_id() -> None:
    message = signed("web.docker.")
    data = reply(message.to_wire()).data
    answer = dns.message.from_wire(data, keyring=False)  # parse without checking
    assert answer.rcode() == dns.rcode.NOTAUTH
    assert answer.keyname is not None and answer.keyname.to_text() == "key.example."
    rdata = answer.tsig[0]  # type: ignore[index]
    assert rdata.algorithm == dns.tsig.HMAC_SHA256
    assert rdata.mac == b"" and rdata.error == dns.rcode.BADKEY and rdata.other == b""
    assert rdata.original_id == message.id
    assert [q.name.to_text() for q in answer.question] == ["web.docker."]


def test_tsig_that_is_not_the_last_record_is_formerr() -> None:
    wire = signed("web.docker.").to_wire()
    arcount = struct.unpack("!H", wire[10:12])[0]
    moved = wire[:10] + struct.pack("!H", arcount + 1) + wire[12:] + OPT
    assert rcode_name(parse(reply(moved).data)) == "FORMERR"


# -- item 10: zone transfers ---------------------------------------------------


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
@pytest.mark.parametrize("qname", ["docker.", "web.docker.", "example.com."])
@pytest.mark.parametrize("udp", [True, False])
def test_zone_transfers_are_refused(rdtype: str, qname: str, udp: bool) -> None:
    data = query(qname, rdtype)
    message = parse(reply(data, forwarding=True, udp=udp).data)
    assert rcode_name(message) == "REFUSED"
    assert not message.answer


# -- item 11: ANY over UDP is minimal ----------------------------------------


@pytest.mark.parametrize("qname", ["many.docker.", "web.docker.", "docker.", "many."])
def test_any_over_udp_is_one_small_hinfo(qname: str) -> None:
    data = query(qname, "ANY", edns=True, payload=4096)
    decision = reply(data)
    message = parse(decision.data)
    assert rcode_name(message) == "NOERROR" and has_aa(message)
    assert [dns.rdatatype.to_text(r.rdtype) for r in message.answer] == ["HINFO"]
    assert answer_texts(message) == ['"RFC8482" ""']
    assert len(decision.data) < 3 * len(data)


def test_any_over_tcp_is_complete() -> None:
    message = parse(reply(query("many.docker.", "ANY"), udp=False).data)
    assert len(answer_texts(message)) == 70


def test_any_for_an_unknown_name_is_still_nxdomain() -> None:
    assert rcode_name(parse(reply(query("nope.docker.", "ANY")).data)) == "NXDOMAIN"


# -- item 14: before the first sync --------------------------------------------

PENDING = Snapshot(pending={"docker"}).apply(Resync("test", sample_endpoints()))


@pytest.mark.parametrize(
    ("qname", "rdtype", "rcode", "answers"),
    [
        ("nope.docker.", "A", "SERVFAIL", []),
        ("a.b.nope.docker.", "AAAA", "SERVFAIL", []),
        ("9.9.9.10.in-addr.arpa.", "PTR", "SERVFAIL", []),  # an address no one holds yet
        ("web-1.docker.", "A", "NOERROR", ["10.0.0.1"]),  # known names answer normally
        ("web-1.", "A", "NOERROR", ["10.0.0.1"]),
        ("1.0.0.10.in-addr.arpa.", "PTR", "NOERROR", ["web-1.docker."]),
        ("docker.", "NS", "NOERROR", ["ns.docker."]),
    ],
)
def test_unknown_names_are_not_denied_while_a_source_is_pending(
    qname: str, rdtype: str, rcode: str, answers: list[str]
) -> None:
    message = parse(reply(query(qname, rdtype), snap=PENDING).data)
    assert rcode_name(message) == rcode
    assert answer_texts(message) == answers
    if rcode == "SERVFAIL":
        assert not has_aa(message) and not message.authority


def test_not_local_names_still_go_to_the_forwarder_while_pending() -> None:
    assert isinstance(decide(query("example.com."), forwarding=True, snap=PENDING), Forward)


def test_after_the_sync_unknown_names_are_nxdomain_again() -> None:
    synced = PENDING.apply(Resync("docker", (endpoint("new", "10.7.7.7", source="docker"),)))
    assert rcode_name(parse(reply(query("nope.docker."), snap=synced).data)) == "NXDOMAIN"
    assert answer_texts(parse(reply(query("new.docker."), snap=synced).data)) == ["10.7.7.7"]


# -- item 15: the SOA serial is the registry's change stamp ---------------------


@pytest.mark.parametrize(
    ("changed_at", "serial"),
    [(1_795_850_568, 1_795_850_568), (2**32 + 5, 5)],  # RFC 1982: wraps modulo 2**32
)
def test_the_soa_serial_is_the_second_of_the_last_change(changed_at: int, serial: int) -> None:
    snapshot = Snapshot(changed_at=changed_at).apply(Resync("test", sample_endpoints()))
    message = parse(reply(query("docker.", "SOA"), snap=snapshot).data)
    assert next(iter(message.answer[0])).serial == serial


# -- beyond the list: registry names too long for the zone ------------------------

LONG_KEY = ".".join(["a" * 60] * 4) + ".bbbbbbbb"  # 252 characters: a valid key, but
# "<key>.docker." takes 261 octets


@pytest.mark.parametrize(
    ("qname", "rdtype"),
    [("4.4.4.10.in-addr.arpa.", "PTR"), ("_http._tcp.short.docker.", "SRV")],
)
def test_a_registry_name_too_long_for_the_zone_is_left_out_not_servfail(
    qname: str, rdtype: str
) -> None:
    from registry import Port

    long_one = endpoint(LONG_KEY, "10.4.4.4", keys=("short",), ports=(Port(80, "tcp", "http"),))
    decision = reply(query(qname, rdtype), snap=snapshot_of(long_one))
    assert decision.error is None
    message = parse(decision.data)
    assert rcode_name(message) == "NOERROR" and not message.answer
