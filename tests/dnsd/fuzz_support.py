"""Hostile packets and the invariants every reply must keep (shared by the fuzz tests and
`python -m bench.fuzz`, the long run).

Packets come from a seeded, structure-aware mutator: valid queries with bytes flipped, cut,
inserted or repeated, headers with any flags, labels and names at and over the RFC 1035 limits,
compression pointers (loops included), OPT and TSIG in every section, and random bytes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.tsigkeyring
from dnslib.dns import DNSBuffer

from dnsd.core.framing import MAX_MESSAGE, Deframer, FramingError, frame
from dnsd.core.wire import Decision, Drop, Forward, Reply
from tests.dnsd.core_support import query

OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
OPT_BIG = b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 4) + b"\x00\x0a\x00\x00"  # + empty cookie
A_RR = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)


def _signed() -> bytes:
    message = dns.message.make_query("web.docker.", "A", use_edns=0)
    keyring = dns.tsigkeyring.from_text({"key.example.": "MTIzNDU2Nzg5MDEyMzQ1Ng=="})
    message.use_tsig(keyring, keyname="key.example.")
    return bytes(message.to_wire())


SIGNED = _signed()
SEEDS = [
    query("web.docker."),
    query("WEB.docker.", "AAAA", edns=True),
    query("_http._tcp.web.docker.", "SRV"),
    query("1.0.0.10.in-addr.arpa.", "PTR", edns=True, payload=4096),
    query("many.docker.", edns=True, payload=512),
    query("many.docker.", "ANY", edns=True, payload=4096),
    query("many.docker.", "ANY"),
    query("example.com.", "MX"),
    query("example.com.", "HTTPS", edns=True),
    query("docker.", "SOA"),
    query("docker.", "AXFR"),
    query("nope.docker.", "TXT", edns=True, want_dnssec=True),
    SIGNED,
]


def header(flags: int, counts: tuple[int, int, int, int], qid: int) -> bytes:
    return struct.pack("!HH4H", qid, flags, *counts)


def wire_name(labels: list[bytes]) -> bytes:
    return b"".join(bytes((len(label) & 0xFF,)) + label for label in labels) + b"\x00"


def crafted(rng: random.Random) -> bytes:
    """A query built field by field, with the rules' edge cases more likely than chance."""
    sizes = [0, 1, 3, 62, 63, 64, 65, 127, 191, 200]
    labels = [b"x" * rng.choice(sizes) for _ in range(rng.randint(0, 6))]
    if rng.random() < 0.3:
        labels = [b"b" * 62] * rng.randint(3, 5)
    labels = [label for label in labels if label]
    if rng.random() < 0.5:
        labels.append(b"docker")
    qname = wire_name(labels)
    if rng.random() < 0.1:
        qname = b"\xc0" + bytes((rng.choice([0, 12, 13]),))  # pointers, loops included
    records = [rng.choice([OPT, OPT_BIG, A_RR, SIGNED[-70:]]) for _ in range(rng.randint(0, 3))]
    sections = [0, 0, 0]
    for _ in records:
        sections[rng.randrange(3)] += 1
    flags = rng.choice([0x0100, 0x0000, 0x0110, 0x2100, 0x7900, 0x8100, rng.randrange(65536)])
    qtype = rng.choice([1, 28, 33, 12, 6, 255, 251, 252, 250, 41, 65, rng.randrange(65536)])
    question = qname + struct.pack("!HH", qtype, rng.choice([1, 1, 1, 3, 255, 254]))
    qdcount = rng.choice([1, 1, 1, 0, 2])
    counts = (qdcount, sections[0], sections[1], sections[2])
    return header(flags, counts, rng.randrange(65536)) + question + b"".join(records)


def mutate(rng: random.Random, packet: bytearray) -> None:
    kind = rng.randrange(6)
    position = rng.randrange(len(packet)) if packet else 0
    if kind == 0 and packet:
        packet[position] = rng.randrange(256)
    elif kind == 1:
        del packet[position:]
    elif kind == 2:
        packet[position:position] = rng.randbytes(rng.randint(1, 8))
    elif kind == 3 and len(packet) >= 12:
        packet[2:4] = struct.pack("!H", rng.randrange(65536))  # any flags, opcode, rcode
    elif kind == 4 and len(packet) >= 12:
        packet[4:12] = struct.pack("!4H", *(rng.choice([0, 1, 2, 255]) for _ in range(4)))
    else:
        packet += rng.randbytes(rng.randint(1, 20))


