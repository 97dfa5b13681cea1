"""The wire layer: query bytes in -> a decision (reply bytes, forward, or drop).

The only path from bytes to a decision, and the only catch-all of the DNS core (`decide`).
Pure (no sockets, no logging, no clock). It applies the accept rules (too short or QR set:
drop; QDCOUNT != 1 or unparsable: FORMERR; opcode other than QUERY: NOTIMP), handles EDNS0
(OPT echoed, client UDP size capped; version other than 0: BADVERS), turns any exception of
the answer path into SERVFAIL (returned with the exception so the pipeline can log it) and
truncates UDP replies itself. `PLAIN_HEADERS` are the headers these rules accept with no
special handling; the fast path serves only those.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnslib import CLASS, EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSQuestion, DNSRecord
from dnslib.dns import DNSBuffer

from dnsd.core.answer import LocalAnswer, answer
from dnsd.core.packet import (
    AD,
    BADVERS,
    CD,
    HEADER_SIZE,
    MAX_MESSAGE,
    PLAIN_UDP_SIZE,
    QR,
    RD,
    error_reply,
    fit_udp,
)
from dnsd.core.request import Edns, Request
from dnsd.core.view import client_view
from dnsd.core.zone import ZoneSettings
from registry import Snapshot

OPCODE_QUERY = 0
OPCODE_SHIFT, OPCODE_BITS = 3, 0x0F
ONE_QUESTION = b"\x00\x01"
CLASS_ANY = 255  # dnslib spells it '*'
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
        return _header_error(data, RCODE.NOTIMP)
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
    opts = [rr for rr in sections if rr.rtype == QTYPE.OPT]
    if buffer.remaining() or len(opts) > 1 or (opts and str(opts[0].rname) != "."):
        return Reply(_formerr(request.data), question.qtype, RCODE.FORMERR)
    request.record = DNSRecord(header, [question], [], [], [])
    request.qname, request.qtype, request.qclass = question.qname, question.qtype, question.qclass
    request.edns = _edns(opts[0]) if opts else None
    request.limit = _limit(request, max_udp_size)
    request.opt_size = max_udp_size if request.edns is not None else None
    return None


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
    local = None
    if request.qclass in (CLASS.IN, CLASS_ANY):
        assert request.qname is not None
        local = answer(request.qname, request.qtype, snapshot, settings, request.client or None,
                       rotation)  # fmt: skip
    if local is not None:
        return _reply(request, settings, local, aa=True)
    if settings.recursion and request.qclass == CLASS.IN:
        return Forward(request.qtype, request.limit, request.opt_size, request.cacheable)
    return _reply(request, settings, LocalAnswer(RCODE.REFUSED), aa=False)


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
