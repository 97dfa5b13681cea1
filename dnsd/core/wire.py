"""The wire layer: query bytes in -> a decision (reply bytes, forward, or drop).

The only path from bytes to a decision, and the only catch-all of the DNS core (`decide`).
Pure (no sockets, no logging, no clock). It is the one place the accept rules live: too short
or QR set: drop; opcode other than QUERY: NOTIMP with only ID, opcode and QR (RFC 8906 §4);
QDCOUNT != 1, unparsable, a label over 63 or a name over 255 octets anywhere, a pointer in the
question name, OPT outside the additional section, or TSIG anywhere but last: FORMERR; TSIG:
NOTAUTH/BADKEY (`dnsd.core.tsig`); AXFR/IXFR: REFUSED. It handles EDNS0 (OPT echoed, client UDP
size capped; version other than 0: BADVERS), answers ANY over UDP with one HINFO (RFC 8482),
turns any exception of the answer path into SERVFAIL (returned with the exception so the
pipeline can log it) and truncates UDP replies itself. `PLAIN_HEADERS` are the headers these
rules accept with no special handling; the fast path serves only those.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import CLASS, EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from dnslib import RD as RawData
from dnslib.dns import DNSBuffer

from dnsd.core.answer import LocalAnswer, answer
from dnsd.core.packet import (
    AD,
    BADVERS,
    CD,
    HEADER_SIZE,
    MAX_LABEL,
    MAX_MESSAGE,
    MAX_NAME,
    PLAIN_UDP_SIZE,
    QR,
    RD,
    error_reply,
    fit_udp,
    opt_record,
    question_end,
)
from dnsd.core.request import Edns, Request
from dnsd.core.tsig import Signature, badkey_reply, name_wire, read_signature
from dnsd.core.view import client_view
from dnsd.core.zone import ZoneSettings
from registry import ClientView, Snapshot

OPCODE_QUERY = 0
OPCODE_SHIFT, OPCODE_BITS = 3, 0x0F
ONE_QUESTION = b"\x00\x01"
CLASS_ANY = 255  # dnslib spells it '*'
OPCODE_MASK = 0x78  # the opcode bits of the header's third byte
TRANSFERS = frozenset((QTYPE.AXFR, QTYPE.IXFR))
RFC8482_HINFO = RawData(b"\x07RFC8482\x00")  # CPU "RFC8482", OS ""
BADVERS_HIGH = BADVERS >> 4  # the extended RCODE's upper bits, carried in the OPT
EDNS_VERSION_SHIFT, EDNS_DO = 16, 0x8000
# Headers (bytes 2-12) of plain queries: QUERY, RD/AD/CD only, one question, no answer or
# authority records, at most one additional (an OPT). Anything else takes the full rules.
PLAIN_HEADERS = frozenset(
    bytes((flags, bits, 0, 1, 0, 0, 0, 0, 0, arcount))
    for flags in (0, RD)
    for bits in (0, CD, AD, AD | CD)
    for arcount in (0, 1)
)


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `data`. `cacheable` replies depend only on the query bytes (ID aside), the client
    view and the snapshot; `error` is the exception behind a SERVFAIL, for the pipeline to log."""

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
    cacheable: bool = True


@dataclass(frozen=True, slots=True)
class Drop:
    """Send nothing (a reply could be used for reflection)."""

    reason: str


Decision = Reply | Forward | Drop


def handle_wire(
    data: bytes,
    snapshot: Snapshot,
    settings: ZoneSettings,
    client_ip: str | None = None,
    *,
    udp: bool = True,
    rotation: int = 0,
) -> Decision:
    """Bytes to a decision for one query (a `Request` made here; the pipeline makes its own)."""
    client = client_ip or ""
    request = Request(data, client, udp=udp, view=client_view(snapshot, client))
    return decide(request, snapshot, settings, rotation)


def decide(
    request: Request, snapshot: Snapshot, settings: ZoneSettings, rotation: int = 0
) -> Decision:
    """Everything from a request's bytes to a decision, with the one catch-all of the core."""
    refusal = accept(request, settings.max_udp_size)
    if refusal is not None:
        return refusal
    try:
        return respond(request, snapshot, settings, rotation)
    except Exception as exc:  # the catch-all: never let a bad answer kill the server
        return servfail(request, settings, exc)


def accept(request: Request, max_udp_size: int) -> Reply | Drop | None:
    """Apply the accept rules and fill the request's question; None when it deserves an answer."""
    data = request.data
    if len(data) < HEADER_SIZE:
        return Drop("short")
    if data[2] & QR:
        return Drop("qr")
    if (data[2] >> OPCODE_SHIFT) & OPCODE_BITS != OPCODE_QUERY:
        notimp = data[:2] + bytes((QR | (data[2] & OPCODE_MASK), RCODE.NOTIMP)) + bytes(8)
        return Reply(notimp, 0, RCODE.NOTIMP)
    if data[4:6] != ONE_QUESTION:
        return _header_error(data, RCODE.FORMERR)
    try:
        return _parse(request, max_udp_size)
    except Exception:
        return _header_error(data, RCODE.FORMERR)


def _header_error(data: bytes, rcode: int) -> Reply:
    return Reply(error_reply(data, rcode, with_question=False), 0, rcode)