def packets(count: int, seed: int) -> Iterator[bytes]:
    """A third random bytes, a third crafted queries, a third mutated valid queries."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 3 == 0:
            yield rng.randbytes(rng.choice([0, 5, 11, 12, 13, 17, 30, 64, 200, 513]))
        elif i % 3 == 1:
            yield crafted(rng)
        else:
            packet = bytearray(rng.choice(SEEDS))
            for _ in range(rng.randint(1, 4)):
                mutate(rng, packet)
            yield bytes(packet)


class InvariantBroken(AssertionError):
    """A reply (or the lack of one) broke a rule every input must keep."""


def check_udp(packet: bytes, decision: Decision | bytes, max_udp_size: int) -> None:
    """The invariants of a UDP decision (a full-path decision or hot-path reply bytes)."""
    if len(packet) < 12 or packet[2] & 0x80:
        if not isinstance(decision, Drop):
            raise InvariantBroken(f"answered a packet that must be dropped: {packet!r}")
        return
    if isinstance(decision, Drop):
        raise InvariantBroken(f"dropped a query with a header: {packet!r}")
    if isinstance(decision, Forward):
        check_forwardable(packet)
        return
    data = decision if isinstance(decision, bytes) else decision.data
    if isinstance(decision, Reply) and decision.error is not None:
        raise InvariantBroken(f"the answer path raised {decision.error!r} for {packet!r}")
    check_reply(packet, data, max_udp_size)


def check_reply(packet: bytes, data: bytes, limit: int, *, udp: bool = True) -> None:
    """ID echoed, QR set, within the limit (over UDP 512 without OPT), names <= 255 octets."""
    if data[:2] != packet[:2] or not data[2] & 0x80:
        raise InvariantBroken(f"reply does not echo the ID or lacks QR: {packet!r} -> {data!r}")
    try:
        message = dns.message.from_wire(data, keyring=False)  # names over 255 octets raise
    except dns.exception.DNSException as exc:
        raise InvariantBroken(f"reply does not parse ({exc!r}): {packet!r} -> {data!r}") from exc
    if len(data) > (limit if message.edns >= 0 or not udp else 512):
        raise InvariantBroken(f"reply of {len(data)} bytes over the UDP limit: {packet!r}")


def check_forwardable(packet: bytes) -> None:
    """A query handed to the forwarder has a question name within the limits (compression
    pointers followed, as the forwarder's own parser would)."""
    buffer = DNSBuffer(packet)
    buffer.offset = 12
    labels = buffer.decode_name().label
    if any(len(label) > 63 for label in labels):
        raise InvariantBroken(f"forwarded a label over 63 octets: {packet!r}")
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise InvariantBroken(f"forwarded a name over 255 octets: {packet!r}")


def check_deframing(rng: random.Random, messages: list[bytes]) -> None:
    """Framed `messages` cut at random points come out whole and in order; a zero-length
    frame keeps every message before it."""
    stream = b"".join(frame(m) for m in messages)
    broken_at = len(stream)
    if rng.random() < 0.3:
        broken_at = rng.randrange(len(messages) + 1)
        stream = b"".join(frame(m) for m in messages[:broken_at]) + b"\x00\x00" + stream
    deframer = Deframer()
    out: list[bytes] = []
    i = 0
    try:
        while i < len(stream):
            step = rng.randint(1, 700)
            out += deframer.feed(stream[i : i + step])
            i += step
            if deframer.pending > MAX_MESSAGE + 2:
                raise InvariantBroken("the deframer holds more than one message")
    except FramingError as error:
        out += error.complete
        if out != messages[:broken_at]:
            raise InvariantBroken("messages before a zero-length frame were lost") from None
        return
    if out != messages:
        raise InvariantBroken("deframed messages differ from those framed")
