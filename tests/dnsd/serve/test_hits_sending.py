"""Replies the kernel refuses or cannot take yet, with fast-path hits answered in C in the same
batch (real loopback sockets): only the refused datagram is lost, the rest keeps its order; and
tables the extension cannot read hand the socket over to the Python path.
"""

from __future__ import annotations

import asyncio
import errno

import dns.message
import pytest

from dnsd.ops.metrics import Metrics
from dnsd.serve.batch import BatchedDatagramTransport, BatchIO, bind_batched, binding
from dnsd.serve.pipeline import Pipeline
from dnsd.serve.udp import UdpShell
from registry import Resync, Store
from tests.dnsd.core_support import SETTINGS, sample_endpoints
from tests.dnsd.serve.hits_support import (
    HOST,
    SENTINEL,
    SENTINEL_ID,
    client_socket,
    make_query,
    read_until,
)

FACTORY = binding()
pytestmark = pytest.mark.skipif(FACTORY is None, reason="recvmmsg extension not built")


def ids(replies: list[bytes]) -> list[int]:
    return [int.from_bytes(r[:2], "big") for r in replies]


class Redirecting(asyncio.DatagramProtocol):
    """The UDP shell's job for misses, but replies to names starting "refuse" go to the
    broadcast address (the kernel refuses that one datagram: EACCES)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.errors: list[OSError] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        reply = self.pipeline.handle(data, addr[0], True)
        if isinstance(reply, bytes):
            refuse = b"refuse" in data
            self.transport.sendto(reply, ("255.255.255.255", addr[1]) if refuse else addr)

    def error_received(self, exc: Exception) -> None:
        assert isinstance(exc, OSError)
        self.errors.append(exc)


class FirstSendStalls:
    """The real batch, except that its first prepared send says EAGAIN (a full socket buffer)."""

    def __init__(self, fd: int, count: int, size: int) -> None:
        assert FACTORY is not None
        self.real = FACTORY(fd, count, size)
        self.stalled = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def send_prepared(self, start: int) -> tuple[int, int]:
        if not self.stalled:
            self.stalled += 1
            return 0, errno.EAGAIN
        return self.real.send_prepared(start)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("stall", [False, True], ids=["refused-reply", "eagain"])
async def test_send_failures_cost_only_their_datagram_and_keep_order(stall: bool) -> None:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    pipeline = Pipeline(store, SETTINGS, Metrics())
    protocol = Redirecting(pipeline)
    stalling: list[FirstSendStalls] = []

    def factory(fd: int, count: int, size: int) -> BatchIO:
        assert FACTORY is not None
        if not stall:
            return FACTORY(fd, count, size)
        stalling.append(FirstSendStalls(fd, count, size))
        return stalling[-1]  # type: ignore[return-value]

    loop = asyncio.get_running_loop()
    transport = bind_batched(
        loop,
        factory,
        protocol,
        HOST,
        0,
        32,
        tables=pipeline.hit_tables,
    )
    port = transport.get_extra_info("sockname")[1]
    sock = client_socket(HOST)
    try:
        got: list[bytes] = []
        sock.sendto(SENTINEL, (HOST, port))  # fills the table
        await read_until(sock, got, ())
        burst = [
            make_query("web-1.docker.", 1),
            make_query("refuse.docker.", 2),  # a miss whose reply the kernel refuses
            make_query("WEB-1.docker.", 3),
            make_query("refuse-too.docker.", 4),
            make_query("web-1.docker.", 5),
        ]
        for data in [*burst, SENTINEL]:
            sock.sendto(data, (HOST, port))
        got.clear()
        await read_until(sock, got, ())
        assert ids(got) == [1, 3, 5, SENTINEL_ID]
        assert dns.message.from_wire(got[1]).question[0].name.to_text() == "WEB-1.docker."
        assert isinstance(transport, BatchedDatagramTransport) and transport.served == 4
        assert [e.errno for e in protocol.errors] == [errno.EACCES, errno.EACCES]
        # with a stall, all of it waited for writability, then went out in order from the backlog
        assert [s.stalled for s in stalling] == ([1] if stall else [])
    finally:
        transport.close()
        sock.close()
        pipeline.fast.close()


async def test_tables_the_extension_cannot_read_hand_over_to_the_python_path() -> None:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    pipeline = Pipeline(store, SETTINGS, Metrics())
    assert FACTORY is not None
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    shell = UdpShell(pipeline)
    transport = bind_batched(loop, FACTORY, shell, HOST, 0, 32, tables=lambda: ("not", "tables"))
    port = transport.get_extra_info("sockname")[1]
    sock = client_socket(HOST)
    try:
        sock.sendto(make_query("web-1.docker.", 1), (HOST, port))  # stays queued: Python answers
        got: list[bytes] = []
        sock.sendto(SENTINEL, (HOST, port))
        await read_until(sock, got, ())
        assert ids(got) == [1, SENTINEL_ID] and transport.served == 0
        assert [type(e["exception"]) for e in errors] == [TypeError]
    finally:
        loop.set_exception_handler(None)
        transport.close()
        sock.close()
        pipeline.fast.close()
