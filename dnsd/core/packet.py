"""Encoded DNS messages as bytes: header bits, the question's extent, error replies, truncation.

The one home of the rules every layer applies to raw bytes: where the (uncompressed) question
ends, how an error reply is built from a query (SERVFAIL, REFUSED, FORMERR, NOTIMP all come from
`error_reply`), and how a UDP reply that does not fit is truncated. Used by the wire layer, the
fast path, the pipeline and the forwarder. It must not parse whole messages (no dnslib), look at
the registry, or do I/O.
"""

from __future__ import annotations

import struct

from dnslib import QTYPE

HEADER_SIZE = 12
PLAIN_UDP_SIZE = 512  # RFC 1035: a UDP reply without EDNS0
MAX_MESSAGE = 65535  # the largest message TCP can frame
QR, TC, RD = 0x80, 0x02, 0x01  # in the header's third byte
CD, AD = 0x10, 0x20  # in the header's fourth byte
RA = 0x80  # in the header's fourth byte
OPCODE_RD_MASK = 0x79  # opcode and RD in the third byte
RCODE_MASK = 0x0F
BADVERS = 16  # extended RCODE (RFC 6891); dnslib has no name for it
QUESTION_FIXED = 4  # qtype and qclass after the name
MAX_LABEL = 63


def name_end(data: bytes) -> int | None:
    """Offset of the zero byte that ends the first question's (uncompressed) name, or None.

    The one walk over the question name; the fast path keys its table on what follows.
    """
    i = HEADER_SIZE
    size = len(data)
    while i < size:
        length = data[i]
        if length == 0:
            return i
        if length > MAX_LABEL:
            return None
        i += length + 1
    return None


def question_end(data: bytes) -> int | None:
    """Offset just past the first question (uncompressed name + type + class), or None."""
    end = name_end(data)
    if end is None or end + 1 + QUESTION_FIXED > len(data):
        return None
    return end + 1 + QUESTION_FIXED


def rcode_of(reply: bytes) -> int:
    """The header's (4-bit) response code."""
    return reply[3] & RCODE_MASK


def error_reply(
    data: bytes,
    rcode: int,
    *,
    with_question: bool = True,
    opt_size: int | None = None,
    recursion: bool = False,
) -> bytes:
    """A reply built from the query bytes alone: ID, opcode, RD and CD kept, QR set.

    The question is echoed when `with_question` and readable; an empty OPT advertising
    `opt_size` is added when given (set it exactly when the query had OPT); RA when `recursion`.
    """
    flags = QR | (data[2] & OPCODE_RD_MASK)
    end = question_end(data) if with_question else None
    question = data[HEADER_SIZE:end] if end is not None else b""
    low = (data[3] & CD) | (rcode & RCODE_MASK) | (RA if recursion else 0)
    counts = struct.pack("!HHHH", 1 if question else 0, 0, 0, 0 if opt_size is None else 1)
    opt = opt_record(opt_size) if opt_size is not None else b""
    return data[:2] + bytes((flags, low)) + counts + question + opt


def fit_udp(reply: bytes, limit: int, opt_size: int | None) -> bytes:
    """`reply` if it fits in `limit` bytes, else header + question (+ OPT) with TC set."""
    if len(reply) <= limit:
        return reply
    end = question_end(reply) or HEADER_SIZE
    qdcount = 1 if end > HEADER_SIZE else 0
    counts = struct.pack("!HHHH", qdcount, 0, 0, 1 if opt_size is not None else 0)
    flags = bytes((reply[2] | TC, reply[3]))
    opt = opt_record(opt_size) if opt_size is not None else b""
    return reply[:2] + flags + counts + reply[HEADER_SIZE:end] + opt


def opt_record(udp_size: int, ttl: int = 0) -> bytes:
    """An OPT record with no options: root owner, `udp_size`, extended flags in `ttl`."""
    return b"\x00" + struct.pack("!HHIH", QTYPE.OPT, udp_size, ttl, 0)


def question_of(data: bytes) -> tuple[str, int] | None:
    """The first question's name (as text, case kept) and type, or None if unreadable."""
    end = question_end(data)
    if end is None:
        return None
    labels, i = [], HEADER_SIZE
    while data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]].decode("ascii", "backslashreplace"))
        i += data[i] + 1
    qtype: int = struct.unpack_from("!H", data, end - QUESTION_FIXED)[0]
    return ".".join(labels) + ".", qtype
