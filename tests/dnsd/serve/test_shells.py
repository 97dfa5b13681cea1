"""The UDP and TCP shells with fake transports around a real pipeline: no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import dns.message

from dnsd.core.framing import Deframer, frame
from dnsd.ops.metrics import Metrics
from dnsd.serve.pipeline import Pipeline
from dnsd.serve.tcp import TcpLimits, TcpShell
from dnsd.serve.udp import UdpShell
from registry import Resync, Store
from tests.dnsd.core_support import SETTINGS, answer_texts, rcode_name, sample_endpoints

CLIENT = ("192.0.2.9", 5000)


class FakeTransport:
    """Records what a shell writes; `peer` is the client's address."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []
        self.written = b""
        self.closed = self.aborted = False

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))

    def write(self, data: bytes) -> None:
        self.written += data

    def get_extra_info(self, name: str) -> Any:
        return CLIENT if name == "peername" else None

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def pipeline() -> tuple[Pipeline, Metrics]:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    metrics = Metrics()
    return Pipeline(store, SETTINGS, metrics), metrics


def ask(name: str, qid: int = 1) -> bytes:
    message = dns.message.make_query(name, "A")
    message.id = qid
    return bytes(message.to_wire())


def test_udp_replies_go_back_to_the_sender_and_drops_send_nothing() -> None:
    chain, metrics = pipeline()
    shell, transport = UdpShell(chain), FakeTransport()
    shell.connection_made(transport)  # type: ignore[arg-type]
    shell.datagram_received(ask("web-1.docker."), CLIENT)
    shell.datagram_received(b"\x00\x01", CLIENT)  # too short: dropped
    [(reply, addr)] = transport.sent
    assert addr == CLIENT and answer_texts(dns.message.from_wire(reply)) == ["10.0.0.1"]
    assert metrics.dropped_packets == 1


async def test_tcp_answers_pipelined_queries_in_order() -> None:
    chain, _ = pipeline()
    transport = FakeTransport()
    shell = TcpShell(chain, TcpLimits())
    shell.connection_made(transport)  # type: ignore[arg-type]
    names = ["web-1.docker.", "nope.docker.", "db.docker."]
    stream = b"".join(frame(ask(n, i)) for i, n in enumerate(names))
    shell.data_received(stream[:7])  # split anywhere: the framing reassembles
    shell.data_received(stream[7:])
    replies = [dns.message.from_wire(m) for m in Deframer().feed(transport.written)]
    assert [r.id for r in replies] == [0, 1, 2]
    assert [rcode_name(r) for r in replies] == ["NOERROR", "NXDOMAIN", "NOERROR"]
    shell.connection_lost(None)


async def test_tcp_zero_length_message_aborts_the_connection() -> None:
    chain, _ = pipeline()
    transport = FakeTransport()
    shell = TcpShell(chain, TcpLimits())
    shell.connection_made(transport)  # type: ignore[arg-type]
    shell.data_received(b"\x00\x00")
    assert transport.aborted and transport.written == b""
    shell.connection_lost(None)


async def test_tcp_connections_beyond_the_cap_are_closed_at_once() -> None:
    chain, _ = pipeline()
    limits = TcpLimits(max_connections=1)
    first, second = FakeTransport(), FakeTransport()
    shells = [TcpShell(chain, limits), TcpShell(chain, limits)]
    shells[0].connection_made(first)  # type: ignore[arg-type]
    shells[1].connection_made(second)  # type: ignore[arg-type]
    assert not first.closed and second.closed and len(limits.open) == 1
    shells[0].connection_lost(None)
    assert limits.open == set()


async def test_tcp_idle_connections_close() -> None:
    chain, _ = pipeline()
    transport = FakeTransport()
    shell = TcpShell(chain, TcpLimits(idle_timeout=0.1))
    shell.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(50):
        if transport.closed:
            break
        await asyncio.sleep(0.02)
    assert transport.closed
    shell.connection_lost(None)
