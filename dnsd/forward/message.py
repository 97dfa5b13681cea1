"""Sans-IO DNS wire helpers for forwarding, working on bytes only.

Reads the question and EDNS flags of a query, checks that a reply answers the
question asked, finds a reply's TTL fields and SOA minimum, rewrites TTLs, ID
and question for a client, and builds upstream queries and error replies.
Error replies and the question's extent come from `dnsd.core.packet` (one home for
both). It must not do I/O, log, or parse whole messages with dnslib (the cache-hit path
goes through here and has to stay cheap).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from dnslib import QTYPE, RCODE

from dnsd.core.packet import HEADER_SIZE, question_end
from dnsd.core.packet import error_reply as packet_error_reply

UPSTREAM_UDP_SIZE = 1232
TYPE_OPT: int = QTYPE.OPT
TYPE_SOA: int = QTYPE.SOA
NOERROR: int = RCODE.NOERROR
NXDOMAIN: int = RCODE.NXDOMAIN
SERVFAIL: int = RCODE.SERVFAIL
REFUSED: int = RCODE.REFUSED
ERROR_RCODES: frozenset[int] = frozenset({RCODE.FORMERR, SERVFAIL, RCODE.NOTIMP, REFUSED})

FLAG_QR = 0x8000
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_AD = 0x0020
FLAG_CD = 0x0010
EDNS_DO = 0x8000

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_HEADER = struct.Struct(">HHHHHH")
_RR_FIXED = struct.Struct(">HHIH")  # type, class, ttl, rdlength

CacheKey = tuple[bytes, int, int, int]


class WireError(ValueError):
    """The peer's message is malformed."""


