"""The wire layer: query bytes in -> a decision (reply bytes, forward, or drop).

Pure (no sockets, no logging, no clock). It is the one place the accept rules live: too short
or QR set: drop; opcode other than QUERY: NOTIMP with only ID, opcode and QR (RFC 8906 §4);
QDCOUNT != 1, unparsable, a label over 63 or a name over 255 octets anywhere, OPT outside the
additional section, or TSIG anywhere but last: FORMERR; TSIG: NOTAUTH/BADKEY (`dnsd.core.tsig`);
AXFR/IXFR: REFUSED. It handles EDNS0 (OPT echoed, client UDP size capped), answers ANY over UDP
with one HINFO (RFC 8482), turns any exception of the answer path into SERVFAIL (returned with
the exception so the shell can log it) and truncates UDP replies itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import CLASS, EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from dnslib import RD as RawData
from dnslib.dns import DNSBuffer

from dnsd.core.answer import LocalAnswer, ZoneSettings, answer
from dnsd.core.tsig import Signature, badkey_reply, name_wire, read_signature
from registry import Snapshot

HEADER_SIZE = 12
PLAIN_UDP_SIZE = 512
TCP_LIMIT = 65535
QR, TC, RD = 0x80, 0x02, 0x01
CD = 0x10
BADVERS_HIGH = 1  # extended RCODE 16 = (1 << 4) | 0
OPCODE_QUERY = 0
CLASS_ANY = 255  # dnslib spells it '*'
MAX_LABEL = 63  # RFC 1035 §2.3.4
MAX_NAME = 255
TRANSFERS = frozenset((QTYPE.AXFR, QTYPE.IXFR))
RFC8482_HINFO = RawData(b"\x07RFC8482\x00")  # CPU "RFC8482", OS ""


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `data`. `cacheable` replies depend only on the query bytes (ID aside), the client
    view and the snapshot; `error` is the exception behind a SERVFAIL, for the shell to log."""

    data: bytes
    qtype: int
    rcode: int
    cacheable: bool = False
    rotations: int = 1
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """Not a local name: hand the query to the forwarder. `opt_size` is set iff it had OPT."""

    qtype: int
    udp_limit: int
    opt_size: int | None


@dataclass(frozen=True, slots=True)
class Drop:
    """Send nothing (a reply could be used for reflection)."""

    reason: str


Decision = Reply | Forward | Drop


@dataclass(frozen=True, slots=True)
class Edns:
    udp_size: int
    version: int
    do: bool
    has_options: bool


@dataclass(frozen=True, slots=True)
class Query:
    """An accepted query: the parsed record, its one question and its EDNS0 view."""

    record: DNSRecord
    qname: DNSLabel
    qtype: int
    qclass: int
    edns: Edns | None

    def udp_limit(self, max_udp_size: int) -> int:
        if self.edns is None:
            return PLAIN_UDP_SIZE
        return max(PLAIN_UDP_SIZE, min(self.edns.udp_size, max_udp_size))


def handle_wire(
    data: bytes,
    snapshot: Snapshot,
    settings: ZoneSettings,
    client_ip: str | None = None,
    *,
    udp: bool = True,
    rotation: int = 0,
) -> Decision:
    """Everything from bytes to a decision, with the one catch-all of the DNS core."""
    parsed = parse_query(data)
    if not isinstance(parsed, Query):
        return parsed
    try:
        return respond(parsed, snapshot, settings, client_ip, udp=udp, rotation=rotation)
    except Exception as exc:  # the catch-all: never let a bad answer kill the server
        return servfail(data, parsed, settings, exc)


def parse_query(data: bytes) -> Query | Reply | Drop:
    """Apply the accept rules; a `Query` when the packet deserves an answer."""
    if len(data) < HEADER_SIZE:
        return Drop("short")
    if data[2] & QR:
        return Drop("qr")
    if (data[2] >> 3) & 0x0F != OPCODE_QUERY:
        notimp = data[:2] + bytes((QR | (data[2] & 0x78), RCODE.NOTIMP)) + bytes(8)
        return Reply(notimp, 0, RCODE.NOTIMP)
    if data[4:6] != b"\x00\x01":
        return Reply(error_reply(data, RCODE.FORMERR), 0, RCODE.FORMERR)
    try:
        return _parse(data)
    except Exception:
        return Reply(error_reply(data, RCODE.FORMERR), 0, RCODE.FORMERR)


