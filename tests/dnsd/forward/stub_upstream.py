"""A tiny dnslib upstream DNS server on a loopback ephemeral port, controlled by the test.

Serves UDP and TCP on the same port. Answers from a table of zone lines;
unknown names get NXDOMAIN and known names without the type NODATA, both with
an SOA in authority. `behaviour` makes it delay, drop, truncate over UDP,
answer SERVFAIL/REFUSED, send a lying reply (wrong ID or wrong question)
before the real one, or forward every query to another server (a loop).
It records every query it receives. Test helper only: loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import cast

from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, A, DNSLabel, DNSRecord

from dnsd.parsers import HostPort


@dataclass
class Behaviour:
    delay: float = 0.0
    drop: bool = False
    truncate_udp: bool = False
    rcode: int | None = None  # e.g. RCODE.SERVFAIL: answer every query with it
    wrong_id_first: bool = False
    wrong_question_first: bool = False
    forward_to: HostPort | None = None
    edns_option_reply: bool = True  # echo an OPT (udp size 4096) when the query had one


@dataclass(frozen=True)
class Seen:
    transport: str
    qname: str  # as received, case kept, no trailing dot
    qtype: str


@dataclass
class StubUpstream:
    host: str = "127.0.0.1"
    soa_ttl: int = 600
    soa_minimum: int = 60
    behaviour: Behaviour = field(default_factory=Behaviour)
    records: list[RR] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None

    @property
    def address(self) -> HostPort:
        return (self.host, self.port)

    def add(self, *zone_lines: str) -> StubUpstream:
        for line in zone_lines:
            self.records.extend(RR.fromZone(line))
        return self

    def count(self, qname: str | None = None, transport: str | None = None) -> int:
        return sum(
            1
            for s in self.seen
            if (qname is None or s.qname.lower() == qname.lower().rstrip("."))
            and (transport is None or s.transport == transport)
        )

    async def start(self) -> StubUpstream:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpShell(self), local_addr=(self.host, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                transport.close()
                continue
            self._udp, self.port = transport, port
            return self
        raise RuntimeError("could not bind UDP and TCP on the same port")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    # -- answering ---------------------------------------------------------

    def answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply()
        if self.behaviour.rcode is not None:
            reply.header.rcode = self.behaviour.rcode
            return reply
        qname, qtype = request.q.qname, request.q.qtype
        matching = [r for r in self.records if r.rname == qname]
        for record in matching:
            if record.rtype == qtype or (record.rtype == QTYPE.CNAME and qtype != QTYPE.CNAME):
                reply.add_answer(record)
        if not reply.rr:
            if not matching:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(qname))
        if (
            self.behaviour.edns_option_reply
            and request.ar
            and any(r.rtype == QTYPE.OPT for r in request.ar)
        ):
            reply.add_ar(EDNS0(udp_len=4096))
        return reply

    def _soa(self, qname: DNSLabel) -> RR:
        zone = DNSLabel(qname.label[-2:]) if len(qname.label) >= 2 else qname
        rdata = SOA("ns1.example.", "hostmaster.example.", (1, 3600, 600, 86400, self.soa_minimum))
        return RR(zone, QTYPE.SOA, ttl=self.soa_ttl, rdata=rdata)

    async def respond(self, data: bytes, transport: str) -> list[bytes]:
        """The datagrams/messages to send back for `data` (in order)."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return []
        self.seen.append(
            Seen(transport, str(request.q.qname).rstrip("."), QTYPE.get(request.q.qtype))
        )
        if self.behaviour.delay:
            await asyncio.sleep(self.behaviour.delay)
        if self.behaviour.drop:
            return []
        if self.behaviour.forward_to is not None:
            relayed = await _relay(data, self.behaviour.forward_to)
            return [relayed] if relayed else []
        reply = self.answer(request)
        out = []
        if transport == "udp":
            out.extend(self._lies(request))
            if self.behaviour.truncate_udp:
                reply = request.reply()
                reply.header.tc = 1
        out.append(reply.pack())
        return out

    def _lies(self, request: DNSRecord) -> list[bytes]:
        lies = []
        if self.behaviour.wrong_id_first:
            lie = self.answer(request)
            lie.header.id = (request.header.id + 1) % 0x10000
            lie.rr = [RR(request.q.qname, QTYPE.A, ttl=300, rdata=A("6.6.6.6"))]
            lies.append(lie.pack())
        if self.behaviour.wrong_question_first:
            evil = DNSRecord.question("evil.example.", QTYPE[request.q.qtype])
            evil.header.id = request.header.id
            lie = evil.reply()
            lie.add_answer(RR("evil.example.", QTYPE.A, ttl=300, rdata=A("6.6.6.6")))
            lies.append(lie.pack())
        return lies

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = int.from_bytes(await reader.readexactly(2), "big")
            data = await reader.readexactly(size)
            for message in await self.respond(data, "tcp"):
                writer.write(len(message).to_bytes(2, "big") + message)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _UdpShell(asyncio.DatagramProtocol):
    def __init__(self, stub: StubUpstream) -> None:
        self.stub = stub
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        for message in await self.stub.respond(data, "udp"):
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(message, addr)
            await asyncio.sleep(0.01)


async def _relay(data: bytes, target: HostPort) -> bytes | None:
    """Forward `data` unchanged to `target` over UDP (like a forwarder that preserves case)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    class _Once(asyncio.DatagramProtocol):
        def datagram_received(self, reply: bytes, addr: tuple[str, int]) -> None:
            if not future.done():
                future.set_result(reply)

    transport, _ = await loop.create_datagram_endpoint(_Once, remote_addr=target)
    try:
        transport.sendto(data)
        return await asyncio.wait_for(future, 2.0)
    except TimeoutError:
        return None
    finally:
        transport.close()