@dataclass(frozen=True, slots=True)
class Question:
    """The one question of a query, as it appeared on the wire."""

    name: bytes  # wire-format name, case kept
    qtype: int
    qclass: int
    end: int  # offset just past the question section
    edns: bool
    dnssec_ok: bool
    flags: int  # the query's header flags word
    key: CacheKey  # cache and coalescing key: lower-cased name, type, class, answer-shaping bits


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What the cache needs to know about an upstream reply."""

    rcode: int  # including the EDNS extended bits
    truncated: bool
    answers: int
    ttl_offsets: tuple[int, ...]  # every non-OPT record's TTL field
    ttls: tuple[int, ...]
    negative_ttl: int | None  # min(SOA TTL, SOA minimum) of an authority SOA


def skip_name(data: bytes, pos: int) -> int:
    """Offset just past the (possibly compressed) name starting at `pos`."""
    while True:
        if pos >= len(data):
            raise WireError("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > len(data):
                raise WireError("truncated compression pointer")
            return pos + 2
        if length & 0xC0:
            raise WireError("unknown label type")
        pos += 1 + length


def _records(data: bytes, pos: int, count: int) -> list[tuple[int, int, int, int]]:
    """(type, ttl offset, rdata start, rdata end) of `count` records from `pos`."""
    found = []
    for _ in range(count):
        pos = skip_name(data, pos)
        if pos + _RR_FIXED.size > len(data):
            raise WireError("record header runs past the end of the message")
        rtype, _rclass, _ttl, rdlength = _RR_FIXED.unpack_from(data, pos)
        start = pos + _RR_FIXED.size
        end = start + rdlength
        if end > len(data):
            raise WireError("record data runs past the end of the message")
        found.append((rtype, pos + 4, start, end))
        pos = end
    return found


def _question_end(data: bytes) -> int:
    if len(data) < HEADER_SIZE or _U16.unpack_from(data, 4)[0] != 1:
        raise WireError("expected exactly one question")
    end = question_end(data)
    if end is None:
        raise WireError("unreadable question")
    return end


def parse_query(data: bytes) -> Question | None:
    """The question and EDNS flags of a query, or None if the query is malformed."""
    try:
        end = _question_end(data)
        _, flags, _, ancount, nscount, arcount = _HEADER.unpack_from(data)
        edns, dnssec_ok = False, False
        for rtype, ttl_at, _, _ in _records(data, end, ancount + nscount + arcount):
            if rtype == TYPE_OPT:
                edns, dnssec_ok = True, bool(_U32.unpack_from(data, ttl_at)[0] & EDNS_DO)
    except (WireError, struct.error):
        return None
    qtype, qclass = struct.unpack_from(">HH", data, end - 4)
    name = data[HEADER_SIZE : end - 4]
    shape = (flags & (FLAG_AD | FLAG_CD)) | (1 if edns else 0) | (2 if dnssec_ok else 0)
    key = (name.lower(), qtype, qclass, shape)
    return Question(name, qtype, qclass, end, edns, dnssec_ok, flags, key)


def reply_matches(data: bytes, qid: int, question: Question) -> bool:
    """True if `data` is a reply to our query `qid` for `question` (name compared without case)."""
    if len(data) < HEADER_SIZE:
        return False
    rid, flags, qdcount = struct.unpack_from(">HHH", data)
    if rid != qid or not flags & FLAG_QR:
        return False
    if qdcount == 0:  # some servers send errors without the question
        return flags & 0x000F in ERROR_RCODES
    try:
        end = _question_end(data)
    except (WireError, struct.error):
        return False
    return end == question.end and data[HEADER_SIZE:end].lower() == (
        question.name.lower() + _U16.pack(question.qtype) + _U16.pack(question.qclass)
    )


def analyze_reply(data: bytes) -> ReplyFacts:
    """TTL fields, rcode and negative-caching TTL of a validated reply; WireError if malformed."""
    try:
        end = _question_end(data)
        _, flags, _, ancount, nscount, arcount = _HEADER.unpack_from(data)
        records = _records(data, end, ancount + nscount + arcount)
    except struct.error as exc:
        raise WireError(str(exc)) from None
    rcode, offsets, ttls, negative = flags & 0x000F, [], [], None
    for index, (rtype, ttl_at, start, stop) in enumerate(records):
        ttl = _U32.unpack_from(data, ttl_at)[0]
        if rtype == TYPE_OPT:
            rcode |= (ttl >> 24) << 4
            continue
        offsets.append(ttl_at)
        ttls.append(ttl)
        is_authority = ancount <= index < ancount + nscount
        if rtype == TYPE_SOA and is_authority and stop - start >= 22:
            minimum = _U32.unpack_from(data, stop - 4)[0]
            negative = min(ttl, minimum) if negative is None else min(negative, ttl, minimum)
    return ReplyFacts(rcode, bool(flags & FLAG_TC), ancount, tuple(offsets), tuple(ttls), negative)


def cache_ttl(facts: ReplyFacts, max_ttl: int) -> int:
    """Seconds a reply may be cached (0: do not cache). RFC 2308 for negative answers."""
    if facts.truncated:
        return 0
    if facts.rcode == NOERROR and facts.answers:
        ttl = min(facts.ttls)
    elif facts.rcode in (NOERROR, NXDOMAIN) and facts.negative_ttl is not None:
        ttl = facts.negative_ttl
    else:
        return 0
    return min(ttl, max_ttl)


def rewrite_ttls(data: bytes, offsets: tuple[int, ...], values: list[int]) -> bytes:
    """`data` with the TTL at each offset replaced."""
    out = bytearray(data)
    for offset, value in zip(offsets, values, strict=True):
        _U32.pack_into(out, offset, max(0, value))
    return bytes(out)


def for_client(reply: bytes, query: bytes, question: Question) -> bytes:
    """`reply` with the client's ID, RD bit and question bytes (the name's case as asked)."""
    flags_hi = (reply[2] & 0xFE) | (query[2] & 0x01)
    return b"".join(
        (
            query[:2],
            bytes((flags_hi,)),
            reply[3:HEADER_SIZE],
            query[HEADER_SIZE : question.end],
            reply[question.end :],
        )
    )


def upstream_query(question: Question, qid: int, name: bytes) -> bytes:
    """A fresh query for `question` under our own ID, with EDNS only if the client used it."""
    flags = FLAG_RD | (question.flags & (FLAG_AD | FLAG_CD))
    header = _HEADER.pack(qid, flags, 1, 0, 0, 1 if question.edns else 0)
    body = name + struct.pack(">HH", question.qtype, question.qclass)
    if question.edns:
        opt_ttl = EDNS_DO if question.dnssec_ok else 0
        body += b"\x00" + _RR_FIXED.pack(TYPE_OPT, UPSTREAM_UDP_SIZE, opt_ttl, 0)
    return header + body


def error_reply(query: bytes, question: Question, rcode: int, *, recursion: bool) -> bytes:
    """`packet.error_reply` for a forwarded query: question echoed, empty OPT iff it had EDNS."""
    opt_size = UPSTREAM_UDP_SIZE if question.edns else None
    return packet_error_reply(query, rcode, opt_size=opt_size, recursion=recursion)


def mixed_case(name: bytes) -> bytes:
    """`name` with the case of its letters randomised (DNS 0x20), differing from all-lower,
    all-upper and the name as given whenever it has two letters or more.

    Our upstream queries carry this spelling; seeing it come back in a client
    query means the upstream chain loops back to us.
    """
    letters = [i for i, byte in enumerate(name) if 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A]
    if len(letters) < 2:
        return name
    avoid = {name, name.lower(), name.upper()}
    while True:
        bits = secrets.randbits(len(letters))
        out = bytearray(name.lower())
        for n, index in enumerate(letters):
            if bits >> n & 1:
                out[index] -= 0x20
        if bytes(out) not in avoid:
            return bytes(out)