def _parse(data: bytes) -> Query | Reply:
    buffer = DNSBuffer(data)
    header = DNSHeader.parse(buffer)
    question = DNSQuestion.parse(buffer)
    sections = [RR.parse(buffer) for _ in range(header.a + header.auth + header.ar)]
    malformed = question_end(data) is None  # a pointer in the first name can only be bad
    if (
        malformed
        or buffer.remaining()
        or not _well_formed(question, sections, header.a + header.auth)
    ):
        return Reply(error_reply(data, RCODE.FORMERR), question.qtype, RCODE.FORMERR)
    opts = [rr for rr in sections if rr.rtype == QTYPE.OPT]
    record = DNSRecord(header, [question], [], [], [])
    edns = _edns(opts[0]) if opts else None
    query = Query(record, question.qname, question.qtype, question.qclass, edns)
    if sections and sections[-1].rtype == QTYPE.TSIG:
        return _badkey(query, read_signature(sections[-1]))
    return query


def _well_formed(question: DNSQuestion, sections: list[RR], additional_from: int) -> bool:
    """Names within RFC 1035's limits; at most one OPT, owned by the root and in the
    additional section (RFC 6891 §6.1.1); TSIG, if any, the last record (RFC 8945 §5.1)."""
    if not _name_fits(question.qname):
        return False
    opts = 0
    for i, rr in enumerate(sections):
        if not _name_fits(rr.rname):
            return False
        if rr.rtype == QTYPE.OPT:
            opts += 1
            if i < additional_from or opts > 1 or rr.rname.label:
                return False
        elif rr.rtype == QTYPE.TSIG and (i != len(sections) - 1 or i < additional_from):
            return False
    return True


def _name_fits(name: DNSLabel) -> bool:
    labels = name.label
    return all(len(label) <= MAX_LABEL for label in labels) and (
        sum(map(len, labels)) + len(labels) + 1 <= MAX_NAME
    )


def _badkey(query: Query, signature: Signature) -> Reply:
    """NOTAUTH with an unsigned BADKEY TSIG record: dnsd has no keys (RFC 8945 §5.2.2)."""
    header = query.record.header
    question = name_wire(query.qname) + struct.pack("!HH", query.qtype, query.qclass)
    opt = b"" if query.edns is None else _opt(PLAIN_UDP_SIZE)
    data = badkey_reply(header.id, header.rd, header.cd, question, opt, signature)
    return Reply(data, query.qtype, RCODE.NOTAUTH)


def _edns(opt: RR) -> Edns:
    return Edns(
        udp_size=opt.rclass,
        version=(opt.ttl >> 16) & 0xFF,
        do=bool(opt.ttl & 0x8000),
        has_options=bool(opt.rdata),
    )


def respond(
    query: Query,
    snapshot: Snapshot,
    settings: ZoneSettings,
    client_ip: str | None = None,
    *,
    udp: bool = True,
    rotation: int = 0,
) -> Reply | Forward:
    """Answer an accepted query locally, refuse it, or decide to forward it."""
    limit = query.udp_limit(settings.max_udp_size) if udp else TCP_LIMIT
    if query.edns is not None and query.edns.version != 0:
        return _reply(query, settings, LocalAnswer(RCODE.NOERROR), limit, aa=False, badvers=True)
    if query.qtype in TRANSFERS:  # no transfer ACLs: nobody may copy the zone
        return _reply(query, settings, LocalAnswer(RCODE.REFUSED), limit, aa=False)
    local = None
    if query.qclass in (CLASS.IN, CLASS_ANY):
        local = answer(query.qname, query.qtype, snapshot, settings, client_ip, rotation)
    if local is not None:
        if udp and query.qtype == QTYPE.ANY and local.answer:
            local = _minimal_any(query, settings)
        return _reply(query, settings, local, limit, aa=local.rcode != RCODE.SERVFAIL)
    if settings.recursion and query.qclass == CLASS.IN:
        opt_size = settings.max_udp_size if query.edns is not None else None
        return Forward(query.qtype, limit, opt_size)
    return _reply(query, settings, LocalAnswer(RCODE.REFUSED), limit, aa=False)


