"""TSIG without keys (RFC 8945): how a signed query is answered by a server that has none.

dnsd holds no TSIG keys, so every signed query gets RCODE NOTAUTH with an unsigned TSIG record
carrying error BADKEY (§5.2.2); the record echoes the key name, the algorithm, the time signed,
the fudge and the original ID, with an empty MAC (§5.3.2). Pure: parsed records in, bytes out.
It must not verify or compute MACs, and it never reads a clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, DNSLabel

BADKEY = 17
CLASS_ANY = 255
_FIXED = struct.Struct("!6sHH")  # time signed (48 bits), fudge, MAC size
_TAIL = struct.Struct("!HHH")  # original ID, error, other length


@dataclass(frozen=True, slots=True)
class Signature:
    """What a BADKEY reply echoes from the query's TSIG record (names in wire form)."""

    key: bytes
    algorithm: bytes
    time_signed: bytes
    fudge: int
    original_id: int


def read_signature(rr: RR) -> Signature:
    """The TSIG record's fields; ValueError when its RDATA is malformed (the caller: FORMERR)."""
    if rr.rclass != CLASS_ANY or rr.ttl != 0:
        raise ValueError("TSIG must be class ANY with TTL 0")
    rdata = bytes(rr.rdata.data)
    algorithm_end = _name_end(rdata)
    time_signed, fudge, mac_size = _FIXED.unpack_from(rdata, algorithm_end)
    tail = algorithm_end + _FIXED.size + mac_size
    original_id, _, other_size = _TAIL.unpack_from(rdata, tail)
    if tail + _TAIL.size + other_size != len(rdata):
        raise ValueError("TSIG RDATA length does not add up")
    return Signature(name_wire(rr.rname), rdata[:algorithm_end], time_signed, fudge, original_id)


def badkey_reply(
    qid: int, rd: int, cd: int, question: bytes, opt: bytes, signature: Signature
) -> bytes:
    """A NOTAUTH reply: header (QUERY; RD and CD copied), the question, the OPT record if the
    query had one, and the unsigned BADKEY TSIG record last."""
    flags = 0x80 | (0x01 if rd else 0)
    header = struct.pack("!HBB", qid, flags, (0x10 if cd else 0) | RCODE.NOTAUTH)
    counts = struct.pack("!HHHH", 1, 0, 0, 2 if opt else 1)
    return header + counts + question + opt + badkey_record(signature)


def badkey_record(signature: Signature) -> bytes:
    """The unsigned TSIG record of a BADKEY reply (MAC size 0, no other data)."""
    rdata = (
        signature.algorithm
        + _FIXED.pack(signature.time_signed, signature.fudge, 0)
        + _TAIL.pack(signature.original_id, BADKEY, 0)
    )
    return signature.key + struct.pack("!HHIH", QTYPE.TSIG, CLASS_ANY, 0, len(rdata)) + rdata


def name_wire(label: DNSLabel) -> bytes:
    """`label` as an uncompressed wire name."""
    return b"".join(bytes((len(part),)) + part for part in label.label) + b"\x00"


def _name_end(data: bytes) -> int:
    """Offset past an uncompressed name at the start of `data` (RFC 8945: no compression)."""
    i = 0
    while data[i]:
        if data[i] > 63:
            raise ValueError("compressed or oversized label in a TSIG algorithm name")
        i += data[i] + 1
    return i + 1
