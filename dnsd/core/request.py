"""The one per-query object: a query's bytes, who asked, how, and what the wire layer read.

A `Request` is made once when a query misses the fast path's encoded replies (hits never
allocate one). The pipeline sets the transport facts (`data`, `client`, `udp`, `view`);
`dnsd.core.wire.accept` fills the question, EDNS0 and the reply skeleton (`limit`,
`opt_size`) exactly once, and every later step reads them from here. It must not parse,
answer or do I/O itself.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from dnslib import DNSLabel, DNSRecord


@dataclass(frozen=True, slots=True)
class Edns:
    """The query's OPT record."""

    udp_size: int
    version: int
    do: bool
    has_options: bool


class Request:
    """One query in flight. Question fields are set by `wire.accept` (None before)."""

    __slots__ = (
        "client",
        "data",
        "edns",
        "limit",
        "opt_size",
        "qclass",
        "qname",
        "qtype",
        "record",
        "udp",
        "view",
    )

    def __init__(
        self, data: bytes, client: str = "", *, udp: bool = True, view: Hashable = None
    ) -> None:
        self.data = data
        self.client = client  # the client's address ('' when unknown)
        self.udp = udp
        self.view = view  # which answers this client sees (`dnsd.core.view`)
        self.record: DNSRecord | None = None  # header + question, as dnslib read them
        self.qname: DNSLabel | None = None  # the question's name, case as asked
        self.qtype = 0
        self.qclass = 0
        self.edns: Edns | None = None
        self.limit = 0  # the largest reply this client takes over this transport
        self.opt_size: int | None = None  # the UDP size our OPT advertises; None: no OPT

    @property
    def cacheable(self) -> bool:
        """False when the query carries EDNS options (cookies...), which differ per client."""
        return self.edns is None or not self.edns.has_options