def _minimal_any(query: Query, settings: ZoneSettings) -> LocalAnswer:
    """RFC 8482 §4.2: ANY over UDP gets one synthesized HINFO, not every record (no
    amplification); the complete answer is there over TCP."""
    hinfo = RR(query.qname, QTYPE.HINFO, rdata=RFC8482_HINFO, ttl=settings.ttl)
    return LocalAnswer(RCODE.NOERROR, (hinfo,))


def _reply(
    query: Query,
    settings: ZoneSettings,
    local: LocalAnswer,
    limit: int,
    *,
    aa: bool,
    badvers: bool = False,
) -> Reply:
    qheader = query.record.header
    header = DNSHeader(
        id=qheader.id, qr=1, aa=int(aa), rd=qheader.rd, ra=int(settings.recursion),
        cd=qheader.cd, rcode=local.rcode,
    )  # fmt: skip
    record = DNSRecord(header, [DNSQuestion(query.qname, query.qtype, query.qclass)])
    record.rr, record.auth, record.ar = list(local.answer), list(local.authority), []
    record.ar.extend(local.additional)
    opt_size = None
    if query.edns is not None:
        opt_size = settings.max_udp_size
        flags = "do" if query.edns.do else ""
        ext = BADVERS_HIGH if badvers else 0
        record.ar.append(EDNS0(udp_len=opt_size, flags=flags, ext_rcode=ext))
    data = fit_udp(bytes(record.pack()), limit, opt_size)
    rcode = 16 if badvers else local.rcode
    return Reply(data, query.qtype, rcode, cacheable=not badvers, rotations=local.rotations)


def servfail(data: bytes, query: Query | None, settings: ZoneSettings, exc: Exception) -> Reply:
    """The SERVFAIL for a query whose answer path raised; never raises itself."""
    opt_size = settings.max_udp_size if query is not None and query.edns is not None else None
    return Reply(
        error_reply(data, RCODE.SERVFAIL, with_question=True, opt_size=opt_size),
        query.qtype if query is not None else 0,
        RCODE.SERVFAIL,
        error=exc,
    )


def refused(data: bytes, opt_size: int | None) -> bytes:
    """REFUSED for a query that may not be forwarded (RA clear)."""
    return error_reply(data, RCODE.REFUSED, with_question=True, opt_size=opt_size)


def error_reply(
    data: bytes, rcode: int, *, with_question: bool = False, opt_size: int | None = None
) -> bytes:
    """A reply built from the query bytes alone: ID, opcode and RD kept, QR set."""
    flags = QR | (data[2] & 0x79)  # opcode and RD
    end = question_end(data) if with_question else None
    question = data[HEADER_SIZE:end] if end is not None else b""
    arcount = 1 if opt_size is not None else 0
    header = data[:2] + bytes((flags, (data[3] & CD) | rcode))
    counts = struct.pack("!HHHH", 1 if question else 0, 0, 0, arcount)
    return header + counts + question + (_opt(opt_size) if opt_size is not None else b"")


def fit_udp(reply: bytes, limit: int, opt_size: int | None) -> bytes:
    """`reply` if it fits in `limit` bytes, else header + question (+ OPT) with TC set."""
    if len(reply) <= limit:
        return reply
    end = question_end(reply) or HEADER_SIZE
    qdcount = 1 if end > HEADER_SIZE else 0
    counts = struct.pack("!HHHH", qdcount, 0, 0, 1 if opt_size is not None else 0)
    flags = bytes((reply[2] | TC, reply[3]))
    opt = _opt(opt_size) if opt_size is not None else b""
    return reply[:2] + flags + counts + reply[HEADER_SIZE:end] + opt


def question_end(data: bytes) -> int | None:
    """Offset just past the first question (uncompressed name within the limits + type +
    class), or None."""
    i = HEADER_SIZE
    size = len(data)
    while i < size:
        length = data[i]
        if length == 0:
            end = i + 5
            return end if end <= size else None
        if length > MAX_LABEL:
            return None
        i += length + 1
        if i - HEADER_SIZE >= MAX_NAME:  # never echo a name over 255 octets
            return None
    return None


def _opt(udp_size: int) -> bytes:
    """An OPT record with no options: root owner, our UDP size, version 0."""
    return b"\x00" + struct.pack("!HHIH", QTYPE.OPT, udp_size, 0, 0)