def _parse(request: Request, max_udp_size: int) -> Reply | None:
    buffer = DNSBuffer(request.data)
    header = DNSHeader.parse(buffer)
    question = DNSQuestion.parse(buffer)
    sections = [RR.parse(buffer) for _ in range(header.a + header.auth + header.ar)]
    malformed = question_end(request.data) is None  # a pointer in the first name can only be bad
    if (
        malformed
        or buffer.remaining()
        or not _well_formed(question, sections, header.a + header.auth)
    ):
        return Reply(_formerr(request.data), question.qtype, RCODE.FORMERR)
    opts = [rr for rr in sections if rr.rtype == QTYPE.OPT]
    request.record = DNSRecord(header, [question], [], [], [])
    request.qname, request.qtype, request.qclass = question.qname, question.qtype, question.qclass
    request.edns = _edns(opts[0]) if opts else None
    request.limit = _limit(request, max_udp_size)
    request.opt_size = max_udp_size if request.edns is not None else None
    if sections and sections[-1].rtype == QTYPE.TSIG:
        return _badkey(request, read_signature(sections[-1]))
    return None


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


def _badkey(request: Request, signature: Signature) -> Reply:
    """NOTAUTH with an unsigned BADKEY TSIG record: dnsd has no keys (RFC 8945 §5.2.2)."""
    assert request.record is not None and request.qname is not None
    header = request.record.header
    question = name_wire(request.qname) + struct.pack("!HH", request.qtype, request.qclass)
    opt = b"" if request.edns is None else opt_record(PLAIN_UDP_SIZE)
    data = badkey_reply(header.id, header.rd, header.cd, question, opt, signature)
    return Reply(data, request.qtype, RCODE.NOTAUTH)


def _formerr(data: bytes) -> bytes:
    return error_reply(data, RCODE.FORMERR, with_question=False)


def _edns(opt: RR) -> Edns:
    return Edns(
        udp_size=opt.rclass,
        version=(opt.ttl >> EDNS_VERSION_SHIFT) & 0xFF,
        do=bool(opt.ttl & EDNS_DO),
        has_options=bool(opt.rdata),
    )


def _limit(request: Request, max_udp_size: int) -> int:
    if not request.udp:
        return MAX_MESSAGE
    if request.edns is None:
        return PLAIN_UDP_SIZE
    return max(PLAIN_UDP_SIZE, min(request.edns.udp_size, max_udp_size))


def respond(
    request: Request, snapshot: Snapshot, settings: ZoneSettings, rotation: int = 0
) -> Reply | Forward:
    """Answer an accepted request locally, refuse it, or decide to forward it."""
    if request.edns is not None and request.edns.version != 0:
        return _reply(request, settings, LocalAnswer(RCODE.NOERROR), aa=False, badvers=True)
    if request.qtype in TRANSFERS:  # no transfer ACLs: nobody may copy the zone
        return _reply(request, settings, LocalAnswer(RCODE.REFUSED), aa=False)
    local = None
    if request.qclass in (CLASS.IN, CLASS_ANY):
        assert request.qname is not None
        view = request.view if isinstance(request.view, ClientView) else None
        local = answer(request.qname, request.qtype, snapshot, settings, request.client or None,
                       rotation, view)  # fmt: skip
    if local is not None:
        if request.udp and request.qtype == QTYPE.ANY and local.answer:
            local = _minimal_any(request, settings)
        return _reply(request, settings, local, aa=local.rcode != RCODE.SERVFAIL)
    if settings.recursion and request.qclass == CLASS.IN:
        return Forward(request.qtype, request.limit, request.opt_size, request.cacheable)
    return _reply(request, settings, LocalAnswer(RCODE.REFUSED), aa=False)


def _minimal_any(request: Request, settings: ZoneSettings) -> LocalAnswer:
    """RFC 8482 §4.2: ANY over UDP gets one synthesized HINFO, not every record (no
    amplification); the complete answer is there over TCP."""
    hinfo = RR(request.qname, QTYPE.HINFO, rdata=RFC8482_HINFO, ttl=settings.ttl)
    return LocalAnswer(RCODE.NOERROR, (hinfo,))


def _reply(
    request: Request, settings: ZoneSettings, local: LocalAnswer, *, aa: bool, badvers: bool = False
) -> Reply:
    assert request.record is not None
    qheader = request.record.header
    header = DNSHeader(
        id=qheader.id, qr=1, aa=int(aa), rd=qheader.rd, ra=int(settings.recursion),
        cd=qheader.cd, rcode=local.rcode,
    )  # fmt: skip
    record = DNSRecord(header, [DNSQuestion(request.qname, request.qtype, request.qclass)])
    record.rr, record.auth, record.ar = list(local.answer), list(local.authority), []
    record.ar.extend(local.additional)
    if request.edns is not None:
        flags = "do" if request.edns.do else ""
        ext = BADVERS_HIGH if badvers else 0
        record.ar.append(EDNS0(udp_len=request.opt_size, flags=flags, ext_rcode=ext))
    data = fit_udp(bytes(record.pack()), request.limit, request.opt_size)
    rcode = BADVERS if badvers else local.rcode
    cacheable = not badvers and request.cacheable
    return Reply(data, request.qtype, rcode, cacheable=cacheable, rotations=local.rotations)


def servfail(request: Request, settings: ZoneSettings, exc: Exception) -> Reply:
    """The SERVFAIL for a request whose answer path raised; never raises itself."""
    data = error_reply(
        request.data, RCODE.SERVFAIL, opt_size=request.opt_size, recursion=settings.recursion
    )
    return Reply(data, request.qtype, RCODE.SERVFAIL, error=exc)
